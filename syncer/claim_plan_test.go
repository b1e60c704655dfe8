package syncer

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/brevosync/brevosync/sql/schematest"
)

// workIndexRows sums the rows a plan read from the work index, over every
// loop of every node that scans it.
func workIndexRows(node map[string]any) float64 {
	var n float64
	if node["Index Name"] == "contacts_brevo_work_idx" {
		rows, _ := node["Actual Rows"].(float64)
		loops, _ := node["Actual Loops"].(float64)
		n += rows * loops
	}
	if kids, ok := node["Plans"].([]any); ok {
		for _, k := range kids {
			if m, ok := k.(map[string]any); ok {
				n += workIndexRows(m)
			}
		}
	}
	return n
}

// TestClaimReadsItsBatchNotTheBacklog: right after a large selection the
// statistics say nothing waits; a claim of 100 must still read about 100
// entries of the work index, not every waiting row (the family lookup went
// through the work index once per claim, draining 10,000 contacts at 530/s).
func TestClaimReadsItsBatchNotTheBacklog(t *testing.T) {
	t.Parallel()
	const n, batch = 10000, 100
	pool := schematest.NewPool(t)
	ctx := t.Context()
	for _, q := range []string{
		`INSERT INTO contacts (email, name) SELECT 'p' || i || '@example.com', 'Plan ' || i FROM generate_series(1, $1) AS i`,
		`VACUUM ANALYZE contacts`, // at rest: nothing waits, as far as the statistics know
		`UPDATE contacts SET brevo_sync_status = 'Selected', brevo_processing_status = 'Queued'`,
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, n)
		}
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, s := range []string{"enable_bitmapscan"} {
			if _, err := tx.Exec(ctx, "SET LOCAL "+s+" = "+SessionSettings[s]); err != nil {
				return err
			}
		}
		var raw []byte
		if err := tx.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+claimSQL, batch, newToken(), int64(60000), nil).Scan(&raw); err != nil {
			return err
		}
		var out []struct {
			Plan map[string]any `json:"Plan"`
		}
		if err := json.Unmarshal(raw, &out); err != nil || len(out) == 0 {
			t.Fatalf("explain output: %v", err)
		}
		if got := workIndexRows(out[0].Plan); got > 3*batch {
			t.Errorf("a claim of %d read %.0f entries of the work index (of %d waiting); want about %d\n%s", batch, got, n, batch, raw)
		}
		return errRollback
	})
	if err != nil && err != errRollback {
		t.Fatal(err)
	}
}
