package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brevosync/brevosync/cmd/brevosync/service"
	"github.com/brevosync/brevosync/sql/schematest"
	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// logBuffer collects a service's logs for a test to read.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serve runs the service in process with vars until the test ends and
// reports each outcome on the returned channel.
func serveInProcess(t *testing.T, vars map[string]string, logs io.Writer) (service.Serving, <-chan syncer.Outcome) {
	t.Helper()
	cfg, err := service.Load(getenvOf(vars), service.Serve)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	started := make(chan service.Serving, 1)
	outcomes := make(chan syncer.Outcome, 100)
	errc := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(logs, t.Output()), &slog.HandlerOptions{Level: slog.LevelInfo}))
	go func() {
		errc <- service.Run(ctx, cfg, logger, service.Hooks{
			Started:   func(s service.Serving) { started <- s },
			OnOutcome: func(o syncer.Outcome) { outcomes <- o },
		})
	}()
	var sv service.Serving
	select {
	case sv = <-started:
	case err := <-errc:
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(); <-errc })
	return sv, outcomes
}

// Behind a real PgBouncer in transaction mode (Supabase's port 6543):
// serve syncs through it, its statements work there, and without a
// DATABASE_LISTEN_URL it polls and says why (in the log, once, and in
// /readyz), keeping a selection's latency within seconds.
func TestServeThroughATransactionPooler(t *testing.T) {
	t.Parallel()
	for _, withListenURL := range []bool{true, false} {
		name := "without DATABASE_LISTEN_URL"
		if withListenURL {
			name = "with DATABASE_LISTEN_URL"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dsn := schematest.NewURL(t)
			pool := schematest.Pool(t, dsn)
			bouncer := schematest.PgBouncer(t, dsn, schematest.TransactionPooling)
			sim := brevotest.New(t, brevotest.Config{APIKey: "p-key"})
			vars := map[string]string{
				"DATABASE_URL":          bouncer,
				"BREVO_API_KEY":         "p-key",
				"BREVO_API_BASE_URL":    sim.URL(),
				"BREVO_SYNC_RATE_LIMIT": "0",
				"HTTP_ADDR":             "127.0.0.1:0",
			}
			if withListenURL {
				vars["DATABASE_LISTEN_URL"] = dsn
			}
			var logs logBuffer
			sv, outcomes := serveInProcess(t, vars, &logs)
			if err := sv.WaitListening(t.Context()); err != nil {
				t.Fatal(err)
			}
			if !withListenURL {
				deadline := time.Now().Add(20 * time.Second)
				for sv.Listener.Degraded() == "" {
					if time.Now().After(deadline) {
						t.Fatal("the listener did not notice that notifications cannot arrive through the pooler")
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			// Selections, a few at a time, each synced within seconds.
			for i := range 5 {
				start := time.Now()
				if _, err := pool.Exec(t.Context(), `INSERT INTO contacts (email, name, brevo_sync_status, brevo_processing_status)
					VALUES ($1, 'Pooled Contact', 'Selected', 'Queued')`, "pooled"+string(rune('a'+i))+"@example.com"); err != nil {
					t.Fatal(err)
				}
				select {
				case o := <-outcomes:
					if o.Result != syncer.ResultComplete {
						t.Fatalf("outcome %+v, want complete", o)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("selection %d not synced within 10s:\n%s", i, logs.String())
				}
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("selection %d took %v through the pooler, want at most about a second", i, d)
				}
			}
			resp, err := http.Get("http://" + sv.Addr.String() + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("/readyz = %d %s, want 200", resp.StatusCode, body)
			}
			if !withListenURL && !strings.Contains(string(body), "DATABASE_URL") {
				t.Errorf("/readyz body %q does not say that notifications do not arrive", body)
			}
			if withListenURL && strings.Contains(logs.String(), "LISTEN gets no notifications") {
				t.Errorf("with a direct DATABASE_LISTEN_URL the listener reported broken notifications:\n%s", logs.String())
			}
			if !strings.Contains(logs.String(), "goes through a connection pooler") {
				t.Errorf("the service did not notice the pooler:\n%s", logs.String())
			}
		})
	}
}
