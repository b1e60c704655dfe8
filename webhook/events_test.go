package webhook

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
)

var _ Querier = pgx.Tx(nil) // and *pgxpool.Pool, used below

func TestRecentEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	insertContact(t, b.pool, "Ada@Example.com")
	deliveries := []string{
		`{"event":"list_addition","email":"ada@example.com","ts":1}`,
		`{"event":"contact_updated","ts":2,"content":[{"email":"bob@example.com"},{"email":"ADA@example.COM","emailBlacklist":true}]}`,
		`{"event":"spam","email":"bob@example.com","ts":3}`,
		`{"event":"opened","email":" ada@EXAMPLE.com","ts":4}`,
	}
	for _, d := range deliveries {
		b.mustPost(t, []byte(d))
	}
	// A row stored before events were stored once: one per contact, no
	// emails, received yesterday.
	exec(t, b.pool, `INSERT INTO brevosync_webhook_events (dedupe_key, item, event, email, effect, payload, received_at)
		VALUES ('old', 1, 'list_addition', 'ada@example.com', 'confirmed', '{"event":"list_addition","old":true}', now() - interval '1 day')`)

	type summary struct {
		Event, Effect string
		Payload       map[string]any
	}
	summarize := func(events []StoredEvent) []summary {
		out := []summary{}
		for i, e := range events {
			var p map[string]any
			if err := json.Unmarshal(e.Payload, &p); err != nil {
				t.Fatalf("event %d payload %s: %v", i, e.Payload, err)
			}
			if e.ID == 0 || e.ReceivedAt.IsZero() || time.Since(e.ReceivedAt) > 25*time.Hour {
				t.Errorf("event %d: id %d, received_at %v", i, e.ID, e.ReceivedAt)
			}
			if i > 0 && e.ReceivedAt.After(events[i-1].ReceivedAt) {
				t.Errorf("event %d received at %v, after the one before it (%v): want newest first", i, e.ReceivedAt, events[i-1].ReceivedAt)
			}
			out = append(out, summary{e.Event, e.Effect, p})
		}
		return out
	}
	decode := func(s string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}

	got, err := RecentEvents(t.Context(), b.pool, "ADA@example.com ", 10)
	if err != nil {
		t.Fatalf("RecentEvents: %v", err)
	}
	want := []summary{
		{"opened", EffectNone, decode(deliveries[3])},
		{"contact_updated", EffectUnsubscribed, decode(deliveries[1])},
		{"list_addition", EffectConfirmed, decode(deliveries[0])},
		{"list_addition", EffectConfirmed, map[string]any{"event": "list_addition", "old": true}},
	}
	if diff := cmp.Diff(want, summarize(got)); diff != "" {
		t.Errorf("RecentEvents(ada) (-want +got):\n%s", diff)
	}

	got, err = RecentEvents(t.Context(), b.pool, "ada@example.com", 2)
	if err != nil || len(got) != 2 || got[0].Event != "opened" {
		t.Errorf("RecentEvents(ada, 2) = %d events (%v), want the 2 newest", len(got), err)
	}
	got, err = RecentEvents(t.Context(), b.pool, "bob@example.com", 0)
	if err != nil || len(got) != 2 || got[0].Event != "spam" || got[1].Event != "contact_updated" {
		t.Errorf("RecentEvents(bob) = %+v, %v; want spam, contact_updated", got, err)
	}
	if got, err := RecentEvents(t.Context(), b.pool, "nobody@example.com", 10); err != nil || len(got) != 0 {
		t.Errorf("RecentEvents(nobody) = %+v, %v; want none", got, err)
	}

	// Through the indexes, not by scanning the table.
	tx, err := b.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(t.Context()) }()
	if _, err := tx.Exec(t.Context(), `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(t.Context(), "EXPLAIN "+recentEvents, "ada@example.com", 10)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	for _, idx := range []string{"brevosync_webhook_events_emails_idx", "brevosync_webhook_events_history_email_idx"} {
		if !strings.Contains(plan, idx) {
			t.Errorf("RecentEvents does not use %s:\n%s", idx, plan)
		}
	}
	if _, err := RecentEvents(t.Context(), tx, "ada@example.com", 1); err != nil {
		t.Errorf("RecentEvents in a transaction: %v", err)
	}
}

func TestPruneEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	insert := func(n int, age string) {
		t.Helper()
		exec(t, b.pool, `INSERT INTO brevosync_webhook_events (dedupe_key, event, email, emails, effect, payload, received_at)
			SELECT $2 || i, 'opened', 'a@example.com', '{a@example.com}', 'none', '{"event":"opened"}', now() - $2::interval
			FROM generate_series(1, $1) i`, n, age)
	}
	count := func() int {
		t.Helper()
		var n int
		if err := b.pool.QueryRow(t.Context(), `SELECT count(*) FROM brevosync_webhook_events`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	insert(25, "3 days")
	insert(5, "13 hours")
	insert(5, "1 hour")
	b.mustPost(t, []byte(`{"event":"opened","email":"a@example.com","ts":1}`)) // just received

	if n, err := PruneEvents(t.Context(), b.pool, 24*time.Hour, 10); err != nil || n != 25 {
		t.Errorf("PruneEvents(24h, batch 10) = %d, %v; want 25", n, err)
	}
	if got := count(); got != 11 {
		t.Errorf("%d events left, want 11", got)
	}
	if n, err := PruneEvents(t.Context(), b.pool, 24*time.Hour, 10); err != nil || n != 0 {
		t.Errorf("PruneEvents(24h) again = %d, %v; want 0", n, err)
	}
	if n, err := PruneEvents(t.Context(), b.pool, MinRetention, 0); err != nil || n != 5 {
		t.Errorf("PruneEvents(12h, default batch) = %d, %v; want 5", n, err)
	}
	// Shorter than Brevo's redelivery window: refused, nothing deleted.
	if n, err := PruneEvents(t.Context(), b.pool, time.Hour/2, 10); err == nil || n != 0 {
		t.Errorf("PruneEvents(30m) = %d, %v; want an error", n, err)
	}
	if got := count(); got != 6 {
		t.Errorf("%d events left, want 6", got)
	}

	// One call is bounded: PruneBatchesPerCall batches, then it returns.
	insert(2*PruneBatchesPerCall+7, "30 days")
	if n, err := PruneEvents(t.Context(), b.pool, 24*time.Hour, 2); err != nil || n != 2*PruneBatchesPerCall {
		t.Errorf("bounded PruneEvents(batch 2) = %d, %v; want %d", n, err, 2*PruneBatchesPerCall)
	}
	tx, err := b.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := PruneEvents(t.Context(), tx, 24*time.Hour, 2); err != nil || n != 7 {
		t.Errorf("PruneEvents in a transaction = %d, %v; want the 7 left", n, err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != 6 {
		t.Errorf("%d events left, want 6", got)
	}

	// Through the received_at index.
	tx, err = b.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(t.Context()) }()
	if _, err := tx.Exec(t.Context(), `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(t.Context(), "EXPLAIN "+pruneEvents, (24 * time.Hour).Microseconds(), 10)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if plan := strings.Join(lines, "\n"); !strings.Contains(plan, "brevosync_webhook_events_received_at_idx") {
		t.Errorf("PruneEvents does not use the received_at index:\n%s", plan)
	}
}
