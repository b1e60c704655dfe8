package syncer_test

// Notification pressure: the application's selecting write must never fail
// or stall because of NOTIFY. The request trigger notifies with a constant
// payload, which Postgres folds into one notification per transaction, and
// the listener reads continuously, so the server's notification queue stays
// empty however much is selected.

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brevosync/brevosync/listener"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// notificationCounter is a plain LISTEN connection on the request channel,
// standing beside the service's listener to count what Postgres delivers.
type notificationCounter struct {
	conn *pgx.Conn
	pool *pgxpool.Pool
}

func newNotificationCounter(t *testing.T, b *testBundle) *notificationCounter {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), b.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	if _, err := conn.Exec(t.Context(), "LISTEN "+listener.Channel); err != nil {
		t.Fatal(err)
	}
	return &notificationCounter{conn: conn, pool: b.pool}
}

// count returns the payloads of the request notifications committed so far
// and not yet counted: it sends a marker notification and reads up to it
// (Postgres delivers notifications in commit order).
func (c *notificationCounter) count(t *testing.T) []string {
	t.Helper()
	const marker = "test-marker"
	if _, err := c.pool.Exec(t.Context(), `SELECT pg_notify($1, $2)`, listener.Channel, marker); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var got []string
	for {
		n, err := c.conn.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("waiting for notifications: %v", err)
		}
		if n.Payload == marker {
			return got
		}
		if len(n.Payload) >= 5 && n.Payload[:5] == "ping:" { // the service's listener's liveness pings
			continue
		}
		got = append(got, n.Payload)
	}
}

// queueUsage is pg_notification_queue_usage(): the fraction of the server's
// notification queue in use (a full queue fails every NOTIFYing commit).
func (b *testBundle) queueUsage(t *testing.T) float64 {
	t.Helper()
	var u float64
	if err := b.pool.QueryRow(t.Context(), `SELECT pg_notification_queue_usage()`).Scan(&u); err != nil {
		t.Fatal(err)
	}
	return u
}

// selectEachInOneTx runs the application's selecting write once per contact,
// as single-row UPDATEs inside ONE transaction (a PL/pgSQL loop, so 100,000
// statements cost no round trips), on the contacts whose email starts with
// prefix. It returns the rows selected and how long the commit took.
func (b *testBundle) selectEachInOneTx(t *testing.T, prefix string) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	var n int
	err := pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(t.Context(), `
			CREATE TEMP TABLE selected_count (n int) ON COMMIT DROP;
			DO $$
			DECLARE
				r record;
				n int := 0;
			BEGIN
				FOR r IN SELECT id FROM contacts WHERE email LIKE '`+prefix+`%' ORDER BY id LOOP
					UPDATE contacts SET brevo_sync_status = 'Selected', brevo_processing_status = 'Queued'
					WHERE id = r.id;
					n := n + 1;
				END LOOP;
				INSERT INTO selected_count VALUES (n);
			END
			$$`); err != nil {
			return err
		}
		return tx.QueryRow(t.Context(), `SELECT n FROM selected_count`).Scan(&n)
	})
	if err != nil {
		t.Fatalf("selecting transaction failed: %v", err)
	}
	return n, time.Since(start)
}

// TestHundredThousandSelectionsInOneTransaction: 100,000 single-row selecting
// UPDATEs inside ONE transaction commit fine and queue a single
// notification; the queue stays empty; every row is a fresh request (the
// trigger ran for each); and the service still works afterwards.
//
// Syncing 100,000 contacts takes about a minute under -race, so the test
// checks the 100,000 rows' request state, then has the service sync a
// smaller share of them and a second one-transaction selection made while it
// runs (2,000 each).
func TestHundredThousandSelectionsInOneTransaction(t *testing.T) {
	t.Parallel()
	timed(t, t.Name())
	const n, synced = 100000, 2000
	b := newBundle(t, brevotest.Config{NoRequestLog: true})
	if _, err := b.pool.Exec(t.Context(), `INSERT INTO contacts (email, name, brevo_retry_count, brevo_processing_error, brevo_next_retry_at)
		SELECT 'bulk' || i || '@example.com', 'Bulk ' || i, 3, 'an old failure', now() + interval '1 day'
		FROM generate_series(1, $1) AS i`, n); err != nil {
		t.Fatal(err)
	}
	counter := newNotificationCounter(t, b)

	got, took := b.selectEachInOneTx(t, "bulk")
	t.Logf("%d single-row selecting UPDATEs committed in one transaction in %v", got, took.Round(time.Millisecond))
	if got != n {
		t.Fatalf("selected %d rows, want %d", got, n)
	}
	if notes := counter.count(t); len(notes) != 1 {
		t.Errorf("the transaction queued %d notifications, want 1", len(notes))
	}
	if u := b.queueUsage(t); u > 0.0001 {
		t.Errorf("pg_notification_queue_usage() = %v after the commit, want ~0", u)
	}
	// Every row is a fresh request: the trigger reset what the last one left.
	var fresh int
	if err := b.pool.QueryRow(t.Context(), `SELECT count(*) FROM contacts
		WHERE brevo_sync_status = 'Selected' AND brevo_processing_status = 'Queued' AND brevo_retry_count = 0
		  AND brevo_processing_error IS NULL AND brevo_next_retry_at IS NULL AND brevo_requested_at IS NOT NULL
		  AND brevo_claim_token IS NULL`).Scan(&fresh); err != nil {
		t.Fatal(err)
	}
	if fresh != n {
		t.Errorf("%d of %d rows are fresh requests", fresh, n)
	}

	// The application withdraws all but 2,000 (a bulk write that selects
	// nothing, so it notifies nobody), then the service starts: its
	// catch-up finds the 2,000.
	if _, err := b.pool.Exec(t.Context(), `UPDATE contacts SET brevo_sync_status = 'New', brevo_processing_status = NULL
		WHERE email LIKE 'bulk%' AND split_part(substr(email, 5), '@', 1)::int > $1`, synced); err != nil {
		t.Fatal(err)
	}
	b.run(t, testConfig(), runOpts{})
	b.obs.completes(t, synced)

	// A second transaction of single-row selections while the service runs:
	// its one notification wakes it.
	b.insertMany(t, "later", synced)
	got, took = b.selectEachInOneTx(t, "later")
	t.Logf("%d more selected in one transaction in %v while the service ran", got, took.Round(time.Millisecond))
	if got != synced {
		t.Fatalf("selected %d rows, want %d", got, synced)
	}
	if notes := counter.count(t); len(notes) != 1 {
		t.Errorf("the second transaction queued %d notifications, want 1", len(notes))
	}
	b.obs.completes(t, 2*synced)

	want := map[string]int{"Complete/Complete": 2 * synced, "New/-": n - synced}
	if diff := cmp.Diff(want, b.states(t)); diff != "" {
		t.Errorf("row states (-want +got):\n%s", diff)
	}
	if st := b.sim.Stats(); st.Upserts != 2*synced {
		t.Errorf("Brevo received %d upserts, want %d", st.Upserts, 2*synced)
	}
	for _, c := range b.sim.Contacts() {
		if c.Upserts != 1 {
			t.Errorf("contact %s upserted %d times", c.Email, c.Upserts)
		}
	}
	counter.count(t) // reads what the service's pings queued meanwhile
	if u := b.queueUsage(t); u > 0.0001 {
		t.Errorf("pg_notification_queue_usage() = %v at the end, want ~0", u)
	}
}

// TestManyConcurrentSelectingTransactions: 16 application connections each
// commit 125 single-row selecting transactions while the service runs. Every
// commit succeeds without stalling, and every contact ends Complete, sent to
// Brevo exactly once.
//
// The count is kept down because these commits are bound by the server's
// WAL flushes, which NOTIFY serializes: Postgres holds a database-wide lock
// from queuing a transaction's notifications until its commit is flushed, so
// notifying commits cannot share a flush (group commit). 16 writers × 300
// took 8 s without -race (4 s with brevosync.skip_notify), 20–38 s with it
// on a loaded 2-core machine.
func TestManyConcurrentSelectingTransactions(t *testing.T) {
	t.Parallel()
	timed(t, t.Name())
	const writers, each = 16, 125
	const n = writers * each
	b := newBundle(t, brevotest.Config{NoRequestLog: true})
	emails := b.insertMany(t, "app", n)
	cfg := testConfig()
	cfg.Concurrency = 32
	b.run(t, cfg, runOpts{})

	// The application has its own pool, one connection per writer.
	pcfg, err := pgxpool.ParseConfig(b.dsn)
	if err != nil {
		t.Fatal(err)
	}
	pcfg.MaxConns = writers
	app, err := pgxpool.NewWithConfig(t.Context(), pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)

	latencies := make([][]time.Duration, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				email := emails[w*each+i]
				start := time.Now()
				err := pgx.BeginFunc(t.Context(), app, func(tx pgx.Tx) error {
					tag, err := tx.Exec(t.Context(), `UPDATE contacts
						SET brevo_sync_status = 'Selected', brevo_processing_status = 'Queued' WHERE email = $1`, email)
					if err == nil && tag.RowsAffected() != 1 {
						t.Errorf("selecting %s updated %d rows", email, tag.RowsAffected())
					}
					return err
				})
				if err != nil {
					t.Errorf("writer %d: selecting transaction %d failed: %v", w, i, err)
					return
				}
				latencies[w] = append(latencies[w], time.Since(start))
			}
		})
	}
	wg.Wait()
	all := slices.Concat(latencies...)
	slices.Sort(all)
	if len(all) != n {
		t.Fatalf("%d of %d selecting transactions committed", len(all), n)
	}
	p50, p99, worst := all[n/2], all[n*99/100], all[n-1]
	t.Logf("%d selecting transactions from %d connections: commit latency p50 %v, p99 %v, max %v",
		n, writers, p50.Round(time.Microsecond), p99.Round(time.Microsecond), worst.Round(time.Microsecond))
	if worst > 5*time.Second {
		t.Errorf("a selecting transaction took %v: the write path stalled", worst)
	}

	b.obs.completes(t, n)
	b.assertAllSyncedOnce(t, n)
	if u := b.queueUsage(t); u > 0.0001 {
		t.Errorf("pg_notification_queue_usage() = %v, want ~0", u)
	}
}
