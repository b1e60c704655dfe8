// Package schema holds brevosync's database migrations (the *.sql files
// beside this one) and applies them.
//
// The directory is named sql/ by convention; the package is named schema so
// that it does not shadow database/sql.
//
// Migrations are idempotent and additive: each statement creates or adds only
// what is missing, so they run on an empty database and on the existing
// application's database alike, and running them twice changes nothing. The
// applied versions are recorded in brevosync_schema_migrations.
//
// [Migrate] guarantees, on a live database:
//
//   - One migrate at a time: a session advisory lock (goose's, so older
//     brevosync binaries are excluded too) is held for the whole run; a
//     second migrate waits for it.
//   - It never stops the application's writes for much more than
//     [LockTimeout]: every migration that runs in a transaction starts with
//     SET LOCAL lock_timeout, so a DDL statement that cannot get its lock
//     (a long transaction holds the table) gives up after LockTimeout
//     instead of queueing, with every writer behind it, until that
//     transaction ends. Its transaction is rolled back, Migrate logs at warn
//     what it waited for, and it retries the whole run with jittered
//     exponential backoff until it succeeds or the context ends. Migrations
//     marked NO TRANSACTION (CREATE INDEX CONCURRENTLY) get no lock timeout:
//     they wait for older transactions without blocking writers. A DDL
//     statement that got its lock still holds it until its migration
//     commits, so migrations must not do slow work under a strong lock
//     (build indexes on large tables concurrently).
//   - An index that an interrupted CREATE INDEX CONCURRENTLY left INVALID is
//     dropped (or rebuilt) before the migrations run, so that CREATE INDEX
//     CONCURRENTLY IF NOT EXISTS does not skip it forever.
//   - brevosync's own tables, sequences and functions (names starting with
//     brevosync_) are open to no one but their owner, the role migrate runs
//     as, which is the role brevosync must run as: after the migrations,
//     every privilege PUBLIC and other roles hold on them is revoked (on
//     Supabase, default privileges give anon and authenticated ALL on every
//     new object) and row-level security is enabled on the tables. The
//     application's own objects and grants, contacts included, are not
//     touched, and the request trigger still fires for the application's
//     writes.
package schema

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// Files are the migrations, embedded in the binary.
//
//go:embed *.sql
var Files embed.FS

// VersionTable records which migrations have been applied.
const VersionTable = "brevosync_schema_migrations"

// Migrate applies every pending migration, then closes brevosync's own
// objects to other roles, and returns the versions it applied (none when
// the schema is current), including, on error, those applied before it.
// See the package documentation for what it guarantees on a live database.
//
// It uses two of pool's connections at once (one holds the migrate lock),
// so pool must allow at least two. logger may be nil.
func Migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) ([]int64, error) {
	log := logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	migrations, err := withLockTimeout(Files, LockTimeout)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	builds, err := concurrentIndexes(Files)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}

	// The lock, the index repair and the privileges are on one connection:
	// an advisory lock belongs to a session.
	pc, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: connect: %w", err)
	}
	defer pc.Release()
	conn := pc.Conn()
	if err := lockMigrations(ctx, conn, log); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer unlockMigrations(ctx, conn, log)

	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	m := migrator{db: db, conn: conn, migrations: migrations, builds: builds, logger: logger, log: log}

	backoff := lockWaitBackoff()
	var applied []int64
	for attempt := 1; ; attempt++ {
		versions, err := m.run(ctx)
		applied = append(applied, versions...)
		if err == nil {
			return applied, nil
		}
		if ctx.Err() != nil {
			return applied, fmt.Errorf("migrate: stopped during attempt %d: %w: %w", attempt, context.Cause(ctx), err)
		}
		if !isLockWait(err) {
			return applied, fmt.Errorf("migrate: %w", err)
		}
		wait, _ := backoff.Next()
		logLockWait(ctx, conn, log, attempt, wait, err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return applied, fmt.Errorf("migrate: gave up after %d attempts, each waiting %s for a lock: %w (last: %v)",
				attempt, LockTimeout, context.Cause(ctx), err)
		case <-t.C:
		}
	}
}

// migrator is one Migrate's state across its attempts.
type migrator struct {
	db         *sql.DB
	conn       *pgx.Conn        // holds the migrate lock
	migrations fs.FS            // Files with the lock timeout added
	builds     map[string]int64 // concurrently built index -> its migration version
	logger     *slog.Logger     // the caller's, for goose; may be nil
	log        *slog.Logger     // never nil
}

// run is one attempt: repair invalid indexes, apply the pending migrations,
// close brevosync's objects. It returns the versions it applied.
func (m *migrator) run(ctx context.Context) ([]int64, error) {
	if err := repairInvalidIndexes(ctx, m.conn, m.builds, m.log); err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{
		goose.WithTableName(VersionTable),
		goose.WithDisableGlobalRegistry(true),
	}
	if m.logger != nil {
		opts = append(opts, goose.WithSlog(m.logger))
	}
	// A provider per attempt: goose remembers a failure to create its
	// version table for the provider's lifetime.
	p, err := goose.NewProvider(goose.DialectPostgres, m.db, m.migrations, opts...)
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	if pe := (*goose.PartialError)(nil); errors.As(err, &pe) {
		results = pe.Applied
	}
	var applied []int64
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	if err != nil {
		return applied, err
	}
	return applied, secure(ctx, m.conn, m.log)
}
