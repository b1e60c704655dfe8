package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
)

// Plan is how Postgres runs one of the syncer's statements, measured with
// EXPLAIN ANALYZE.
type Plan struct {
	Statement   string  `json:"statement"`
	ExecutionMs float64 `json:"execution_ms"`
	// UsesIndex is false when the plan scans the contacts table
	// sequentially.
	UsesIndex bool   `json:"uses_index"`
	Text      string `json:"-"`
}

// Explain runs the claim (of batch rows), a finalize, the next-due query,
// the rescue of expired claims and the sweep's due count under EXPLAIN ANALYZE, in a
// transaction that is rolled back: nothing changes. `brevosync bench` uses
// it to show that the hot statements stay on the indexes of a large table.
func Explain(ctx context.Context, db *pgxpool.Pool, batch int) ([]Plan, error) {
	stmts := []struct {
		name string
		sql  string
		args []any
	}{
		{"claim", claimSQL, []any{batch, newToken(), time.Minute.Milliseconds(), nil}},
		{"finalize", finalizeTouched, finalizeArgs(batch)},
		{"next_due", nextDueSQL, nil},
		{"rescue", rescueSQL, nil},
		{"sweep_due", sweepDueSQL, []any{SweepDueCap}},
	}
	var plans []Plan
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		for _, s := range stmts {
			var raw []byte
			if err := tx.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+s.sql, s.args...).Scan(&raw); err != nil {
				return fmt.Errorf("explain %s: %w", s.name, err)
			}
			var out []struct {
				Plan          map[string]any `json:"Plan"`
				ExecutionTime float64        `json:"Execution Time"`
			}
			if err := json.Unmarshal(raw, &out); err != nil || len(out) == 0 {
				return fmt.Errorf("explain %s: unexpected output: %w", s.name, err)
			}
			plans = append(plans, Plan{
				Statement:   s.name,
				ExecutionMs: out[0].ExecutionTime,
				UsesIndex:   !seqScansContacts(out[0].Plan),
				Text:        string(raw),
			})
		}
		return errRollback
	})
	if err != nil && !errors.Is(err, errRollback) {
		return nil, err
	}
	return plans, nil
}

var errRollback = errors.New("rollback")

// finalizeArgs are the arguments of a finalize of n outcomes for rows that
// do not exist: it plans and runs like a real one, and changes nothing.
func finalizeArgs(n int) []any {
	ids, tokens := make([]string, n), make([]string, n)
	strs, keep := make([]string, n), make([]bool, n)
	ints, bigs := make([]int32, n), make([]int64, n)
	for i := range n {
		ids[i], tokens[i] = newToken().String(), newToken().String()
		strs[i] = schema.Complete.Sync
	}
	return []any{ids, tokens, strs, strs, strs, keep, ints, bigs, strs, strs, strs}
}

// seqScansContacts reports whether a plan node or any child scans contacts
// sequentially.
func seqScansContacts(node map[string]any) bool {
	if t, _ := node["Node Type"].(string); t == "Seq Scan" && strings.EqualFold(fmt.Sprint(node["Relation Name"]), "contacts") {
		return true
	}
	kids, _ := node["Plans"].([]any)
	for _, k := range kids {
		if m, ok := k.(map[string]any); ok && seqScansContacts(m) {
			return true
		}
	}
	return false
}
