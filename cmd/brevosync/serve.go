package main

import (
	"context"
	"flag"

	"github.com/brevosync/brevosync/cmd/brevosync/cli"
	"github.com/brevosync/brevosync/cmd/brevosync/service"
)

var serveCommand = &command{
	name:    "serve",
	summary: "run the listener, the syncer, the sweep and the HTTP server",
	help: `Runs until SIGINT or SIGTERM: listens for selected contacts, upserts them
into Brevo and writes the outcome back; sweeps for missed requests, due retries
and expired claims every BREVO_SYNC_SWEEP_INTERVAL; serves POST /webhooks/brevo,
/healthz, /readyz and /metrics on HTTP_ADDR.

On SIGTERM it stops listening and claiming, lets requests in flight finish for
up to BREVO_SYNC_SHUTDOWN_TIMEOUT, hands unfinished claims back without
charging an attempt, and exits 0.

Requires DATABASE_URL and BREVO_API_KEY; run 'brevosync migrate' first.
See README.md for every setting.`,
	run: func(ctx context.Context, e *cli.Env, fs *flag.FlagSet) error {
		if err := noArgs(fs); err != nil {
			return err
		}
		cfg, err := service.Load(e.Getenv, service.Serve)
		if err != nil {
			return err
		}
		if err := cfg.Require("DATABASE_URL", "BREVO_API_KEY"); err != nil {
			return err
		}
		logger, flush, err := service.NewServeLogger(cfg, e.Stderr, buildVersion())
		if err != nil {
			return err
		}
		defer flush()
		return service.Run(ctx, cfg, logger, service.Hooks{Version: buildVersion()})
	},
}
