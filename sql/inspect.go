package schema

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The service's own columns of contacts, as Migrate creates them.
var ServiceColumns = []string{
	"brevo_retry_count", "brevo_next_retry_at", "brevo_synced_at", "brevo_confirmed_at",
	"brevo_unsubscribed_at", "brevo_requested_at", "brevo_claim_token", "brevo_lease_until",
	"brevo_sync_note",
}

// AppColumns are the application's columns of contacts that `status` reads.
var AppColumns = []string{"brevo_sync_status", "brevo_processing_status", "brevo_processing_error", "updated_at"}

// Info is what of brevosync's schema a database has. Inspect never fails
// for a missing object: it reports it.
type Info struct {
	Now         time.Time // the database's clock
	HasContacts bool
	Columns     map[string]bool // contacts' columns
	HasNodes    bool            // brevosync_nodes
	HasEvents   bool            // brevosync_webhook_events
	HasTrigger  bool            // the request trigger
}

const inspectSQL = `
SELECT now(),
	to_regclass('contacts') IS NOT NULL,
	to_regclass('brevosync_nodes') IS NOT NULL,
	to_regclass('brevosync_webhook_events') IS NOT NULL,
	EXISTS (SELECT 1 FROM pg_trigger
	        WHERE tgrelid = to_regclass('contacts') AND tgname = 'brevosync_request_update'),
	coalesce((SELECT array_agg(attname::text) FROM pg_attribute
	          WHERE attrelid = to_regclass('contacts') AND attnum > 0 AND NOT attisdropped), '{}')`

// Inspect reads the catalog of db.
func Inspect(ctx context.Context, db *pgxpool.Pool) (Info, error) {
	var s Info
	var cols []string
	err := db.QueryRow(ctx, inspectSQL).Scan(&s.Now, &s.HasContacts, &s.HasNodes, &s.HasEvents, &s.HasTrigger, &cols)
	if err != nil {
		return s, fmt.Errorf("inspect schema: %w", err)
	}
	s.Columns = make(map[string]bool, len(cols))
	for _, c := range cols {
		s.Columns[c] = true
	}
	return s, nil
}

// HasStates reports whether contacts has the two state columns, without
// which nothing can be counted or synced.
func (s Info) HasStates() bool {
	return s.HasContacts && s.Columns["brevo_sync_status"] && s.Columns["brevo_processing_status"]
}

// Missing names what Migrate would add, e.g. "column
// contacts.brevo_retry_count"; empty when the schema is complete.
func (s Info) Missing() []string {
	if !s.HasContacts {
		return []string{"table contacts"}
	}
	out := []string{}
	for _, c := range slices.Concat(AppColumns, ServiceColumns) {
		if !s.Columns[c] {
			out = append(out, "column contacts."+c)
		}
	}
	if !s.HasTrigger {
		out = append(out, "trigger brevosync_request_update")
	}
	if !s.HasNodes {
		out = append(out, "table brevosync_nodes")
	}
	if !s.HasEvents {
		out = append(out, "table brevosync_webhook_events")
	}
	return out
}

// Hint says what to do about what is missing; "" when nothing is.
func (s Info) Hint() string {
	switch {
	case !s.HasContacts:
		return "there is no contacts table: check that DATABASE_URL is the application's database, " +
			"or run 'brevosync migrate' to create one"
	case !s.HasStates():
		return "the contacts table has no brevo_sync_status/brevo_processing_status: " +
			"check that DATABASE_URL is the application's database"
	case len(s.Missing()) > 0:
		return "run 'brevosync migrate' to add brevosync's schema (it changes no existing data)"
	}
	return ""
}

// ErrNotMigrated is returned by Check when the schema is missing.
var ErrNotMigrated = errors.New("the database has no brevosync schema: run 'brevosync migrate' first")

// Check fails early, with the fix, when Migrate has not run: `serve` calls
// it before it starts.
func Check(ctx context.Context, db *pgxpool.Pool) error {
	s, err := Inspect(ctx, db)
	if err != nil {
		return fmt.Errorf("check schema: %w", err)
	}
	if !s.HasNodes || !s.HasTrigger || !s.HasEvents {
		return ErrNotMigrated
	}
	for _, c := range ServiceColumns {
		if !s.Columns[c] {
			return fmt.Errorf("the database lacks brevosync's column contacts.%s: run 'brevosync migrate'", c)
		}
	}
	return nil
}
