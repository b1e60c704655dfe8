package service

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
)

// OpenPool opens a pool on dsn and checks that the database answers.
// params are extra session settings (for example synchronous_commit); tune
// may adjust the pool's configuration.
func OpenPool(ctx context.Context, dsn, appName string, params map[string]string, tune ...func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, &ConfigError{Var: "DATABASE_URL", Err: fmt.Errorf("not a valid Postgres connection string: %w", err)}
	}
	if pcfg.ConnConfig.RuntimeParams["application_name"] == "" {
		pcfg.ConnConfig.RuntimeParams["application_name"] = appName
	}
	for k, v := range params {
		pcfg.ConnConfig.RuntimeParams[k] = v
	}
	for _, f := range tune {
		f(pcfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %s@%s/%s: %w (is Postgres running, and is DATABASE_URL right?)",
			pcfg.ConnConfig.User, pcfg.ConnConfig.Host, pcfg.ConnConfig.Database, err)
	}
	return pool, nil
}

// Connect requires DATABASE_URL in cfg and opens a pool named appName: the
// commands that only need the database use it.
func Connect(ctx context.Context, cfg *Config, appName string) (*pgxpool.Pool, error) {
	if err := cfg.Require("DATABASE_URL"); err != nil {
		return nil, err
	}
	return OpenPool(ctx, cfg.DatabaseURL, appName, nil)
}

// Migrate applies brevosync's schema to DATABASE_URL and returns the
// versions it applied.
func Migrate(ctx context.Context, cfg *Config, logger *slog.Logger) ([]int64, error) {
	pool, err := Connect(ctx, cfg, "brevosync-migrate")
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return schema.Migrate(ctx, pool, logger)
}
