package main

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/brevosync/brevosync/cmd/brevosync/service"
	"github.com/brevosync/brevosync/sql/schematest"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// TestSoak runs the whole service in process under mixed load — selections,
// webhooks, Brevo faults, a revoked key, listener disconnections — then
// checks that nothing is stuck and that goroutines and heap are back to
// their baseline. It runs 15 s in `make test`; BREVOSYNC_SOAK=10m (and
// `make test/long`, which sets 10 minutes) runs it longer.
func TestSoak(t *testing.T) {
	// Not parallel: goroutines and heap are the whole test binary's, and
	// the package's other tests, run beside it, made them grow (18 to 69 MB
	// in one CI run). Sequential tests run before the parallel ones start.
	duration := 15 * time.Second
	if long() {
		duration = 10 * time.Minute
	}
	if d, err := time.ParseDuration(os.Getenv("BREVOSYNC_SOAK")); err == nil {
		duration = d
	}

	dsn := schematest.NewURL(t)
	pool := schematest.Pool(t, dsn)
	sim := brevotest.New(t, brevotest.Config{APIKey: "soak-key", NoRequestLog: true})
	cfg, err := service.Load(getenvOf(map[string]string{
		"DATABASE_URL":              dsn,
		"BREVO_API_KEY":             "soak-key",
		"BREVO_API_BASE_URL":        sim.URL(),
		"BREVO_LIST_ID":             "7",
		"BREVO_WEBHOOK_TOKEN":       "soak-token",
		"BREVO_SYNC_RATE_LIMIT":     "0",
		"BREVO_SYNC_RETRY_DELAY":    "200ms",
		"BREVO_SYNC_MAX_RETRIES":    "6",
		"BREVO_SYNC_LEASE":          "5s",
		"BREVO_REQUEST_TIMEOUT":     "1s",
		"BREVO_SYNC_SWEEP_INTERVAL": "2s",
		"HTTP_ADDR":                 "127.0.0.1:0",
	}), service.Serve)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := context.WithCancel(context.Background())
	started := make(chan service.Serving, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- service.Run(ctx, cfg, logger, service.Hooks{Started: func(s service.Serving) { started <- s }})
	}()
	var sv service.Serving
	select {
	case sv = <-started:
	case err := <-errc:
		t.Fatal(err)
	}
	defer func() {
		stop()
		if err := <-errc; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	sim.SetWebhook("http://"+sv.Addr.String()+"/webhooks/brevo", "soak-token")

	const contacts = 2000
	if _, err := pool.Exec(t.Context(), `INSERT INTO contacts (email, name)
		SELECT 'soak' || i || '@example.com', 'Soak ' || i FROM generate_series(1, $1) AS i`, contacts); err != nil {
		t.Fatal(err)
	}
	selectSome := func(ctx context.Context) {
		n := 1 + rand.IntN(20)
		start := 1 + rand.IntN(contacts-n)
		_, _ = pool.Exec(ctx, `UPDATE contacts SET brevo_sync_status='Selected', brevo_processing_status='Queued'
			WHERE email = ANY(SELECT 'soak' || i || '@example.com' FROM generate_series($1::int, $2::int) AS i)`, start, start+n)
	}
	// load runs traffic and faults for d.
	load := func(d time.Duration, faults bool) {
		lctx, cancel := context.WithTimeout(t.Context(), d)
		defer cancel()
		var wg sync.WaitGroup
		wg.Go(func() {
			for lctx.Err() == nil {
				selectSome(lctx)
				time.Sleep(20 * time.Millisecond)
			}
		})
		if faults {
			wg.Go(func() {
				for i := 0; lctx.Err() == nil; i++ {
					switch i % 6 {
					case 0:
						sim.ScriptAll(brevotest.Fault{Status: 500}, brevotest.Fault{Status: 502}, brevotest.Fault{Status: 503})
					case 1:
						sim.ScriptAll(brevotest.Fault{Status: 429, Reset: 200 * time.Millisecond})
					case 2:
						sim.ScriptAll(brevotest.Fault{Drop: true}, brevotest.Fault{Latency: 1500 * time.Millisecond})
					case 3:
						sim.SetAPIKey("revoked")
						time.Sleep(time.Second)
						sim.SetAPIKey("soak-key")
					case 4:
						_, _ = pool.Exec(lctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
							WHERE application_name = 'brevosync-listener' AND datname = current_database()`)
					case 5:
						sim.ScriptAll(brevotest.Fault{Status: 400})
					}
					select {
					case <-lctx.Done():
					case <-time.After(time.Second):
					}
				}
			})
		}
		wg.Wait()
	}
	settle := func() {
		t.Helper()
		sim.SetFault(nil)
		sim.SetAPIKey("soak-key")
		deadline := time.Now().Add(60 * time.Second)
		for {
			var busy int
			err := pool.QueryRow(t.Context(), `SELECT count(*) FROM contacts
				WHERE brevo_sync_status IN ('Selected', 'Queued', 'Processing')`).Scan(&busy)
			if err != nil {
				t.Fatal(err)
			}
			if busy == 0 && sim.Stats().WebhooksPending == 0 {
				return // and Brevo's webhooks about it delivered: their parsing is not a leak
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d contacts still waiting or in flight 60s after the load stopped", busy)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	measure := func() (goroutines int, heapMB float64) {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return runtime.NumGoroutine(), float64(m.HeapAlloc) / (1 << 20)
	}

	// Warm up with the same traffic, so pools and connections are at their
	// working size, then take the baseline.
	load(3*time.Second, true)
	settle()
	baseG, baseHeap := measure()

	load(duration, true)
	settle()
	g, heap := measure()
	t.Logf("after %v: goroutines %d (baseline %d), heap %.1f MB (baseline %.1f MB); Brevo saw %+v",
		duration, g, baseG, heap, baseHeap, sim.Stats())

	// Idle keep-alive connections to Brevo (3 goroutines each, client and
	// simulator) may number up to the concurrency at either point; a leak
	// grows with the work done, far past that.
	if slack := 3*cfg.Concurrency + 10; g > baseG+slack {
		var buf bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
		t.Errorf("goroutines grew from %d to %d:\n%s", baseG, g, buf.String())
	}
	if heap > 2*baseHeap+8 {
		t.Errorf("heap grew from %.1f MB to %.1f MB", baseHeap, heap)
	}
	var processing, failedOther int
	err = pool.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE brevo_sync_status = 'Processing'),
		count(*) FILTER (WHERE brevo_sync_status = 'Error' AND brevo_processing_error NOT LIKE 'rejected by Brevo%')
		FROM contacts`).Scan(&processing, &failedOther)
	if err != nil {
		t.Fatal(err)
	}
	if processing != 0 {
		t.Errorf("%d contacts left Processing", processing)
	}
	if failedOther != 0 {
		t.Errorf("%d contacts failed for something other than a 400 (retries exhausted?)", failedOther)
	}
}
