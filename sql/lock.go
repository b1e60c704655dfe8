package schema

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3/lock"
	"github.com/sethvargo/go-retry"
)

// LockTimeout is how long a statement of a migration that runs in a
// transaction waits for a lock before its transaction is rolled back and
// retried (see [Migrate]). While a DDL statement waits for its lock, every
// later writer of that table queues behind it, so this bounds how long
// migrate can stop the application's writes.
const LockTimeout = time.Second

// SQLSTATEs Migrate retries: its transaction gave way, nothing was changed.
const (
	codeLockNotAvailable = "55P03" // lock_not_available: lock_timeout expired
	codeDeadlockDetected = "40P01" // deadlock_detected: chosen as the victim
)

// isLockWait reports whether err is a migration's transaction giving up a
// lock wait (lock timeout or deadlock), so that trying again later is safe.
func isLockWait(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == codeLockNotAvailable || pgErr.Code == codeDeadlockDetected)
}

// lockWaitBackoff is the pause between two attempts after a lock wait:
// exponential from half a second, capped at 10 s so that a long-running
// transaction is not hammered (each attempt may stop writers for up to
// LockTimeout), with 20% jitter so that replicas do not retry in step.
func lockWaitBackoff() retry.Backoff {
	return retry.WithJitterPercent(20, retry.WithCappedDuration(10*time.Second,
		retry.NewExponential(500*time.Millisecond)))
}

// setLockTimeout is the statement Migrate puts first in each transaction it
// runs: SET LOCAL, so that it ends with the transaction (and works through a
// transaction-mode pooler, which a session setting would not).
func setLockTimeout(d time.Duration) string {
	return fmt.Sprintf("SET LOCAL lock_timeout = '%dms';", d.Milliseconds())
}

// withLockTimeout returns the *.sql migrations of fsys in memory, with
// setLockTimeout(d) as the first statement of the Up section of each one
// that runs in a transaction. A migration marked NO TRANSACTION (CREATE
// INDEX CONCURRENTLY, which waits for older transactions without blocking
// writers) is left as it is, so it simply waits. The files on disk, and so
// the migrations' checksums, do not change.
func withLockTimeout(fsys fs.FS, d time.Duration) (fs.FS, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	out := make(memFS, len(names))
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		out[name] = addLockTimeout(b, d)
	}
	return out, nil
}

// addLockTimeout inserts setLockTimeout(d) after the "-- +goose Up" line of
// one migration, unless it is marked NO TRANSACTION.
func addLockTimeout(src []byte, d time.Duration) []byte {
	lines := strings.SplitAfter(string(src), "\n")
	if slices.ContainsFunc(lines, func(l string) bool { return isAnnotation(l, "NO TRANSACTION") }) {
		return src
	}
	i := slices.IndexFunc(lines, func(l string) bool { return isAnnotation(l, "Up") })
	if i < 0 {
		return src // goose reports the missing annotation
	}
	if !strings.HasSuffix(lines[i], "\n") {
		lines[i] += "\n"
	}
	lines = slices.Insert(lines, i+1, setLockTimeout(d)+"\n")
	return []byte(strings.Join(lines, ""))
}

// isAnnotation reports whether line is the goose annotation name, read the
// way goose reads it: "--", "+goose", then the name in any case.
func isAnnotation(line, name string) bool {
	if !strings.HasPrefix(line, "--") || !strings.Contains(line, "+goose") {
		return false
	}
	cmd := strings.Replace(strings.ReplaceAll(line, "--", ""), "+goose", "", 1)
	return strings.EqualFold(strings.TrimSpace(cmd), name)
}

// memFS is a read-only file system of a few files held in memory: just
// what goose reads (Glob, Open, Stat, Read).
type memFS map[string][]byte

func (m memFS) Open(name string) (fs.File, error) {
	b, ok := m[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memFile{name: name, Reader: bytes.NewReader(b)}, nil
}

func (m memFS) Glob(pattern string) ([]string, error) {
	var out []string
	for name := range m {
		ok, err := path.Match(pattern, name)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

type memFile struct {
	name string
	*bytes.Reader
}

func (f *memFile) Stat() (fs.FileInfo, error) { return memInfo{f.name, f.Size()}, nil }
func (f *memFile) Close() error               { return nil }

type memInfo struct {
	name string
	size int64
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o444 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

// blockersSQL lists the transactions that most likely made a migration's
// lock wait time out: other sessions of this database holding a lock on a
// table of the current schema in a transaction older than the lock timeout
// (or whose start this role may not see), oldest first. The waiter itself
// is gone by then (its transaction was rolled back), so pg_blocking_pids
// cannot say; this costs one catalog query per timeout.
const blockersSQL = `
SELECT a.pid,
       coalesce(extract(epoch FROM now() - a.xact_start), -1)::float8,
       coalesce(a.state, ''),
       coalesce(a.application_name, ''),
       array_agg(DISTINCT l.relation::regclass::text)
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.granted
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.pid <> pg_backend_pid()
  AND (a.xact_start IS NULL OR a.xact_start <= now() - $1::interval)
  AND l.relation IN (SELECT c.oid FROM pg_class c
                     WHERE c.relnamespace = to_regnamespace(current_schema()) AND c.relkind IN ('r', 'p'))
GROUP BY a.pid, a.xact_start, a.state, a.application_name
ORDER BY a.xact_start NULLS LAST
LIMIT 5`

// logLockWait says, at warn, that attempt gave way to a lock held by another
// transaction and when the next one starts, naming the likely blocker.
func logLockWait(ctx context.Context, conn *pgx.Conn, logger *slog.Logger, attempt int, retryIn time.Duration, cause error) {
	attrs := []any{
		slog.Int("attempt", attempt),
		slog.Duration("lock_timeout", LockTimeout),
		slog.Duration("retry_in", retryIn),
		slog.Any("err", cause),
	}
	rows, err := conn.Query(ctx, blockersSQL, LockTimeout)
	var pids []int32
	if err == nil {
		first := true
		var pid int32
		var age float64
		var state, app string
		var rels []string
		_, err = pgx.ForEachRow(rows, []any{&pid, &age, &state, &app, &rels}, func() error {
			if first {
				first = false
				attrs = append(attrs,
					slog.Int("blocking_pid", int(pid)),
					slog.Duration("blocking_xact_age", time.Duration(age*float64(time.Second)).Round(time.Millisecond)),
					slog.String("blocking_state", state),
					slog.String("blocking_application", app),
					slog.Any("blocking_tables", rels))
			}
			pids = append(pids, pid)
			return nil
		})
	}
	if err != nil {
		attrs = append(attrs, slog.String("blockers_err", err.Error()))
	}
	if len(pids) > 1 {
		attrs = append(attrs, slog.Any("other_lock_holders", pids[1:]))
	}
	logger.WarnContext(ctx, "migrate: a migration waited longer than the lock timeout for a lock "+
		"another transaction holds; rolled it back so the application's writes are not held up, will retry", attrs...)
}

// migrateLockID is the session advisory lock that serializes migrates. It
// is goose's default, which brevosync's earlier versions took through
// goose's session locker, so that old and new binaries exclude each other.
const migrateLockID = lock.DefaultLockID

// lockMigrations takes the migrate lock on conn, waiting (polling once a
// second, with jitter) while another migrate holds it, until ctx ends.
func lockMigrations(ctx context.Context, conn *pgx.Conn, logger *slog.Logger) error {
	b := retry.WithJitterPercent(20, retry.NewConstant(time.Second))
	for logged := false; ; {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", migrateLockID).Scan(&ok); err != nil {
			return fmt.Errorf("take the migrate lock: %w", err)
		}
		if ok {
			return nil
		}
		if !logged {
			logged = true
			logger.InfoContext(ctx, "migrate: another migrate is running; waiting for it to finish",
				slog.Int64("advisory_lock", migrateLockID))
		}
		wait, _ := b.Next()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for another migrate to finish: %w", context.Cause(ctx))
		case <-t.C:
		}
	}
}

// unlockMigrations releases the migrate lock, even when the caller's
// context has ended. If it cannot, it closes conn: the server releases a
// session's advisory locks when the session ends.
func unlockMigrations(ctx context.Context, conn *pgx.Conn, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var held bool
	if err := conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", migrateLockID).Scan(&held); err != nil {
		logger.WarnContext(ctx, "migrate: release the migrate lock; closing the connection instead", slog.Any("err", err))
		_ = conn.Close(ctx)
		return
	}
	if !held {
		// The session that took it is not the one answering now: a
		// transaction-mode pooler sits between us and the server, and the
		// lock stays with a server connection until the pooler closes it.
		logger.WarnContext(ctx, "migrate: the migrate lock was not held by this session at the end: "+
			"DATABASE_URL seems to go through a transaction-mode pooler, where session locks do not work; "+
			"run migrate on a direct or session-mode connection", slog.Int64("advisory_lock", migrateLockID))
	}
}
