package main

// Shared helpers for the command tests that need a database or stdin.

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brevosync/brevosync/cmd/brevosync/cli"
	"github.com/brevosync/brevosync/sql/schematest"
)

// runWithStdin runs one command line in process, like runCmd, with stdin
// (nil: no stdin at all).
func runWithStdin(t *testing.T, vars map[string]string, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, &cli.Env{
		Getenv: func(k string) string { return vars[k] },
		Stdin:  stdin,
		Stdout: &out,
		Stderr: &errb,
	})
	return code, out.String(), errb.String()
}

// testDB is a database of this test's own, with a pool on it for setting up
// and checking rows.
type testDB struct {
	url  string
	pool *pgxpool.Pool
}

// vars is an environment naming the database.
func (d testDB) vars() map[string]string { return map[string]string{"DATABASE_URL": d.url} }

// exec runs SQL on the database, failing the test on error.
func (d testDB) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := d.pool.Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("exec %s: %v", sql, err)
	}
}

// newTestDB is a fresh database with brevosync's schema.
func newTestDB(t *testing.T) testDB {
	t.Helper()
	url := schematest.NewURL(t)
	return testDB{url: url, pool: schematest.Pool(t, url)}
}

// newLegacyDB is a database with the existing application's schema and rows
// (sql/testdata/legacy.sql); migrated runs 'brevosync migrate' on it.
func newLegacyDB(t *testing.T, migrated bool) testDB {
	t.Helper()
	url := schematest.NewEmptyURL(t)
	d := testDB{url: url, pool: schematest.Pool(t, url)}
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "sql", "testdata", "legacy.sql"))
	if err != nil {
		t.Fatal(err)
	}
	d.exec(t, string(b))
	if migrated {
		if code, _, stderr := runCmd(t, d.vars(), "migrate"); code != 0 {
			t.Fatalf("migrate: exit %d\n%s", code, stderr)
		}
	}
	return d
}

// notifications counts the NOTIFYs on brevosync's channel.
type notifications struct {
	conn *pgx.Conn
	pool *pgxpool.Pool
}

// listen starts counting the notifications sent on the brevosync channel
// from now on.
func listen(t *testing.T, d testDB) *notifications {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), d.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(t.Context(), "LISTEN brevosync"); err != nil {
		t.Fatal(err)
	}
	return &notifications{conn: conn, pool: d.pool}
}

// count returns how many notifications arrived since listen or the last
// count. It sends a marker notification and reads up to it: notifications
// are delivered in commit order, so no waiting for silence is needed.
func (n *notifications) count(t *testing.T) int {
	t.Helper()
	const marker = "end-of-count"
	if _, err := n.pool.Exec(t.Context(), "SELECT pg_notify('brevosync', $1)", marker); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for c := 0; ; c++ {
		note, err := n.conn.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("wait for notifications (%d so far): %v", c, err)
		}
		if note.Payload == marker {
			return c
		}
	}
}

// getenvOf is an environment of vars only.
func getenvOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}
