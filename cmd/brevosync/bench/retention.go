package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brevosync/brevosync/cmd/brevosync/service"
	"github.com/brevosync/brevosync/webhook"
)

// retentionResult is what pruning old webhook events costs the sweep.
type retentionResult struct {
	Events    int     `json:"events"`
	Old       int     `json:"old"`
	Deleted   int64   `json:"deleted_per_call"`
	CallMs    float64 `json:"call_ms"`
	PerRowUs  float64 `json:"per_row_us"`
	IdleMs    float64 `json:"idle_call_ms"` // a call with nothing old to delete
	Retention string  `json:"retention"`
}

// retention fills brevosync_webhook_events with rows, 40% older than the
// retention, and times the sweep's prune task: one call (up to
// PruneBatchesPerCall batches, in the sweep's transaction), then a call
// once nothing is old.
func (b *bench) retention(ctx context.Context) (*retentionResult, error) {
	const n, old = 500_000, 200_000
	dsn, err := b.srv.newDatabase(ctx, "retention")
	if err != nil {
		return nil, err
	}
	pool, err := service.OpenPool(ctx, "DATABASE_URL", dsn, service.PoolOptions{AppName: "brevosync-bench"})
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	b.progress("retention: %d webhook events, %d older than the retention", n, old)
	_, err = pool.Exec(ctx, `INSERT INTO brevosync_webhook_events (dedupe_key, event, email, effect, payload, received_at, emails)
		SELECT md5(i::text), 'opened', 'e' || (i % 5000) || '@bench.brevosync.test', 'none',
			jsonb_build_object('event', 'opened', 'email', 'e' || (i % 5000) || '@bench.brevosync.test', 'ts', i),
			now() - CASE WHEN i <= $2 THEN interval '40 days' ELSE interval '1 day' END + i * interval '1 millisecond',
			ARRAY['e' || (i % 5000) || '@bench.brevosync.test']
		FROM generate_series(1, $1) AS i`, n, old)
	if err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE brevosync_webhook_events"); err != nil {
		return nil, err
	}
	r := &retentionResult{Events: n, Old: old, Retention: service.DefaultWebhookRetention.String()}
	call := func() (int64, time.Duration, error) {
		var deleted int64
		t0 := time.Now()
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var err error
			deleted, err = webhook.PruneEvents(ctx, tx, service.DefaultWebhookRetention, 0)
			return err
		})
		return deleted, time.Since(t0), err
	}
	deleted, d, err := call()
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	r.Deleted, r.CallMs = deleted, ms(d)
	if deleted > 0 {
		r.PerRowUs = float64(d.Microseconds()) / float64(deleted)
	}
	for deleted > 0 { // the rest, as later sweeps would
		if deleted, _, err = call(); err != nil {
			return nil, err
		}
	}
	if _, d, err = call(); err != nil {
		return nil, err
	}
	r.IdleMs = ms(d)
	return r, nil
}

// printRetention prints the section.
func printRetention(row func(...string), r *retentionResult) {
	if r == nil {
		return
	}
	row("\nRETENTION", fmt.Sprintf("%d webhook events, %d older than %s", r.Events, r.Old, r.Retention),
		"deleted", "ms", "µs/row")
	row("", "one prune call of the sweep (its batches)", fmt.Sprint(r.Deleted), f3(r.CallMs), fmt.Sprintf("%.1f", r.PerRowUs))
	row("", "a call with nothing old left", "0", f3(r.IdleMs), "")
}
