package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brevosync/brevosync/cmd/brevosync/cli"
	"github.com/brevosync/brevosync/cmd/brevosync/pgtmp"
	"github.com/brevosync/brevosync/sql/schematest"
)

// demoTestOutput is a goroutine-safe writer that can signal when a string
// appears in what was written.
type demoTestOutput struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	watch string
	seen  chan struct{}
}

func (w *demoTestOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.seen != nil && w.watch != "" && strings.Contains(w.buf.String(), w.watch) {
		close(w.seen)
		w.seen = nil
	}
	return len(p), nil
}

func (w *demoTestOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func demoTestEnv(vars map[string]string, stdout, stderr *demoTestOutput) *cli.Env {
	return &cli.Env{
		Getenv: func(k string) string { return vars[k] },
		Stdin:  strings.NewReader(""),
		Stdout: stdout,
		Stderr: stderr,
	}
}

// run runs the demo with flags as `brevosync demo` takes them and returns
// its exit status: 0, or 1 after printing the error as the command does.
func run(ctx context.Context, args []string, e *cli.Env) int {
	var o Options
	for _, a := range args[1:] {
		switch a {
		case "-json":
			o.JSON = true
		case "-cluster":
			o.Cluster = true
		case "-v":
			o.Verbose = true
		case "-keep":
			o.Keep = true
		}
	}
	if err := Run(ctx, e, o); err != nil {
		fmt.Fprintf(e.Stderr, "brevosync demo: %v\n", err)
		return 1
	}
	return 0
}

// The demo on DATABASE_URL: one JSON object on stdout that matches the final
// line and the rows it leaves behind.
func TestDemoDatabaseURL(t *testing.T) {
	t.Parallel()
	dsn := schematest.NewURL(t)
	var stdout, stderr demoTestOutput
	start := time.Now()
	code := run(t.Context(), []string{"demo", "-json"}, demoTestEnv(map[string]string{"DATABASE_URL": dsn}, &stdout, &stderr))
	if code != 0 {
		t.Fatalf("demo -json = %d, want 0; stderr:\n%s", code, stderr.String())
	}
	t.Logf("demo took %s", time.Since(start).Round(time.Millisecond))

	var got demoResult
	dec := json.NewDecoder(strings.NewReader(stdout.String()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout.String())
	}
	if dec.More() {
		t.Errorf("stdout holds more than one JSON value:\n%s", stdout.String())
	}
	want := demoState{Total: 50, Complete: 49, Failed: 1, Confirmed: 49}
	if got.demoState != want || !got.OK || got.Mode != demoModeURL || got.BrevoRequests != 52 || len(got.Problems) > 0 {
		t.Errorf("demo JSON = %+v, want ok, mode %s, state %+v, 52 requests", got, demoModeURL, want)
	}
	if line := "demo: final state " + want.line() + "\n"; !strings.HasSuffix(stderr.String(), line) {
		t.Errorf("stderr does not end with %q:\n%s", line, stderr.String())
	}

	// The rows stay, as the JSON says.
	pool := schematest.Pool(t, dsn)
	st, err := demoTestState(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if st != want {
		t.Errorf("contacts after the demo = %+v, want %+v", st, want)
	}
	var wrongDomain, replicas int
	err = pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM contacts WHERE NOT (`+demoEmailMatch+`)),
		(SELECT count(*) FROM brevosync_nodes)`).Scan(&wrongDomain, &replicas)
	if err != nil {
		t.Fatal(err)
	}
	if wrongDomain != 0 || replicas != 0 {
		t.Errorf("after the demo: %d contacts outside @%s and %d registered replicas, want 0 and 0",
			wrongDomain, demoDomain, replicas)
	}

	// Again on the same database: the earlier demo's contacts are replaced,
	// so the numbers are the same.
	stdout, stderr = demoTestOutput{}, demoTestOutput{}
	if code := run(t.Context(), []string{"demo", "-json"}, demoTestEnv(map[string]string{"DATABASE_URL": dsn}, &stdout, &stderr)); code != 0 {
		t.Fatalf("second demo -json = %d, want 0; stderr:\n%s", code, stderr.String())
	}
	if st, err := demoTestState(t.Context(), pool); err != nil || st != want {
		t.Errorf("contacts after a second demo = %+v, %v, want %+v", st, err, want)
	}
}

// The demo refuses a database where it would sync other contacts.
func TestDemoRefusesPendingContacts(t *testing.T) {
	t.Parallel()
	dsn := schematest.NewURL(t)
	pool := schematest.Pool(t, dsn)
	_, err := pool.Exec(t.Context(), `INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status)
		VALUES ('someone@example.com', 'Selected', 'Queued')`)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr demoTestOutput
	if code := run(t.Context(), []string{"demo"}, demoTestEnv(map[string]string{"DATABASE_URL": dsn}, &stdout, &stderr)); code != 1 {
		t.Fatalf("demo = %d, want 1; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "1 contacts (not the demo's) waiting") {
		t.Errorf("stderr does not explain the refusal:\n%s", stderr.String())
	}
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM contacts WHERE brevo_sync_status = 'Selected'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("the pending contact: %d Selected, %v; want it untouched", n, err)
	}
}

// Without Postgres, the demo says how to install it.
func TestDemoNoPostgres(t *testing.T) {
	// Not parallel: replaces demoFindBinaries (parallel tests wait for
	// this one to finish).
	old := demoFindBinaries
	demoFindBinaries = func() (string, error) { return "", fmt.Errorf("find initdb: %w", pgtmp.ErrNotInstalled) }
	t.Cleanup(func() { demoFindBinaries = old })
	var stdout, stderr demoTestOutput
	if code := run(t.Context(), []string{"demo", "-cluster"}, demoTestEnv(nil, &stdout, &stderr)); code != 1 {
		t.Fatalf("demo = %d, want 1; stderr:\n%s", code, &stderr)
	}
	for _, want := range []string{"apt-get install postgresql", "brew install postgresql"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, &stderr)
		}
	}
}

// Cancelling the demo (Ctrl-C) at any point leaves no cluster behind.
func TestDemoInterruptedCleansUp(t *testing.T) {
	t.Parallel()
	if _, err := pgtmp.FindBinaries(); err != nil {
		t.Skipf("no Postgres binaries on this machine: %v", err)
	}
	for _, tt := range []struct {
		name  string
		after string // cancel when the narrative shows this
		delay time.Duration
	}{
		{"during initdb", "· initdb /", 200 * time.Millisecond},
		{"while syncing", "Selecting the other", 300 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout := &demoTestOutput{watch: tt.after, seen: make(chan struct{})}
			seen := stdout.seen
			var stderr demoTestOutput
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, []string{"demo", "-cluster", "-v"}, demoTestEnv(nil, stdout, &stderr))
			}()
			select {
			case <-seen:
			case code := <-done:
				t.Fatalf("demo = %d before %q; stdout:\n%s\nstderr:\n%s", code, tt.after, stdout, &stderr)
			case <-time.After(time.Minute):
				t.Fatalf("no %q after a minute; stdout:\n%s", tt.after, stdout)
			}
			time.Sleep(tt.delay)
			cancel()
			var code int
			select {
			case code = <-done:
			case <-time.After(time.Minute):
				t.Fatalf("demo still running a minute after the cancellation; stdout:\n%s", stdout)
			}
			out := stdout.String()
			if code != 1 || !strings.Contains(stderr.String(), "interrupted") {
				t.Errorf("demo after cancel = %d, stderr:\n%s\nwant 1 and \"interrupted\"", code, &stderr)
			}
			m := regexp.MustCompile(`initdb (/\S+)/data`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no cluster directory in the output:\n%s", out)
			}
			dir := m[1]
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Stat(%s) after the demo = %v, want not exist", dir, err)
			}
			if procs := demoTestProcessesUsing(t, dir); len(procs) > 0 {
				t.Errorf("processes still using %s after the demo:\n%s", dir, strings.Join(procs, "\n"))
			}
		})
	}
}

// demoTestProcessesUsing lists the live processes whose command line
// mentions dir (Linux; skipped elsewhere).
func demoTestProcessesUsing(t *testing.T, dir string) []string {
	t.Helper()
	cmdlines, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil || len(cmdlines) == 0 {
		t.Log("no /proc: cannot look for leftover processes")
		return nil
	}
	var out []string
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(b, []byte(dir)) {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join(filepath.Dir(f), "stat"))
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue // exited, not yet reaped by init
		}
		out = append(out, fmt.Sprintf("%s: %s", filepath.Dir(f), bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
	}
	return out
}

// demoTestState counts the contacts table with SQL of its own, to check the
// demo's (and status's) numbers.
func demoTestState(ctx context.Context, pool *pgxpool.Pool) (demoState, error) {
	var s demoState
	err := pool.QueryRow(ctx, `SELECT count(*),
		count(*) FILTER (WHERE brevo_sync_status = 'New'),
		count(*) FILTER (WHERE brevo_sync_status IN ('Selected', 'Queued')),
		count(*) FILTER (WHERE brevo_sync_status = 'Processing'),
		count(*) FILTER (WHERE brevo_sync_status = 'Complete'),
		count(*) FILTER (WHERE brevo_sync_status = 'Error'),
		count(*) FILTER (WHERE brevo_sync_status = 'Skipped'),
		count(*) FILTER (WHERE brevo_confirmed_at IS NOT NULL)
		FROM contacts`).Scan(&s.Total, &s.New, &s.Pending, &s.Processing, &s.Complete, &s.Failed, &s.Skipped, &s.Confirmed)
	return s, err
}
