package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	schema "github.com/brevosync/brevosync/sql"
)

// Querier is what RecentEvents and PruneEvents need of a database: the
// methods pgx.Tx, *pgx.Conn and *pgxpool.Pool share.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// StoredEvent is one row of brevosync_webhook_events.
type StoredEvent struct {
	ID         int64           `json:"id"`
	Event      string          `json:"event"`  // e.g. "contact_updated"
	Effect     string          `json:"effect"` // an Effect* constant: the event's, on all the contacts it names
	ReceivedAt time.Time       `json:"received_at"`
	Payload    json.RawMessage `json:"payload"` // the event as received
}

// Bounds of RecentEvents.
const (
	defaultRecentEvents = 50
	maxRecentEvents     = 1000
)

// recentEvents finds the events naming a key: stored once, through the GIN
// index on emails; stored before sql/00010 (one row per contact, emails
// NULL), through the partial index on email.
const recentEvents = `
SELECT id, event, effect, received_at, payload FROM brevosync_webhook_events
WHERE emails @> ARRAY[$1::text] OR (emails IS NULL AND email = $1::text)
ORDER BY received_at DESC, id DESC
LIMIT $2`

// RecentEvents returns the stored webhook events that name email (matched
// by schema.NormalizeEmail, as contacts are), newest first: at most limit
// of them, 50 when limit is zero or less, never more than 1,000. An event
// naming several contacts is returned for each of them, with the effect it
// had as a whole. Events older than the caller's retention (PruneEvents)
// are gone.
func RecentEvents(ctx context.Context, db Querier, email string, limit int) ([]StoredEvent, error) {
	if limit <= 0 {
		limit = defaultRecentEvents
	}
	limit = min(limit, maxRecentEvents)
	key := schema.NormalizeEmail(email)
	rows, err := db.Query(ctx, recentEvents, key, limit)
	if err != nil {
		return nil, fmt.Errorf("read webhook events of %s: %w", key, err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (StoredEvent, error) {
		var e StoredEvent
		err := row.Scan(&e.ID, &e.Event, &e.Effect, &e.ReceivedAt, &e.Payload)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read webhook events of %s: %w", key, err)
	}
	return events, nil
}

// Bounds of PruneEvents.
const (
	// MinRetention is the shortest retention PruneEvents accepts: longer
	// than Brevo's retries of one delivery (10 minutes, then 1, 2 and 8
	// hours apart: about 11 hours), so that a late redelivery still finds
	// its event and is stored once.
	MinRetention = 12 * time.Hour
	// DefaultPruneBatch is the batch PruneEvents uses when given zero or
	// less.
	DefaultPruneBatch = 1000
	// MaxPruneBatch is the largest batch PruneEvents uses.
	MaxPruneBatch = 10000
	// PruneBatchesPerCall bounds one call of PruneEvents: it deletes at
	// most PruneBatchesPerCall × batch rows, then returns; the next call
	// goes on.
	PruneBatchesPerCall = 100
)

// pruneEvents deletes one batch of the oldest events received before the
// cutoff, found through brevosync_webhook_events_received_at_idx.
const pruneEvents = `
DELETE FROM brevosync_webhook_events WHERE id IN (
    SELECT id FROM brevosync_webhook_events
    WHERE received_at < now() - $1::bigint * interval '1 microsecond'
    ORDER BY received_at
    LIMIT $2
)`

// PruneEvents deletes the webhook events received before now() minus
// olderThan (at least MinRetention) and returns how many it deleted. It
// deletes in batches of batch rows (DefaultPruneBatch when zero or less, at
// most MaxPruneBatch), oldest first, each batch its own statement (on a
// pool, its own transaction, so locks are held briefly), and stops after
// PruneBatchesPerCall batches: a call that returns PruneBatchesPerCall ×
// batch may have left more. Meant for one replica at a time (the syncer's
// sweep); concurrent calls are safe but wasteful. It stops early, returning
// what it deleted so far and the error, when ctx ends or a batch fails.
func PruneEvents(ctx context.Context, q Querier, olderThan time.Duration, batch int) (int64, error) {
	if olderThan < MinRetention {
		return 0, fmt.Errorf("prune webhook events: retention %v is shorter than %v, Brevo's redelivery window", olderThan, MinRetention)
	}
	if batch <= 0 {
		batch = DefaultPruneBatch
	}
	batch = min(batch, MaxPruneBatch)
	var deleted int64
	for range PruneBatchesPerCall {
		tag, err := q.Exec(ctx, pruneEvents, olderThan.Microseconds(), batch)
		if err != nil {
			return deleted, fmt.Errorf("prune webhook events older than %v (%d deleted): %w", olderThan, deleted, err)
		}
		deleted += tag.RowsAffected()
		if tag.RowsAffected() < int64(batch) {
			break
		}
	}
	return deleted, nil
}
