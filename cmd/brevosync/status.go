package main

import (
	"context"
	"encoding/json"
	"flag"

	"github.com/brevosync/brevosync/cmd/brevosync/cli"
	"github.com/brevosync/brevosync/cmd/brevosync/service"
	"github.com/brevosync/brevosync/syncer/operator"
)

var statusCommand = &command{
	name:    "status",
	summary: "show contacts per sync state, waiting requests, retries, errors and replicas",
	usage:   "[--json]",
	help: `Shows, for the contacts table in DATABASE_URL:

  - how many contacts are in each sync state, with the raw
    brevo_sync_status/brevo_processing_status pair of each: New, Waiting
    (Selected/Queued), Queued (Queued/Queued: queued by another writer, or
    handed back after a 429), Requeued (Error/Queued), Processing,
    Interrupted (Selected/Processing, left by the old scheduler), Retry
    scheduled (Queued/Error), Complete, Failed (Error/Error, and
    Selected/Error left by the old scheduler), Skipped, and any other
    combination as it is;
  - the age of the oldest waiting request: the oldest one not finished yet
    (Waiting, Queued, Requeued, Processing or Retry scheduled), from
    brevo_requested_at, or updated_at for requests older than brevosync;
  - retries: how many are scheduled, how many are due now, when the next is;
  - the contacts' current errors grouped by cause (top 10, with an example);
  - webhook confirmations and unsubscribes, and events of the last 24 hours;
  - the live replicas (serve processes with a heartbeat in the last 30s).

It works on the existing application's database before 'brevosync migrate'
has run: it shows what exists and names what is missing. It only reads, with
one pass over contacts. Needs only DATABASE_URL.

With --json it prints exactly one JSON object on stdout (see README.md for
its fields); anything else goes to stderr.

Examples:
  brevosync status
  brevosync status --json | jq '.states[] | select(.count > 0)'`,
	flags: func(fs *flag.FlagSet) {
		fs.Bool("json", false, "print one JSON object instead of tables")
	},
	run: runStatus,
}

func runStatus(ctx context.Context, e *cli.Env, fs *flag.FlagSet) error {
	if err := noArgs(fs); err != nil {
		return err
	}
	cfg, err := loadConfig(e)
	if err != nil {
		return err
	}
	pool, err := service.Connect(ctx, cfg, "brevosync-status")
	if err != nil {
		return err
	}
	defer pool.Close()
	rep, err := operator.Status(ctx, pool)
	if err != nil {
		return err
	}
	if cli.FlagValue[bool](fs, "json") {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	cli.WriteStatus(e.Stdout, rep)
	return nil
}
