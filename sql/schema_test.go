package schema_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/sql/schematest"
)

func migrate(t *testing.T, pool *pgxpool.Pool) []int64 {
	t.Helper()
	applied, err := schema.Migrate(t.Context(), pool, nil)
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return applied
}

func TestMigrateEmptyDatabaseTwice(t *testing.T) {
	t.Parallel()
	pool := schematest.Pool(t, schematest.NewEmptyURL(t))

	if applied := migrate(t, pool); len(applied) == 0 {
		t.Fatal("first Migrate applied nothing")
	}
	if applied := migrate(t, pool); len(applied) != 0 {
		t.Fatalf("second Migrate applied %v, want nothing", applied)
	}
	// Fresh shape: domain_id nullable, email_type text.
	var id string
	err := pool.QueryRow(t.Context(), `INSERT INTO contacts (email, email_type) VALUES ('a@example.com', 'business') RETURNING id`).Scan(&id)
	if err != nil {
		t.Fatalf("insert into fresh contacts: %v", err)
	}
}

// snapshot returns every row of the legacy table as JSON, columns included.
func snapshot(t *testing.T, pool *pgxpool.Pool, query string) []map[string]any {
	t.Helper()
	rows, err := pool.Query(t.Context(), query)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToMap)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrateExistingApplicationDatabase(t *testing.T) {
	t.Parallel()
	pool := schematest.Pool(t, schematest.NewEmptyURL(t))
	legacy, err := os.ReadFile("testdata/legacy.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), string(legacy)); err != nil {
		t.Fatalf("load legacy schema: %v", err)
	}
	const legacyColumns = `SELECT id, email, name, phone_number, domain_id, page_id, email_type::text, source_url,
		has_gmail, created_at, updated_at, brevo_sync_status::text, brevo_processing_status::text,
		brevo_processing_error, brevo_contact_id, hubspot_sync_status::text, hubspot_processing_status::text,
		hubspot_contact_id, retry_count, next_retry_at FROM contacts ORDER BY id`
	before := snapshot(t, pool, legacyColumns)

	migrate(t, pool)
	if applied := migrate(t, pool); len(applied) != 0 {
		t.Fatalf("second Migrate applied %v, want nothing", applied)
	}
	if diff := cmp.Diff(before, snapshot(t, pool, legacyColumns)); diff != "" {
		t.Fatalf("migrate changed existing data (-before +after):\n%s", diff)
	}

	// The existing column types are kept.
	var emailType, createdType string
	err = pool.QueryRow(t.Context(), `SELECT
		(SELECT data_type FROM information_schema.columns WHERE table_name='contacts' AND column_name='email'),
		(SELECT data_type FROM information_schema.columns WHERE table_name='contacts' AND column_name='created_at')`).
		Scan(&emailType, &createdType)
	if err != nil {
		t.Fatal(err)
	}
	if emailType != "character varying" || createdType != "timestamp without time zone" {
		t.Errorf("column types changed: email %s, created_at %s", emailType, createdType)
	}

	// New columns have their defaults, and the trigger works on the old shape.
	var retries int
	var requested *time.Time
	err = pool.QueryRow(t.Context(), `UPDATE contacts SET brevo_sync_status='Selected', brevo_processing_status='Queued'
		WHERE id = 'aaaaaaaa-0000-0000-0000-000000000004' RETURNING brevo_retry_count, brevo_requested_at`).Scan(&retries, &requested)
	if err != nil {
		t.Fatalf("select a legacy contact: %v", err)
	}
	if retries != 0 || requested == nil {
		t.Errorf("after selection: retry count %d, requested_at %v; want 0 and set", retries, requested)
	}
}

func TestRequestStartsFreshAndNotifiesOncePerTransaction(t *testing.T) {
	t.Parallel()
	pool := schematest.NewPool(t)
	ctx := t.Context()

	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN brevosync"); err != nil {
		t.Fatal(err)
	}

	// 1,000 rows, one of them carrying an old failure.
	_, err = pool.Exec(ctx, `INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status,
		brevo_processing_error, brevo_retry_count, brevo_next_retry_at)
		SELECT 'c' || i || '@example.com', 'Error', 'Error', 'old failure', 3, now() + interval '1 hour'
		FROM generate_series(1, 1000) AS i`)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := pool.Exec(ctx, `UPDATE contacts SET brevo_sync_status='Selected', brevo_processing_status='Queued'`)
	if err != nil || tag.RowsAffected() != 1000 {
		t.Fatalf("select all: %v, %d rows", err, tag.RowsAffected())
	}

	var stale int
	err = pool.QueryRow(ctx, `SELECT count(*) FROM contacts WHERE brevo_retry_count <> 0
		OR brevo_processing_error IS NOT NULL OR brevo_next_retry_at IS NOT NULL OR brevo_requested_at IS NULL`).Scan(&stale)
	if err != nil || stale != 0 {
		t.Fatalf("%d rows did not start fresh (err %v)", stale, err)
	}

	// Exactly one notification for the whole statement: a second, unrelated
	// transaction's notification must be the next one to arrive.
	n, err := conn.Conn().WaitForNotification(ctx)
	if err != nil || n.Channel != "brevosync" {
		t.Fatalf("WaitForNotification = %v, %v", n, err)
	}
	if _, err := pool.Exec(ctx, `SELECT pg_notify('brevosync', 'marker')`); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err = conn.Conn().WaitForNotification(wctx)
	if err != nil || n.Payload != "marker" {
		t.Fatalf("second notification = %+v, %v; want the marker (one notification per selecting transaction)", n, err)
	}

	// An update that does not select (already selected) does not notify.
	if _, err := pool.Exec(ctx, `UPDATE contacts SET brevo_sync_status='Selected', brevo_processing_status='Queued'`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `SELECT pg_notify('brevosync', 'marker2')`); err != nil {
		t.Fatal(err)
	}
	n, err = conn.Conn().WaitForNotification(wctx)
	if err != nil || n.Payload != "marker2" {
		t.Fatalf("notification after a non-selecting update = %+v, %v; want marker2", n, err)
	}
}
