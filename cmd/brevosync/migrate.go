package main

import (
	"context"
	"flag"
	"fmt"

	schema "github.com/brevosync/brevosync/sql"
)

func init() {
	register(&command{
		name:    "migrate",
		summary: "create or upgrade brevosync's schema (idempotent)",
		help: `Applies the migrations embedded in this binary to DATABASE_URL.

On an empty database it creates the enums, the contacts table, its indexes and
the request trigger. On the existing application's database it adds only what
is missing (brevosync's columns, indexes and trigger) and changes no existing
row. Running it again changes nothing; replicas may run it at the same time.`,
		run: runMigrate,
	})
}

func runMigrate(ctx context.Context, e *env, fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return usagef("migrate takes no arguments")
	}
	cfg, err := loadConfig(e.getenv)
	if err != nil {
		return err
	}
	if err := cfg.require("DATABASE_URL"); err != nil {
		return err
	}
	logger := newLogger(e.stderr, cfg.LogFormat, cfg.LogLevel)
	pool, err := openPool(ctx, cfg.DatabaseURL, "brevosync-migrate", nil)
	if err != nil {
		return err
	}
	defer pool.Close()
	applied, err := schema.Migrate(ctx, pool, logger)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(e.stdout, "schema is up to date")
		return nil
	}
	fmt.Fprintf(e.stdout, "applied %d migration(s): %v\n", len(applied), applied)
	return nil
}
