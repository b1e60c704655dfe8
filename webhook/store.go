package webhook

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
)

// Effects recorded in brevosync_webhook_events.effect.
const (
	// EffectConfirmed: brevo_confirmed_at was set (list_addition,
	// contact_updated).
	EffectConfirmed = "confirmed"
	// EffectUnsubscribed: brevo_unsubscribed_at was set (unsubscribed,
	// unsubscribe, and contact_updated with emailBlacklist, which also sets
	// brevo_confirmed_at).
	EffectUnsubscribed = "unsubscribed"
	// EffectDeleted: the contact was reset after Brevo deleted it
	// (contact_deleted).
	EffectDeleted = "deleted"
	// EffectNone: the event changes no contact (a campaign event such as
	// spam or opened, an unknown event, or an event naming no email).
	EffectNone = "none"
	// EffectUnknownEmail: the event would change a contact, but no contact
	// has this email.
	EffectUnknownEmail = "unknown_email"
)

// errUnstorable marks events the database refuses for their content (a
// number out of range, an invalid Unicode escape): redelivering them would
// fail the same way.
var errUnstorable = errors.New("event cannot be stored")

// eventRow is one row of brevosync_webhook_events to insert.
type eventRow struct {
	ev     *Event
	item   int
	email  *string
	black  bool
	effect string // the effect if a contact matches; EffectNone for no effect
}

// outcome is what happened to one eventRow.
type outcome struct {
	name      string
	duplicate bool   // already stored: nothing done
	effect    string // the effect recorded, when stored
}

// rowsOf expands events into rows: one per email named, or one with no
// email.
func rowsOf(events []Event) []eventRow {
	var rows []eventRow
	for i := range events {
		ev := &events[i]
		if len(ev.Emails) == 0 {
			rows = append(rows, eventRow{ev: ev, effect: EffectNone})
			continue
		}
		for j, ch := range ev.Emails {
			rows = append(rows, eventRow{
				ev: ev, item: j, email: &ch.Email, black: ch.Blacklisted,
				effect: effectOf(ev.Name, ch.Blacklisted),
			})
		}
	}
	return rows
}

// effectOf names the effect an event has on a contact it names.
func effectOf(name string, blacklisted bool) string {
	switch name {
	case EventListAddition:
		return EffectConfirmed
	case EventContactUpdated:
		if blacklisted {
			return EffectUnsubscribed
		}
		return EffectConfirmed
	case EventContactDeleted:
		return EffectDeleted
	case EventUnsubscribed, EventUnsubscribe:
		return EffectUnsubscribed
	}
	return EffectNone
}

// insertNone stores an event row with no effect. It returns no row when the
// event is already stored.
const insertNone = `
INSERT INTO brevosync_webhook_events (dedupe_key, item, event, email, effect, payload)
VALUES ($1::text, $2::integer, $3::text, $4::text, 'none', $5::jsonb)
ON CONFLICT (dedupe_key, item) DO NOTHING
RETURNING effect`

// insertWithEffect stores an event row and, only when it was inserted,
// applies %s (a SET list) to every contact with the email. The effect
// recorded is $6, or unknown_email when no contact has the email. It returns
// no row when the event is already stored. (Postgres runs a data-modifying
// WITH part to completion even when the main query does not read it.) All
// parts see one snapshot, and
// each statement of the pipeline sees the ones before it, so a batch applies
// in order.
const insertWithEffect = `
WITH ins AS (
    INSERT INTO brevosync_webhook_events (dedupe_key, item, event, email, effect, payload)
    SELECT $1::text, $2::integer, $3::text, $4::text,
           CASE WHEN EXISTS (SELECT FROM contacts WHERE lower(email) = lower($4::text))
                THEN $6::text ELSE 'unknown_email' END,
           $5::jsonb
    ON CONFLICT (dedupe_key, item) DO NOTHING
    RETURNING effect
), upd AS (
    UPDATE contacts SET %s
    WHERE lower(email) = lower($4::text) AND EXISTS (SELECT FROM ins)
    RETURNING 1
)
SELECT effect FROM ins`

// The SET lists of the effects.
const (
	setConfirmed    = `brevo_confirmed_at = now()`
	setConfirmedOut = `brevo_confirmed_at = now(), brevo_unsubscribed_at = now()`
	setUnsubscribed = `brevo_unsubscribed_at = now()`
)

// setDeleted leaves a contact with a request waiting or in flight in its
// sync state, so that Brevo's deletion of an old copy does not withdraw a
// request the application made; the sync re-creates the contact.
var setDeleted = `
        brevo_sync_status = CASE WHEN ` + schema.UnfinishedWhere + `
                                 THEN brevo_sync_status ELSE ` + schema.Literal(schema.New.Sync) + ` END,
        brevo_processing_status = CASE WHEN ` + schema.UnfinishedWhere + `
                                       THEN brevo_processing_status END,
        brevo_contact_id = NULL,
        brevo_confirmed_at = NULL`

var (
	sqlConfirmed    = fmt.Sprintf(insertWithEffect, setConfirmed)
	sqlConfirmedOut = fmt.Sprintf(insertWithEffect, setConfirmedOut)
	sqlUnsubscribed = fmt.Sprintf(insertWithEffect, setUnsubscribed)
	sqlDeleted      = fmt.Sprintf(insertWithEffect, setDeleted)
)

// sqlFor returns the statement and its arguments for a row.
func (r eventRow) sqlFor() (string, []any) {
	args := []any{r.ev.Key, r.item, r.ev.Name, r.email, string(r.ev.Raw)}
	var q string
	switch {
	case r.email == nil || r.effect == EffectNone:
		return insertNone, args
	case r.effect == EffectDeleted:
		q = sqlDeleted
	case r.effect == EffectUnsubscribed && r.ev.Name == EventContactUpdated:
		q = sqlConfirmedOut
	case r.effect == EffectUnsubscribed:
		q = sqlUnsubscribed
	default:
		q = sqlConfirmed
	}
	return q, append(args, r.effect)
}

// store writes events and applies their effects in one transaction, one
// pipelined round trip for the whole batch. On error nothing is stored or
// applied. A deadlock or serialization failure with a concurrent delivery
// is retried a few times at once.
func store(ctx context.Context, pool *pgxpool.Pool, events []Event) ([]outcome, error) {
	rows := rowsOf(events)
	if len(rows) == 0 {
		return nil, nil
	}
	var out []outcome
	var err error
	for range 3 {
		out, err = storeOnce(ctx, pool, rows)
		if !isRetryable(err) {
			break
		}
	}
	if err != nil {
		return nil, classify(err)
	}
	return out, nil
}

// storeLockKey is the advisory lock that serializes stores.
const storeLockKey int64 = 0x62726576_6f776862 // "brevowhb"

func storeOnce(ctx context.Context, pool *pgxpool.Pool, rows []eventRow) ([]outcome, error) {
	out := make([]outcome, len(rows))
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		// Deliveries are stored one at a time: two batches locking the same
		// contacts or the same events in different orders would deadlock.
		// Brevo sends a batch every few minutes, so nothing waits for long.
		b.Queue(`SELECT pg_advisory_xact_lock($1)`, storeLockKey)
		for _, r := range rows {
			q, args := r.sqlFor()
			b.Queue(q, args...)
		}
		br := tx.SendBatch(ctx, b)
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return fmt.Errorf("lock the event store: %w", err)
		}
		for i, r := range rows {
			out[i] = outcome{name: r.ev.Name}
			err := br.QueryRow().Scan(&out[i].effect)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				out[i].duplicate = true
			case err != nil:
				_ = br.Close()
				return fmt.Errorf("store event %s item %d: %w", r.ev.Key, r.item, err)
			}
		}
		return br.Close()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// isRetryable reports a transaction that lost a race with a concurrent one
// and may simply be run again.
func isRetryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) &&
		(pgErr.Code == "40001" || pgErr.Code == "40P01") // serialization_failure, deadlock_detected
}

// classify marks errors caused by the events' content (SQLSTATE class 22,
// data exception, and 54, program limit exceeded) as errUnstorable; all
// others mean the database is unavailable or failing, and are returned as
// they are.
func classify(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "54")) {
		return fmt.Errorf("%w: %w", errUnstorable, err)
	}
	return err
}
