package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/brevosync/brevosync/cmd/brevosync/cli"
	"github.com/brevosync/brevosync/cmd/brevosync/service"
)

var migrateCommand = &command{
	name:    "migrate",
	summary: "create or upgrade brevosync's schema (idempotent)",
	help: `Applies the migrations embedded in this binary to DATABASE_URL.

On an empty database it creates the enums, the contacts table, its indexes and
the request trigger. On the existing application's database it adds only what
is missing (brevosync's columns, indexes and trigger) and changes no existing
row. Running it again changes nothing; replicas may run it at the same time.`,
	run: func(ctx context.Context, e *cli.Env, fs *flag.FlagSet) error {
		if err := noArgs(fs); err != nil {
			return err
		}
		cfg, err := loadConfig(e)
		if err != nil {
			return err
		}
		applied, err := service.Migrate(ctx, cfg, service.NewLogger(e.Stderr, cfg.LogFormat, cfg.LogLevel))
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintln(e.Stdout, "schema is up to date")
			return nil
		}
		fmt.Fprintf(e.Stdout, "applied %d migration(s): %v\n", len(applied), applied)
		return nil
	},
}
