package schema_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brevosync/brevosync/sql/schematest"
)

// fresh reports whether the row started a request fresh: retry count 0, no
// error, no due time, requested just now.
func fresh(t *testing.T, pool *pgxpool.Pool, email string) bool {
	t.Helper()
	var ok bool
	err := pool.QueryRow(t.Context(), `SELECT brevo_retry_count = 0 AND brevo_processing_error IS NULL
		AND brevo_next_retry_at IS NULL AND brevo_requested_at > now() - interval '1 minute'
		FROM contacts WHERE email = $1`, email).Scan(&ok)
	if err != nil {
		t.Fatalf("read %s: %v", email, err)
	}
	return ok
}

// TestEveryWritersRequest: Queued/Queued (the application's DeBounce
// auto-queue) and Error/Queued (its "reset failed" SQL) are requests like
// Selected/Queued, by INSERT and by UPDATE; brevosync's own hand-back,
// which releases a claim, is not.
func TestEveryWritersRequest(t *testing.T) {
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
	notified := func(what string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := conn.Conn().WaitForNotification(wctx); err != nil {
			t.Fatalf("%s: no notification: %v", what, err)
		}
	}
	stale := `brevo_processing_error, brevo_retry_count, brevo_next_retry_at) VALUES`
	for _, pair := range [][2]string{{"Queued", "Queued"}, {"Error", "Queued"}} {
		email := "update-" + pair[0] + "@example.com"
		if _, err := pool.Exec(ctx, `INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status, `+stale+
			` ($1, 'Error', 'Error', 'old failure', 3, now() + interval '1 hour')`, email); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `UPDATE contacts SET brevo_sync_status = $2, brevo_processing_status = $3 WHERE email = $1`,
			email, pair[0], pair[1]); err != nil {
			t.Fatal(err)
		}
		notified("UPDATE to " + pair[0] + "/" + pair[1])
		if !fresh(t, pool, email) {
			t.Errorf("UPDATE to %s/%s did not start a fresh request", pair[0], pair[1])
		}

		email = "insert-" + pair[0] + "@example.com"
		if _, err := pool.Exec(ctx, `INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status, `+stale+
			` ($1, $2, $3, 'stale', 2, now() + interval '1 hour')`, email, pair[0], pair[1]); err != nil {
			t.Fatal(err)
		}
		notified("INSERT as " + pair[0] + "/" + pair[1])
		if !fresh(t, pool, email) {
			t.Errorf("INSERT as %s/%s did not start a fresh request", pair[0], pair[1])
		}
	}

	// brevosync hands a claim back: the claim token is released in the same
	// write. Not a request: the retry count and the due time stay.
	if _, err := pool.Exec(ctx, `INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status,
		brevo_retry_count, brevo_claim_token, brevo_lease_until)
		VALUES ('claimed@example.com', 'Processing', 'Processing', 0, gen_random_uuid(), now() + interval '1 minute')`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE contacts SET brevo_sync_status = 'Queued', brevo_processing_status = 'Queued',
		brevo_next_retry_at = now() + interval '3 seconds', brevo_claim_token = NULL, brevo_lease_until = NULL
		WHERE email = 'claimed@example.com'`); err != nil {
		t.Fatal(err)
	}
	var due bool
	if err := pool.QueryRow(ctx, `SELECT brevo_next_retry_at IS NOT NULL AND brevo_requested_at IS NULL
		FROM contacts WHERE email = 'claimed@example.com'`).Scan(&due); err != nil || !due {
		t.Errorf("brevosync's hand-back was taken for a request (due time kept: %v, %v)", due, err)
	}
	if _, err := pool.Exec(ctx, `SELECT pg_notify('brevosync', 'marker')`); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if n, err := conn.Conn().WaitForNotification(wctx); err != nil || n.Payload != "marker" {
		t.Errorf("after brevosync's hand-back: notification %+v, %v; want only the marker", n, err)
	}
}
