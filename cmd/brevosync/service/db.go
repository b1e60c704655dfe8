package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
)

// Pools through a connection pooler (PgBouncer, Supabase's Supavisor) need
// two things a direct connection does not:
//
//   - no session settings in the startup packet: PgBouncer refuses any it
//     does not know ("unsupported startup parameter"), so the syncer's
//     settings (syncer.SessionSettings) are dropped, at some cost in speed
//     (see the README's Performance section);
//   - no prepared statements kept across transactions: in transaction mode
//     two statements of one client may run on two server connections, so
//     statements use pgx's QueryExecModeCacheDescribe, which prepares
//     nothing on the server (one round trip a statement, as before).
//
// A pooler is recognised by that refusal, or by Supabase's transaction
// pooler port (6543). An explicit default_query_exec_mode in the URL wins.

// poolerPort is Supabase's transaction-mode pooler.
const poolerPort = 6543

// PoolOptions tune OpenPool.
type PoolOptions struct {
	// AppName is the application_name the connections carry.
	AppName string
	// Params are session settings (e.g. synchronous_commit), dropped
	// through a pooler.
	Params map[string]string
	// Tune adjusts the pool's configuration.
	Tune func(*pgxpool.Config)
	// Logger is told when a pooler was recognised; nil says nothing.
	Logger *slog.Logger
	// Pooled treats dsn as a pooler from the start (an earlier pool on the
	// same dsn recognised one).
	Pooled bool
}

// OpenPool opens a pool on dsn, checks that the database answers, and
// adapts to a connection pooler in front of it (see above); Pooled reports
// whether it did. varName names the setting dsn came from in errors.
func OpenPool(ctx context.Context, varName, dsn string, o PoolOptions) (*pgxpool.Pool, error) {
	pool, _, err := openPool(ctx, varName, dsn, o)
	return pool, err
}

// OpenPooled is OpenPool that also reports whether a pooler was recognised.
func OpenPooled(ctx context.Context, varName, dsn string, o PoolOptions) (*pgxpool.Pool, bool, error) {
	return openPool(ctx, varName, dsn, o)
}

func openPool(ctx context.Context, varName, dsn string, o PoolOptions) (*pgxpool.Pool, bool, error) {
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, false, &ConfigError{Var: varName, Err: fmt.Errorf("not a valid Postgres connection string: %s", parseProblem(err))}
	}
	if pcfg.ConnConfig.RuntimeParams["application_name"] == "" && o.AppName != "" {
		pcfg.ConnConfig.RuntimeParams["application_name"] = o.AppName
	}
	pooled := o.Pooled || int(pcfg.ConnConfig.Port) == poolerPort
	if !pooled {
		for k, v := range o.Params {
			pcfg.ConnConfig.RuntimeParams[k] = v
		}
	}
	if o.Tune != nil {
		o.Tune(pcfg)
	}
	pool, err := connect(ctx, pcfg)
	if err != nil && len(o.Params) > 0 && !pooled && refusedParameter(err) {
		pooled = true
		for k := range o.Params {
			delete(pcfg.ConnConfig.RuntimeParams, k)
		}
		pool, err = connect(ctx, pooledConfig(pcfg, dsn))
	} else if err == nil && pooled {
		pool.Close()
		pool, err = connect(ctx, pooledConfig(pcfg, dsn))
	}
	if err != nil {
		return nil, false, fmt.Errorf("connect to database %s@%s/%s: %w (is Postgres running, and is %s right?)",
			pcfg.ConnConfig.User, pcfg.ConnConfig.Host, pcfg.ConnConfig.Database, err, varName)
	}
	if pooled && o.Logger != nil && !o.Pooled {
		o.Logger.Info(varName+" goes through a connection pooler: no session settings, no prepared statements",
			slog.String("pool", o.AppName))
	}
	return pool, pooled, nil
}

// pooledConfig is pcfg for a pooler: statements prepared on no server,
// unless the URL chose a mode itself.
func pooledConfig(pcfg *pgxpool.Config, dsn string) *pgxpool.Config {
	if !strings.Contains(dsn, "default_query_exec_mode") {
		pcfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	}
	return pcfg
}

// connect opens the pool and pings it.
func connect(ctx context.Context, pcfg *pgxpool.Config) (*pgxpool.Pool, error) {
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// refusedParameter reports PgBouncer's refusal of a startup parameter.
func refusedParameter(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && strings.Contains(pgErr.Message, "unsupported startup parameter")
}

// Connect requires DATABASE_URL in cfg and opens a pool named appName: the
// commands that only need the database use it.
func Connect(ctx context.Context, cfg *Config, appName string) (*pgxpool.Pool, error) {
	if err := cfg.Require("DATABASE_URL"); err != nil {
		return nil, err
	}
	return OpenPool(ctx, "DATABASE_URL", cfg.DatabaseURL, PoolOptions{AppName: appName})
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
