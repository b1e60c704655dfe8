package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brevosync/brevosync/cmd/brevosync/pgtmp"
	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/sql/schematest"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// long reports whether the long fault tests run (make test/long).
func long() bool { return os.Getenv("BREVOSYNC_LONG") != "" }

// startCluster starts a throwaway Postgres this test owns (it will be
// restarted), creates and migrates a database, and returns its URL.
func startCluster(t *testing.T) (*pgtmp.Cluster, string) {
	t.Helper()
	if _, err := pgtmp.FindBinaries(); err != nil {
		t.Skipf("needs the Postgres server binaries: %v", err)
	}
	c, err := pgtmp.Start(t.Context(), pgtmp.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("%v; stop it with: %s", err, c.StopCommand())
		}
	})
	conn, err := pgx.Connect(t.Context(), c.TCPURL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), "CREATE DATABASE app"); err != nil {
		t.Fatal(err)
	}
	conn.Close(t.Context())
	dsn, err := pgtmp.WithDatabase(c.TCPURL(), "app")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := schema.Migrate(t.Context(), pool, nil); err != nil {
		t.Fatal(err)
	}
	return c, dsn
}

func TestPostgresRestartWhileSelecting(t *testing.T) {
	t.Parallel()
	cluster, dsn := startCluster(t)
	sim := brevotest.New(t, brevotest.Config{APIKey: "e2e-key"})
	e := &e2e{dsn: dsn, sim: sim, pool: schematest.Pool(t, dsn)}
	p := startProcess(t, e.vars("BREVO_SYNC_SWEEP_INTERVAL", "1h"))

	// /readyz, watched throughout.
	var sawDown, sawUpAgain atomic.Bool
	watchCtx, stopWatch := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		for watchCtx.Err() == nil {
			resp, err := http.Get("http://" + p.Addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusServiceUnavailable:
					sawDown.Store(true)
				case resp.StatusCode == http.StatusOK && sawDown.Load():
					sawUpAgain.Store(true)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	// The application keeps selecting, one contact per transaction; a write
	// that fails while Postgres is down was never committed, so it is not a
	// selection that could be lost. Writes go through a connection opened
	// per attempt, as an application reconnects.
	var committed atomic.Int64
	selectCtx, stopSelecting := context.WithCancel(t.Context())
	wg.Go(func() {
		for i := 0; selectCtx.Err() == nil; i++ {
			ctx, cancel := context.WithTimeout(selectCtx, 2*time.Second)
			conn, err := pgx.Connect(ctx, dsn)
			if err == nil {
				_, err = conn.Exec(ctx, `INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status)
					VALUES ($1, 'Selected', 'Queued')`, fmt.Sprintf("restart%d@example.com", i))
				conn.Close(ctx)
			}
			cancel()
			if err == nil {
				committed.Add(1)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})

	e.waitAtLeast(t, "brevo_sync_status = 'Complete'", 20, 30*time.Second) // running before the restart
	if err := cluster.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Keep selecting until the service is back and has synced a few more.
	deadline := time.Now().Add(30 * time.Second)
	for !sawUpAgain.Load() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	before := committed.Load()
	for committed.Load() < before+20 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stopSelecting()
	stopWatch()
	wg.Wait()

	if !sawDown.Load() || !sawUpAgain.Load() {
		t.Errorf("/readyz: went 503 = %v, back to 200 = %v; want both", sawDown.Load(), sawUpAgain.Load())
	}
	select {
	case <-p.Done:
		t.Fatalf("brevosync exited during the restart: %v", p.Err)
	default:
	}
	// Every row is a selection that committed. A write the restart cut
	// off may have committed unseen (its answer lost), so there may be more
	// rows than acknowledged commits, never fewer.
	n, acked := e.count(t, "true"), int(committed.Load())
	if n < acked {
		t.Errorf("%d rows for %d acknowledged selections", n, acked)
	}
	e.waitRows(t, "brevo_sync_status = 'Complete'", n, 30*time.Second)
	t.Logf("%d selections committed across the restart (%d acknowledged), all Complete", n, acked)
}

func TestSIGKILLRounds(t *testing.T) {
	t.Parallel()
	rounds, contacts := 4, 300
	if long() {
		rounds, contacts = 40, 3000
	}
	e := newE2E(t, brevotest.Config{})
	vars := e.vars("BREVO_SYNC_LEASE", "2s", "BREVO_REQUEST_TIMEOUT", "1s", "BREVO_SYNC_CONCURRENCY", "8",
		"BREVO_SYNC_SWEEP_INTERVAL", "1h")
	e.seed(t, "round", contacts)

	// Requests take 0-5 ms, so kills land before, during and after them.
	e.sim.SetLatency(2 * time.Millisecond)
	inFlightAtKill := map[string]bool{} // emails claimed (Processing) when a process died
	for round := range rounds {
		p := startProcess(t, vars)
		if round%2 == 0 {
			// Kill mid-request: from inside Brevo's handler.
			killAt := e.sim.Stats().Upserts + 1 + rand.IntN(20)
			var once sync.Once
			e.sim.OnUpsert(func(brevotest.Request) {
				if e.sim.Stats().Upserts >= killAt {
					once.Do(func() { _ = p.Cmd.Process.Kill() })
				}
			})
			select { // in case the work ran out before the kill point
			case <-p.Done:
			case <-time.After(5 * time.Second):
				_ = p.Cmd.Process.Kill()
			}
		} else {
			time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond)
			_ = p.Cmd.Process.Kill()
		}
		waitExit(t, p, 30*time.Second)
		e.sim.OnUpsert(nil)
		rows, err := e.pool.Query(t.Context(), `SELECT lower(email) FROM contacts WHERE brevo_sync_status = 'Processing'`)
		if err != nil {
			t.Fatal(err)
		}
		emails, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range emails {
			inFlightAtKill[m] = true
		}
	}

	startProcess(t, vars)
	e.waitRows(t, "brevo_sync_status = 'Complete'", contacts, 60*time.Second)
	if n := e.count(t, "brevo_retry_count <> 0"); n != 0 {
		t.Errorf("%d contacts charged an attempt for a kill", n)
	}
	twice := 0
	for _, c := range e.sim.Contacts() {
		if c.Upserts > 1 {
			twice++
			if !inFlightAtKill[c.Email] {
				t.Errorf("%s sent %d times but was not in flight at any kill", c.Email, c.Upserts)
			}
		}
	}
	if got := len(e.sim.Contacts()); got != contacts {
		t.Errorf("Brevo has %d contacts, want %d", got, contacts)
	}
	t.Logf("%d rounds: %d contacts in flight at a kill, %d sent more than once", rounds, len(inFlightAtKill), twice)
}
