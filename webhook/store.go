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
	// contact_updated) on the contacts the event names.
	EffectConfirmed = "confirmed"
	// EffectUnsubscribed: brevo_unsubscribed_at was set (unsubscribed,
	// unsubscribe, and contact_updated when an item with emailBlacklist
	// matched a contact; contact_updated also sets brevo_confirmed_at on
	// every contact it names).
	EffectUnsubscribed = "unsubscribed"
	// EffectDeleted: the contact was reset after Brevo deleted it
	// (contact_deleted).
	EffectDeleted = "deleted"
	// EffectNone: the event changes no contact (a campaign event such as
	// spam or opened, an unknown event, or an event naming no email).
	EffectNone = "none"
	// EffectUnknownEmail: the event would change a contact, but no contact
	// has any email it names.
	EffectUnknownEmail = "unknown_email"
)

// errUnstorable marks events the database refuses for their content (a
// number out of range, an invalid Unicode escape): redelivering them would
// fail the same way.
var errUnstorable = errors.New("event cannot be stored")

// outcome is what happened to one event of a delivery.
type outcome struct {
	name      string
	duplicate bool   // already stored: nothing done
	effect    string // the effect recorded, when stored
}

// effectOf names the effect an event has on the contacts it names. For
// contact_updated it is EffectConfirmed; the statement itself records
// EffectUnsubscribed when a blacklisted item matched a contact.
func effectOf(name string) string {
	switch name {
	case EventListAddition, EventContactUpdated:
		return EffectConfirmed
	case EventContactDeleted:
		return EffectDeleted
	case EventUnsubscribed, EventUnsubscribe:
		return EffectUnsubscribed
	}
	return EffectNone
}

// emailKey is the match key of a contact's email, served by the index
// contacts_brevo_email_key_idx.
var emailKey = schema.EmailKey("email")

// The statements below take, for one event:
//
//	$1 dedupe key, $2 event name, $3 the first email named (NULL when none),
//	$4 every email named (text[], keys as schema.NormalizeEmail gives
//	them), $5 the payload, $6 the effect when a contact matches,
//	$7 (contact_updated only) the emails whose items carry
//	"emailBlacklist": true.
//
// Each stores the event as one row, or returns no row when it is already
// stored; only when it was inserted does it apply its effect, to every
// contact matching any named email, in one set-wise UPDATE through the
// index. The effect recorded is unknown_email when no contact matches.
// (Postgres runs a data-modifying WITH part to completion even when the
// main query does not read it; all parts see one snapshot, and each
// statement of a delivery sees the ones before it, so a batch applies in
// order.)
const insertNone = `
INSERT INTO brevosync_webhook_events (dedupe_key, event, email, emails, effect, payload)
VALUES ($1::text, $2::text, $3::text, $4::text[], 'none', $5::jsonb)
ON CONFLICT (dedupe_key, item) DO NOTHING
RETURNING effect`

// insertWith is the statement of an event with an effect: %[1]s is the
// effect recorded, %[2]s the WITH parts that apply it.
const insertWith = `
WITH ins AS (
    INSERT INTO brevosync_webhook_events (dedupe_key, event, email, emails, effect, payload)
    SELECT $1::text, $2::text, $3::text, $4::text[], %[1]s, $5::jsonb
    ON CONFLICT (dedupe_key, item) DO NOTHING
    RETURNING effect
)%[2]s
SELECT effect FROM ins`

// matched is true when a contact has one of the emails in the array $n.
func matched(n int) string {
	return fmt.Sprintf(`EXISTS (SELECT FROM contacts WHERE %s = ANY($%d::text[]))`, emailKey, n)
}

// update is a WITH part applying set to the contacts named, when the event
// was inserted, on the rows where also holds.
func update(name, set, also string) string {
	return fmt.Sprintf(`, %s AS (
    UPDATE contacts SET %s
    WHERE %s = ANY($4::text[]) AND (%s) AND EXISTS (SELECT FROM ins)
    RETURNING 1
)`, name, set, emailKey, also)
}

var (
	effectOrUnknown = `CASE WHEN ` + matched(4) + ` THEN $6::text ELSE 'unknown_email' END`

	sqlConfirmed = fmt.Sprintf(insertWith, effectOrUnknown,
		update("upd", `brevo_confirmed_at = now()`, "true"))
	sqlUnsubscribed = fmt.Sprintf(insertWith, effectOrUnknown,
		update("upd", `brevo_unsubscribed_at = now()`, "true"))
	// contact_updated confirms every contact named and, in the same
	// statement, unsubscribes those whose item carries emailBlacklist.
	sqlUpdated = fmt.Sprintf(insertWith,
		`CASE WHEN `+matched(7)+` THEN 'unsubscribed' ELSE `+effectOrUnknown+` END`,
		update("upd", `brevo_confirmed_at = now(),
        brevo_unsubscribed_at = CASE WHEN `+emailKey+` = ANY($7::text[]) THEN now() ELSE brevo_unsubscribed_at END`, "true"))
	// contact_deleted resets a contact to New with no processing status,
	// contact id or confirmation (brevo_synced_at and brevo_unsubscribed_at
	// stay as history), except that a contact with a request waiting or in
	// flight (schema.UnfinishedWhere) keeps its sync state, so that Brevo's
	// deletion of an old copy does not withdraw a request the application
	// made: the sync re-creates the contact.
	sqlDeleted = fmt.Sprintf(insertWith, effectOrUnknown,
		update("reset", schema.New.Set()+`, brevo_contact_id = NULL, brevo_confirmed_at = NULL`,
			"NOT "+schema.UnfinishedWhere)+
			update("keep", `brevo_contact_id = NULL, brevo_confirmed_at = NULL`, schema.UnfinishedWhere))
)

// statement returns the SQL and arguments that store ev and apply its
// effect.
func statement(ev *Event) (string, []any) {
	emails := make([]string, 0, len(ev.Emails)) // never nil: '{}' for none
	black := []string{}
	for _, ch := range ev.Emails {
		emails = append(emails, ch.Email)
		if ch.Blacklisted {
			black = append(black, ch.Email)
		}
	}
	var first *string
	if len(emails) > 0 {
		first = &emails[0]
	}
	args := []any{ev.Key, ev.Name, first, emails, ev.Raw}
	effect := effectOf(ev.Name)
	switch {
	case len(emails) == 0 || effect == EffectNone:
		return insertNone, args
	case ev.Name == EventContactUpdated:
		return sqlUpdated, append(args, effect, black)
	case effect == EffectDeleted:
		return sqlDeleted, append(args, effect)
	case effect == EffectUnsubscribed:
		return sqlUnsubscribed, append(args, effect)
	}
	return sqlConfirmed, append(args, effect)
}

// eventStore stores deliveries, one at a time: first in this process (a
// turn, waited for before a pool connection is taken, so that deliveries
// hold at most one of the pool's connections however many arrive), then
// across replicas (an advisory lock in the transaction). Two deliveries
// locking the same contacts or events in different orders would deadlock;
// Brevo sends a batch every few minutes, so nothing waits for long.
type eventStore struct {
	pool     *pgxpool.Pool
	turn     chan struct{} // holds a token while a delivery is being stored
	waitHook func()        // called before waiting for the turn (tests)
}

func newEventStore(pool *pgxpool.Pool, waitHook func()) *eventStore {
	return &eventStore{pool: pool, turn: make(chan struct{}, 1), waitHook: waitHook}
}

// save stores events and applies their effects in one transaction, one
// pipelined round trip for the whole delivery. On error nothing is stored
// or applied. A deadlock or serialization failure with a concurrent
// transaction is retried a few times at once.
func (s *eventStore) save(ctx context.Context, events []Event) ([]outcome, error) {
	if len(events) == 0 {
		return nil, nil
	}
	if s.waitHook != nil {
		s.waitHook()
	}
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for the event store: %w", ctx.Err())
	}
	defer func() { <-s.turn }()

	var out []outcome
	var err error
	for range 3 {
		out, err = s.saveOnce(ctx, events)
		if !isRetryable(err) {
			break
		}
	}
	if err != nil {
		return nil, classify(err)
	}
	return out, nil
}

// storeLockKey is the advisory lock that serializes stores across replicas.
const storeLockKey int64 = 0x62726576_6f776862 // "brevowhb"

func (s *eventStore) saveOnce(ctx context.Context, events []Event) ([]outcome, error) {
	out := make([]outcome, len(events))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		// Brevo's own deletion of a contact is not the application's
		// unselect: the mirror must not take it out of Brevo's lists again.
		b.Queue(`SELECT pg_advisory_xact_lock($1), set_config('brevosync.skip_mirror', 'on', true)`, storeLockKey)
		for i := range events {
			q, args := statement(&events[i])
			b.Queue(q, args...)
		}
		br := tx.SendBatch(ctx, b)
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return fmt.Errorf("lock the event store: %w", err)
		}
		for i := range events {
			ev := &events[i]
			out[i] = outcome{name: ev.Name}
			err := br.QueryRow().Scan(&out[i].effect)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				out[i].duplicate = true
			case err != nil:
				_ = br.Close()
				return fmt.Errorf("store event %d (%s, key %s): %w", i, ev.Name, ev.Key, err)
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
