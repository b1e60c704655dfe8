package main

import (
	"context"
	"flag"
	"strings"

	"github.com/brevosync/brevosync/cmd/brevosync/bench"
	"github.com/brevosync/brevosync/cmd/brevosync/cli"
)

var benchCommand = &command{
	name:    "bench",
	summary: "measure latency, throughput, rate limiting and what every part costs",
	usage:   "[flags]",
	help: `Measures brevosync on this machine against a Postgres server and the Brevo
simulator (in process), and prints a table (--json: one JSON object).

  latency      single-row selections one at a time, 20ms apart:
               commit -> Brevo request received, and commit -> row Complete
  throughput   N contacts selected in one statement, simulator at 0ms and 50ms,
               rate limit off: drain time and contacts per second
  ratelimit    BREVO_SYNC_RATE_LIMIT=10 against a simulator enforcing 10/s,
               with one and with two replicas: achieved rate and 429s
  writecost    the application's selecting UPDATE with and without the
               trigger: single-row and 10,000-row statements
  mirror       a one-row UPDATE of a synced contact with and without the
               mirror's trigger: of an unmapped column, and of a mapped one
  sweep        one sweep pass and one claim on a 1,000,000-row table with 1%
               in work states, and whether their plans use the indexes
  retention    pruning old webhook events (BREVO_WEBHOOK_RETENTION) on a
               500,000-event table: one sweep's prune call
  memory       idle RSS of 'brevosync serve', and its peak during throughput
  imports      N contacts selected in one statement at BREVO_SYNC_RATE_LIMIT=10
               against a simulator enforcing Brevo's limits (10/s, 100
               processes an hour, imports at 20,000 rows/s), polling and with
               a notifyUrl: time to all Complete, requests, 429s, ids filled,
               single selections meanwhile, and the per-contact time beside it

The server is DATABASE_URL's if set, else a local one that answers, else a
throwaway cluster (as for demo). Each section runs in its own database,
created and dropped by the bench. Stock Postgres settings are assumed.

Example:
  brevosync bench                     # everything, about 5 minutes
  brevosync bench --only latency,throughput --json`,
	flags: func(fs *flag.FlagSet) {
		fs.Bool("json", false, "print the results as one JSON object")
		fs.String("only", "", "comma-separated sections to run (default: all)")
		fs.Int("latency-n", 200, "single-row selections in the latency run")
		fs.Int("throughput-n", 10000, "contacts in each throughput run")
		fs.Int("concurrency", 50, "BREVO_SYNC_CONCURRENCY for latency and throughput")
		fs.Int("rate-n", 100, "contacts in each rate-limit run")
		fs.Int("rows", 1_000_000, "table size for the sweep section")
		fs.Int("import-n", 100_000, "contacts in each imports run")
		fs.Bool("v", false, "log the service's info messages to stderr")
	},
	run: func(ctx context.Context, e *cli.Env, fs *flag.FlagSet) error {
		if fs.NArg() > 0 {
			return cli.Usagef("bench takes no arguments, only flags")
		}
		o := bench.Options{
			JSON:        cli.FlagValue[bool](fs, "json"),
			LatencyN:    cli.FlagValue[int](fs, "latency-n"),
			ThroughputN: cli.FlagValue[int](fs, "throughput-n"),
			Concurrency: cli.FlagValue[int](fs, "concurrency"),
			RateN:       cli.FlagValue[int](fs, "rate-n"),
			Rows:        cli.FlagValue[int](fs, "rows"),
			ImportN:     cli.FlagValue[int](fs, "import-n"),
			Verbose:     cli.FlagValue[bool](fs, "v"),
		}
		for _, s := range strings.Split(cli.FlagValue[string](fs, "only"), ",") {
			if s = strings.TrimSpace(s); s != "" {
				o.Only = append(o.Only, s)
			}
		}
		return bench.Run(ctx, e, o)
	},
}
