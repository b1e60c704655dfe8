package main

import (
	"context"
	"flag"

	"github.com/brevosync/brevosync/cmd/brevosync/cli"
	"github.com/brevosync/brevosync/cmd/brevosync/demo"
)

var demoCommand = &command{
	name:    "demo",
	summary: "see it work on this machine: a simulated Brevo, ~50 contacts, no account needed",
	usage:   "[-v] [-json] [-keep] [-cluster]",
	help: `Runs the whole service in this process against the project's Brevo
simulator and shows contacts reach "Brevo" in real time: selected one at a
time (with each one's commit-to-Brevo latency), then in bulk under a 20/s rate
limit, including an email Brevo rejects (failed at once), a 500 (retried after
1s) and a 429 (a wait for the rate-limit reset), with Brevo's webhooks
confirming every contact. It prints the operator console's address and
password (the console shows it all live), checks the outcome, prints the
final state and exits 0, or 1 when something did not happen as it should;
with -keep the service and its console keep running until Ctrl-C.

The database: DATABASE_URL when set (migrated, then used as is: the demo
contacts, under @demo.brevosync.test, replace an earlier demo's and stay, so
'brevosync status' shows the same numbers); else a new database
brevosync_demo_<random> on a local server (127.0.0.1:5432 or the socket in
/var/run/postgresql, as postgres or as you), dropped at exit; else a
throwaway cluster from the initdb and pg_ctl found on PATH or under
/usr/lib/postgresql/*/bin (run as the postgres user when you are root),
removed at exit, Ctrl-C included.

No other setting is read: the demo never talks to the real Brevo. With
DATABASE_URL it refuses to run while a brevosync service uses the database or
other contacts are waiting for a sync, which it would otherwise complete
against the simulator.

The last line is machine-checkable (with -json, also one JSON object on stdout):
  demo: final state total=50 new=0 pending=0 processing=0 complete=49 failed=1 skipped=0 confirmed=49
(the whole contacts table, by brevo_sync_status; failed is Error, pending
is Selected or Queued).`,
	flags: func(fs *flag.FlagSet) {
		fs.Bool("v", false, "show the service's logs down to debug on stderr (default: warnings only)")
		fs.Bool("json", false, "print the final state as one JSON object on stdout; the narrative goes to stderr")
		fs.Bool("keep", false, "keep the demo database (or leave the throwaway cluster running) and keep the service and its console running until Ctrl-C")
		fs.Bool("cluster", false, "use a throwaway cluster even when DATABASE_URL is set or a local server answers")
	},
	run: func(ctx context.Context, e *cli.Env, fs *flag.FlagSet) error {
		if err := noArgs(fs); err != nil {
			return err
		}
		on := func(name string) bool { return cli.FlagValue[bool](fs, name) }
		return demo.Run(ctx, e, demo.Options{Verbose: on("v"), JSON: on("json"), Keep: on("keep"), Cluster: on("cluster")})
	},
}
