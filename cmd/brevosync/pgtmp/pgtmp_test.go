package pgtmp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestClusterLifecycle(t *testing.T) {
	t.Parallel()
	if _, err := FindBinaries(); err != nil {
		t.Skipf("no Postgres binaries on this machine: %v", err)
	}
	ctx := t.Context()
	c, err := Start(ctx, Options{Logf: t.Logf})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })

	// Both URLs answer, and the settings we changed took effect.
	for _, u := range []string{c.URL(), c.TCPURL()} {
		if got := query(t, u, "SHOW max_connections"); got != "200" {
			t.Errorf("max_connections through %s = %s, want 200", u, got)
		}
	}
	execSQL(t, c.URL(), "CREATE TABLE survives (x int); INSERT INTO survives VALUES (42)")

	port := c.Port()
	if err := c.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if c.Port() != port {
		t.Errorf("Port after Restart = %d, want %d", c.Port(), port)
	}
	if got := query(t, c.URL(), "SELECT x::text FROM survives"); got != "42" {
		t.Errorf("row after Restart = %s, want 42", got)
	}

	pid := c.postmasterPID()
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Errorf("second Stop = %v, want nil", err)
	}
	if _, err := os.Stat(c.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat(%s) after Stop = %v, want not exist", c.Dir(), err)
	}
	if pid <= 0 || alive(pid) {
		t.Errorf("postmaster %d alive after Stop", pid)
	}
	if err := c.Restart(ctx); err == nil {
		t.Errorf("Restart after Stop = nil, want an error")
	}
}

// A Start cancelled half-way leaves nothing behind.
func TestStartCancelled(t *testing.T) {
	t.Parallel()
	if _, err := FindBinaries(); err != nil {
		t.Skipf("no Postgres binaries on this machine: %v", err)
	}
	var dir string
	ctx, cancel := context.WithCancel(t.Context())
	logf := func(format string, args ...any) {
		if strings.HasPrefix(format, "initdb %s") {
			dir = strings.TrimSuffix(args[0].(string), "/data")
			time.AfterFunc(100*time.Millisecond, cancel) // during initdb
		}
	}
	c, err := Start(ctx, Options{Logf: logf})
	if err == nil {
		_ = c.Stop(context.Background())
		t.Skip("initdb finished before the cancellation; nothing to check")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Start = %v, want context.Canceled", err)
	}
	if dir == "" {
		t.Fatal("initdb never started")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat(%s) after cancelled Start = %v, want not exist", dir, err)
	}
	if procs := processesUsing(dir); len(procs) > 0 {
		t.Errorf("processes still using %s after cancelled Start:\n%s", dir, strings.Join(procs, "\n"))
	}
}

// Stop with an ended context (a second Ctrl-C) still stops the server and
// removes everything, by an immediate shutdown.
func TestStopCancelled(t *testing.T) {
	t.Parallel()
	if _, err := FindBinaries(); err != nil {
		t.Skipf("no Postgres binaries on this machine: %v", err)
	}
	c, err := Start(t.Context(), Options{Logf: t.Logf})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	query(t, c.URL(), "SELECT 'up'")
	pid := c.postmasterPID()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop(cancelled) = %v, want nil", err)
	}
	if alive(pid) {
		t.Errorf("postmaster %d alive after Stop(cancelled)", pid)
	}
	if _, err := os.Stat(c.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat(%s) after Stop(cancelled) = %v, want not exist", c.Dir(), err)
	}
	if procs := processesUsing(c.Dir()); len(procs) > 0 {
		t.Errorf("processes still using %s:\n%s", c.Dir(), strings.Join(procs, "\n"))
	}
}

// processesUsing lists the live processes whose command line mentions dir
// (Linux only: nil without /proc).
func processesUsing(dir string) []string {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var out []string
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(b, []byte(dir)) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(f, "/proc/%d/cmdline", &pid); err != nil || !alive(pid) {
			continue
		}
		out = append(out, fmt.Sprintf("%d: %s", pid, bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
	}
	return out
}

func TestFindBinariesMissing(t *testing.T) {
	// Not parallel: changes PATH and searchGlobs.
	t.Setenv("PATH", t.TempDir())
	old := searchGlobs
	searchGlobs = []string{t.TempDir() + "/*/bin"}
	t.Cleanup(func() { searchGlobs = old })
	_, err := FindBinaries()
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("FindBinaries = %v, want ErrNotInstalled", err)
	}
	for _, want := range []string{"apt-get install postgresql", "brew install postgresql"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("FindBinaries error %q does not say %q", err, want)
		}
	}
}

func TestVersionOrder(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		dir  string
		want int
	}{
		{"/usr/lib/postgresql/9.6/bin", 9006},
		{"/usr/lib/postgresql/16/bin", 16000},
		{"/usr/pgsql-17/bin", 17000},
		{"/opt/homebrew/opt/postgresql@14/bin", 14000},
		{"/usr/local/pgsql/bin", 0},
	} {
		if got := version(tt.dir); got != tt.want {
			t.Errorf("version(%q) = %d, want %d", tt.dir, got, tt.want)
		}
	}
}

func query(t *testing.T, dsn, sql string) string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	defer conn.Close(context.Background())
	var s string
	if err := conn.QueryRow(t.Context(), sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func execSQL(t *testing.T, dsn, sql string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
