// Package schema holds brevosync's database migrations (the *.sql files
// beside this one) and applies them.
//
// The directory is named sql/ by convention; the package is named schema so
// that it does not shadow database/sql.
//
// Migrations are idempotent and additive: each statement creates or adds only
// what is missing, so they run on an empty database and on the existing
// application's database alike, and running them twice changes nothing. The
// applied versions are recorded in brevosync_schema_migrations, and a Postgres
// session advisory lock lets several replicas run Migrate at once safely.
package schema

import (
	"context"
	"embed"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Files are the migrations, embedded in the binary.
//
//go:embed *.sql
var Files embed.FS

// VersionTable records which migrations have been applied.
const VersionTable = "brevosync_schema_migrations"

// Migrate applies every pending migration and returns the versions it
// applied (none when the schema is current).
func Migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) ([]int64, error) {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()

	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	opts := []goose.ProviderOption{
		goose.WithTableName(VersionTable),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	}
	if logger != nil {
		opts = append(opts, goose.WithSlog(logger))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, Files, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	applied := make([]int64, 0, len(results))
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}
