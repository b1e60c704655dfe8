package schema_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/sql/schematest"
)

// signalHandler logs to the test's output and sends every record at warn
// or above on warns (dropping it if nobody reads: Migrate must not block).
type signalHandler struct {
	slog.Handler
	warns chan slog.Record
}

func newSignalLogger(t *testing.T) (*slog.Logger, <-chan slog.Record) {
	warns := make(chan slog.Record, 64)
	h := slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(signalHandler{h, warns}), warns
}

func (h signalHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		select {
		case h.warns <- r.Clone():
		default:
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h signalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return signalHandler{h.Handler.WithAttrs(as), h.warns}
}

func (h signalHandler) WithGroup(name string) slog.Handler {
	return signalHandler{h.Handler.WithGroup(name), h.warns}
}

// attr returns the value of a record's attribute key.
func attr(r slog.Record, key string) (slog.Value, bool) {
	var v slog.Value
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v, found = a.Value, true
			return false
		}
		return true
	})
	return v, found
}

// liveTable is a production database with some thousands of contacts and
// an application transaction holding one of them (uncommitted).
type liveTable struct {
	pool    *pgxpool.Pool
	slow    pgx.Tx
	slowPID int64
	others  []string // contact ids the slow transaction does not hold
}

func newLiveTable(t *testing.T) *liveTable {
	t.Helper()
	ctx := t.Context()
	pool := schematest.Pool(t, schematest.NewProductionURL(t))
	_, err := pool.Exec(ctx, `INSERT INTO contacts (email, name, domain_id, page_id, email_type, created_at, updated_at)
		SELECT 'bulk' || i || '@example.com', 'Bulk ' || i, 'd0000000-0000-0000-0000-000000000001',
		       'a0000000-0000-0000-0000-000000000001', 'FREE', now(), now()
		FROM generate_series(1, 5000) AS i`)
	if err != nil {
		t.Fatalf("seed contacts: %v", err)
	}
	lt := &liveTable{pool: pool}
	rows, _ := pool.Query(ctx, `SELECT id::text FROM contacts WHERE email LIKE 'bulk%' ORDER BY email LIMIT 500`)
	if lt.others, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	// The slow application transaction: one row updated, not committed.
	if lt.slow, err = pool.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lt.slow.Rollback(context.Background()) })
	if _, err := lt.slow.Exec(ctx, `UPDATE contacts SET name = 'slow' WHERE id = 'c0000000-0000-0000-0000-000000000001'`); err != nil {
		t.Fatal(err)
	}
	if err := lt.slow.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&lt.slowPID); err != nil {
		t.Fatal(err)
	}
	return lt
}

// writer updates other contacts one statement at a time, as the
// application does, until stopped, and records each statement's latency.
type writer struct {
	started  chan struct{} // closed after the first statement
	stop     chan struct{}
	stopOnce sync.Once
	exited   chan struct{} // closed when the goroutine has returned its connection

	mu        sync.Mutex
	latencies []time.Duration
	err       error
}

// startWriter starts a writer on ids, stopped at the end of the test at
// the latest.
func startWriter(t *testing.T, pool *pgxpool.Pool, ids []string) *writer {
	w := &writer{started: make(chan struct{}), stop: make(chan struct{}), exited: make(chan struct{})}
	conn, err := pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.exited)
		defer conn.Release()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			start := time.Now()
			_, err := conn.Exec(context.Background(), `UPDATE contacts SET updated_at = now() WHERE id = $1`, ids[i%len(ids)])
			w.mu.Lock()
			w.latencies = append(w.latencies, time.Since(start))
			w.err = err
			w.mu.Unlock()
			if err != nil {
				return
			}
			if i == 0 {
				close(w.started)
			}
		}
	}()
	t.Cleanup(w.halt)
	return w
}

// halt stops the writer and waits for it.
func (w *writer) halt() {
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.exited
}

// finish stops the writer and returns its statements' latencies.
func (w *writer) finish(t *testing.T) []time.Duration {
	t.Helper()
	w.halt()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		t.Fatalf("writer: %v", w.err)
	}
	return slices.Clone(w.latencies)
}

// A first migrate on a live table: a DDL statement that cannot get its
// lock gives up after LockTimeout (so the application's writes queue behind
// it for at most that), Migrate says who it waits for and retries until the
// transaction holding the table ends.
func TestMigrateOnALiveTableDoesNotStopWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	lt := newLiveTable(t)
	w := startWriter(t, lt.pool, lt.others)
	select {
	case <-w.started:
	case <-w.exited:
		w.finish(t)
	}

	logger, warns := newSignalLogger(t)
	mctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	type result struct {
		applied []int64
		err     error
	}
	done := make(chan result, 1)
	go func() {
		applied, err := schema.Migrate(mctx, lt.pool, logger)
		done <- result{applied, err}
	}()

	// Two lock waits given up: writers have lived through two of them.
	for n := 0; n < 2; n++ {
		select {
		case r := <-warns:
			if pid, ok := attr(r, "blocking_pid"); !ok || pid.Int64() != lt.slowPID {
				t.Errorf("lock wait logged blocking_pid %v (found %v), want the slow transaction's %d: %s",
					pid, ok, lt.slowPID, r.Message)
			}
			if age, ok := attr(r, "blocking_xact_age"); !ok || age.Duration() <= 0 {
				t.Errorf("lock wait logged blocking_xact_age %v (found %v), want its age", age, ok)
			}
		case res := <-done:
			t.Fatalf("Migrate returned (%v, %v) while a transaction held a row of contacts", res.applied, res.err)
		case <-time.After(30 * schema.LockTimeout):
			t.Fatalf("Migrate logged no lock wait in %v while a transaction held a row of contacts", 30*schema.LockTimeout)
		}
	}
	if err := lt.slow.Commit(ctx); err != nil {
		t.Fatalf("commit the slow transaction: %v", err)
	}
	res := <-done
	latencies := w.finish(t)
	if res.err != nil {
		t.Fatalf("Migrate after the slow transaction ended: %v", res.err)
	}
	if len(res.applied) == 0 {
		t.Error("Migrate applied nothing")
	}
	info, err := schema.Inspect(ctx, lt.pool)
	if err != nil {
		t.Fatal(err)
	}
	if missing := info.Missing(); len(missing) > 0 {
		t.Errorf("schema incomplete after Migrate: %v", missing)
	}

	worst := slices.Max(latencies)
	t.Logf("writer: %d statements during migrate, worst %v (lock timeout %v)", len(latencies), worst, schema.LockTimeout)
	if limit := schema.LockTimeout + schema.LockTimeout/2; worst > limit {
		t.Errorf("a write waited %v behind migrate, want at most %v", worst, limit)
	}
}

// Migrate keeps retrying while the table is held, and gives up when its
// context ends, saying why.
func TestMigrateGivesUpWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	lt := newLiveTable(t)
	logger, warns := newSignalLogger(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*schema.LockTimeout+schema.LockTimeout/2)
	defer cancel()
	_, err := schema.Migrate(ctx, lt.pool, logger)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Migrate with the table held = %v, want the context's deadline", err)
	}
	if len(warns) == 0 {
		t.Error("Migrate logged no lock wait")
	}
	info, err := schema.Inspect(t.Context(), lt.pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Missing()) == 0 {
		t.Error("schema complete although contacts was held throughout")
	}
}
