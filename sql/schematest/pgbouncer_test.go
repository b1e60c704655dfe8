package schematest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brevosync/brevosync/sql/schematest"
)

// connect opens one pgx connection on dsn, closed at the end of the test.
// Through a transaction-mode pooler, pgx's cached prepared statements
// would not survive (PgBouncer 1.18 does not track them), so statements go
// by the simple protocol.
func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatalf("connect to %s: %v", dsn, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func backendPID(t *testing.T, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) int32 {
	t.Helper()
	var pid int32
	if err := q.QueryRow(t.Context(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestPgBouncerTransactionMode(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := schematest.NewEmptyURL(t)
	bouncer := schematest.PgBouncer(t, dsn, schematest.TransactionPooling)

	// One client connection, two statements, two server backends: while
	// another client holds the first backend in a transaction, the next
	// statement runs on another.
	c1, c2 := connect(t, bouncer), connect(t, bouncer)
	first := backendPID(t, c1)
	tx, err := c2.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	held := backendPID(t, tx)
	second := backendPID(t, c1)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if first == second {
		t.Errorf("c1's two statements ran on backend %d both times (c2's transaction held %d); "+
			"want two backends, as transaction pooling gives", first, held)
	}

	// LISTEN through it does not hear a NOTIFY sent through another
	// connection: the LISTEN stays on a backend the pooler has handed on.
	if _, err := c1.Exec(ctx, "LISTEN brevosync_pgbouncer_test"); err != nil {
		t.Fatal(err)
	}
	direct := connect(t, dsn)
	if _, err := direct.Exec(ctx, "LISTEN brevosync_pgbouncer_test"); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Exec(ctx, "SELECT pg_notify('brevosync_pgbouncer_test', 'hello')"); err != nil {
		t.Fatal(err)
	}
	// The notification was sent: a direct listener gets it.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if n, err := direct.WaitForNotification(wctx); err != nil || n.Payload != "hello" {
		t.Fatalf("direct listener: %v, %v; want the notification", n, err)
	}
	// Having seen it delivered, give the pooled listener a second more.
	wctx, cancel = context.WithTimeout(ctx, time.Second)
	defer cancel()
	if n, err := c1.WaitForNotification(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("listener through transaction pooling: %+v, %v; want no notification", n, err)
	}
}

func TestPgBouncerSessionMode(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bouncer := schematest.PgBouncer(t, schematest.NewEmptyURL(t), schematest.SessionPooling)

	listener, sender := connect(t, bouncer), connect(t, bouncer)
	if _, err := listener.Exec(ctx, "LISTEN brevosync_pgbouncer_test"); err != nil {
		t.Fatal(err)
	}
	if _, err := sender.Exec(ctx, "SELECT pg_notify('brevosync_pgbouncer_test', 'hello')"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if n, err := listener.WaitForNotification(wctx); err != nil || n.Payload != "hello" {
		t.Fatalf("listener through session pooling: %+v, %v; want the notification", n, err)
	}
	// A session keeps its backend.
	if a, b := backendPID(t, listener), backendPID(t, listener); a != b {
		t.Errorf("session pooling moved a connection from backend %d to %d", a, b)
	}
}

// Like the real pooler, it refuses startup parameters it does not know.
func TestPgBouncerRefusesUnknownStartupParameters(t *testing.T) {
	t.Parallel()
	bouncer := schematest.PgBouncer(t, schematest.NewEmptyURL(t), schematest.TransactionPooling)
	cfg, err := pgx.ParseConfig(bouncer)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["lock_timeout"] = "1s"
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	if err == nil {
		conn.Close(context.Background())
		t.Fatal("connected with startup parameter lock_timeout; want PgBouncer to refuse it")
	}
	if !strings.Contains(err.Error(), "unsupported startup parameter") {
		t.Errorf("connect with lock_timeout: %v, want unsupported startup parameter", err)
	}
}
