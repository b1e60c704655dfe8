package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brevosync/brevosync/cmd/brevosync/bench"
	"github.com/brevosync/brevosync/sql/schematest"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// process is brevosync serve running as a real child process (the test
// binary re-executed as main, see TestMain), so tests can signal and kill
// it: bench's child.
type process = bench.Child

// startProcess runs `brevosync serve` with vars and waits until /readyz
// answers 200; the process is killed at the end of the test.
func startProcess(t *testing.T, vars map[string]string) *process {
	t.Helper()
	env := map[string]string{"LOG_LEVEL": "debug"}
	for k, v := range vars {
		env[k] = v
	}
	// The test binary is brevosync itself with BREVOSYNC_TEST_MAIN=1.
	env["BREVOSYNC_TEST_MAIN"] = "1"
	p, err := bench.StartChild(t.Context(), os.Args[0], env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Cmd.Process.Kill()
		<-p.Done
		if t.Failed() {
			t.Logf("brevosync stderr:\n%s", p.Stderr.String())
		}
	})
	return p
}

// waitExit waits for the process to exit and returns its exit code.
func waitExit(t *testing.T, p *process, within time.Duration) int {
	t.Helper()
	select {
	case <-p.Done:
	case <-time.After(within):
		t.Fatalf("brevosync still running after %v", within)
	}
	var ee *exec.ExitError
	if errors.As(p.Err, &ee) {
		return ee.ExitCode()
	}
	if p.Err != nil {
		t.Fatal(p.Err)
	}
	return 0
}

type e2e struct {
	dsn  string
	pool *pgxpool.Pool
	sim  *brevotest.Server
}

func newE2E(t *testing.T, simCfg brevotest.Config) *e2e {
	t.Helper()
	dsn := schematest.NewURL(t)
	simCfg.APIKey = "e2e-key"
	return &e2e{dsn: dsn, pool: schematest.Pool(t, dsn), sim: brevotest.New(t, simCfg)}
}

func (e *e2e) vars(extra ...string) map[string]string {
	m := map[string]string{
		"DATABASE_URL":           e.dsn,
		"BREVO_API_KEY":          "e2e-key",
		"BREVO_API_BASE_URL":     e.sim.URL(),
		"BREVO_SYNC_RATE_LIMIT":  "0",
		"BREVO_SYNC_RETRY_DELAY": "100ms",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

// seed inserts n contacts and selects them in one statement.
func (e *e2e) seed(t *testing.T, prefix string, n int) {
	t.Helper()
	_, err := e.pool.Exec(t.Context(), `INSERT INTO contacts (email, name)
		SELECT $1 || i || '@example.com', 'Person ' || i FROM generate_series(1, $2) AS i`, prefix, n)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.pool.Exec(t.Context(), `UPDATE contacts SET brevo_sync_status='Selected', brevo_processing_status='Queued'
		WHERE email LIKE $1 || '%'`, prefix)
	if err != nil {
		t.Fatal(err)
	}
}

func (e *e2e) count(t *testing.T, where string) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(t.Context(), "SELECT count(*) FROM contacts WHERE "+where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitRows waits (polling the database, the only view a separate process
// gives) until where matches n rows.
func (e *e2e) waitRows(t *testing.T, where string, n int, within time.Duration) {
	t.Helper()
	e.waitCount(t, where, n, within, func(got int) bool { return got == n })
}

// waitAtLeast waits until at least n rows match where: for counts that
// keep growing while the test waits.
func (e *e2e) waitAtLeast(t *testing.T, where string, n int, within time.Duration) {
	t.Helper()
	e.waitCount(t, where, n, within, func(got int) bool { return got >= n })
}

func (e *e2e) waitCount(t *testing.T, where string, n int, within time.Duration, done func(int) bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := e.count(t, where)
		if done(got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rows where %s after %v, want %d", got, where, within, n)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestServeSyncsAndShutsDownOnSIGTERM(t *testing.T) {
	t.Parallel()
	e := newE2E(t, brevotest.Config{Latency: 300 * time.Millisecond})
	p := startProcess(t, e.vars("BREVO_SYNC_CONCURRENCY", "8", "BREVO_SYNC_SHUTDOWN_TIMEOUT", "5s"))

	e.seed(t, "term", 100)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := e.sim.WaitUpserts(ctx, 12); err != nil { // some done, 8 in flight
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, p, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))

	if n := e.count(t, "brevo_sync_status = 'Processing'"); n != 0 {
		t.Errorf("%d rows left Processing after shutdown", n)
	}
	if n := e.count(t, "brevo_retry_count <> 0 OR brevo_sync_status = 'Error'"); n != 0 {
		t.Errorf("%d rows charged an attempt or failed by the shutdown", n)
	}
	complete := e.count(t, "brevo_sync_status = 'Complete'")
	if complete == 0 || complete == 100 {
		t.Fatalf("%d of 100 complete; the test wants a shutdown mid-run", complete)
	}
	// Everything the process finished, Brevo has; nothing it finished is lost.
	if st := e.sim.Stats(); st.Created < complete {
		t.Errorf("Brevo created %d contacts but %d rows are Complete", st.Created, complete)
	}

	// A new process picks the rest up at start, long before any sweep.
	startProcess(t, e.vars("BREVO_SYNC_SWEEP_INTERVAL", "1h"))
	e.waitRows(t, "brevo_sync_status = 'Complete'", 100, 30*time.Second)
}

func TestSIGKILLMidRequestLeavesNothingStuck(t *testing.T) {
	t.Parallel()
	e := newE2E(t, brevotest.Config{})
	e.sim.Script("kill1@example.com", brevotest.Fault{Latency: time.Hour}) // never answered
	p := startProcess(t, e.vars("BREVO_SYNC_LEASE", "3s", "BREVO_REQUEST_TIMEOUT", "1s"))

	e.seed(t, "kill", 1)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := e.sim.WaitUpserts(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := p.Cmd.Process.Kill(); err != nil { // SIGKILL, mid-request
		t.Fatal(err)
	}
	waitExit(t, p, 10*time.Second)
	if n := e.count(t, "brevo_sync_status = 'Processing'"); n != 1 {
		t.Fatalf("%d rows Processing after SIGKILL, want the claimed one", n)
	}

	// The next process takes the claim back when its lease expires, without
	// waiting for the sweep.
	startProcess(t, e.vars("BREVO_SYNC_SWEEP_INTERVAL", "1h"))
	e.waitRows(t, "brevo_sync_status = 'Complete' AND brevo_retry_count = 0", 1, 30*time.Second)
	if n := len(e.sim.UpsertsFor("kill1@example.com")); n != 2 {
		t.Errorf("Brevo received %d requests, want 2 (the one cut by the kill, then one more)", n)
	}
}

func TestContactsSelectedWhileDownAreSyncedAtStart(t *testing.T) {
	t.Parallel()
	e := newE2E(t, brevotest.Config{})
	e.seed(t, "down", 20)
	startProcess(t, e.vars("BREVO_SYNC_SWEEP_INTERVAL", "1h"))
	e.waitRows(t, "brevo_sync_status = 'Complete'", 20, 30*time.Second)
}
