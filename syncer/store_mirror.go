package syncer

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
)

// The mirror's SQL: the other rows of a
// removed email, and the removals of deleted rows.

// stillListedSQL finds the emails (keys) among $1 that a row other than $2
// still needs in the lists: synced, or with a request.
var stillListedSQL = `
SELECT DISTINCT ` + schema.EmailKey("email") + ` FROM contacts
WHERE ` + schema.EmailKey("email") + ` = ANY($1::text[])
  AND NOT (id = ANY($2::uuid[]))
  AND (brevo_sync_status IN (` + schema.Literal(schema.Complete.Sync) + `, ` + schema.Literal(schema.Processing.Sync) + `)
       OR ` + schema.UnfinishedWhere + `)`

func stillListed(ctx context.Context, db *pgxpool.Pool, emails, exclude []string) (map[string]bool, error) {
	if exclude == nil {
		exclude = []string{}
	}
	rows, err := db.Query(ctx, stillListedSQL, emails, exclude)
	if err != nil {
		return nil, err
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m, nil
}

// deleted is a claimed row of brevosync_removals.
type deleted struct {
	id       int64
	email    string
	attempts int
}

const claimDeletedSQL = `
UPDATE brevosync_removals SET lease_until = now() + $2 * interval '1 millisecond'
WHERE id IN (
	SELECT id FROM brevosync_removals
	WHERE coalesce(lease_until, '-infinity'::timestamptz) <= now()
	ORDER BY coalesce(lease_until, '-infinity'::timestamptz)
	LIMIT $1
	FOR UPDATE SKIP LOCKED)
RETURNING id, email, attempts`

func claimDeleted(ctx context.Context, db *pgxpool.Pool, n int, lease time.Duration) ([]deleted, error) {
	rows, err := db.Query(ctx, claimDeletedSQL, n, lease.Milliseconds())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (deleted, error) {
		var d deleted
		err := r.Scan(&d.id, &d.email, &d.attempts)
		return d, err
	})
}

// finishDeleted records a removal's verdict: done (or given up on after the
// retry policy's attempts) deletes the rows; a failure retries them after
// the policy's delay; a hand-back makes them due again at once.
func finishDeleted(ctx context.Context, db *pgxpool.Pool, batch []deleted, v verdict, p RetryPolicy) error {
	ids := make([]int64, len(batch))
	for i, d := range batch {
		ids[i] = d.id
	}
	var err error
	switch {
	case v.release:
		_, err = db.Exec(ctx, `UPDATE brevosync_removals SET lease_until = now() + $2 * interval '1 millisecond'
			WHERE id = ANY($1)`, ids, v.wait.Milliseconds())
	case v.err == nil, KindOf(v.err) == Rejected:
		_, err = db.Exec(ctx, `DELETE FROM brevosync_removals WHERE id = ANY($1)`, ids)
	default:
		attempt := batch[0].attempts + 1
		if p.GivesUp(attempt, KindOf(v.err)) {
			_, err = db.Exec(ctx, `DELETE FROM brevosync_removals WHERE id = ANY($1)`, ids)
			break
		}
		_, err = db.Exec(ctx, `UPDATE brevosync_removals SET attempts = attempts + 1, last_error = $2,
			lease_until = now() + $3 * interval '1 millisecond' WHERE id = ANY($1)`,
			ids, v.err.Error(), p.Delay(attempt-1).Milliseconds())
	}
	if err != nil {
		return fmt.Errorf("finish %d removals: %w", len(batch), err)
	}
	return nil
}
