package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/brevosync/brevosync/cmd/brevosync/cli"
	"github.com/brevosync/brevosync/cmd/brevosync/service"
	"github.com/brevosync/brevosync/syncer/operator"
)

var retryCommand = &command{
	name:    "retry",
	summary: "make Failed contacts fresh requests again (--all, or contact ids)",
	usage:   "[--dry-run] (--all | CONTACT_ID...)",
	help: `Makes Failed contacts (Error/Error: brevo_sync_status and
brevo_processing_status both Error) fresh requests: it writes Selected/Queued,
as the application does when a user selects a contact. The database trigger
then resets the retry count, the error and the due time and notifies the
running service, which sends them within moments.

Give contact ids (uuids) as arguments, or --all for every Failed contact.
Contacts that are not Failed are reported with their state and left alone; so
are ids no contact has. Fix the cause first ('brevosync status' groups the
errors by cause), or they fail again.

Examples:
  brevosync retry --all --dry-run
  brevosync retry --all
  brevosync retry 4b3f0c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f 0f9e8d7c-6b5a-4321-9fed-cba987654321`,
	flags: func(fs *flag.FlagSet) {
		fs.Bool("all", false, "retry every Failed contact")
		fs.Bool("dry-run", false, "only report what would be retried; change nothing")
	},
	run: runRetry,
}

func runRetry(ctx context.Context, e *cli.Env, fs *flag.FlagSet) error {
	all, dry := cli.FlagValue[bool](fs, "all"), cli.FlagValue[bool](fs, "dry-run")
	var ids []string
	seen := map[string]bool{}
	for _, a := range fs.Args() {
		if strings.HasPrefix(a, "-") {
			return cli.Usagef("flags go before the ids: move %q to the front", a)
		}
		id, ok := operator.ParseID(a)
		if !ok {
			return cli.Usagef("%q is not a contact id (a uuid like 4b3f0c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f)", a)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	switch {
	case all && len(ids) > 0:
		return cli.Usagef("give either --all or contact ids, not both")
	case !all && len(ids) == 0:
		return cli.Usagef("say which contacts to retry: --all, or their ids")
	}

	cfg, err := loadConfig(e)
	if err != nil {
		return err
	}
	pool, err := service.Connect(ctx, cfg, "brevosync-retry")
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := warnIfNoTrigger(ctx, e, pool); err != nil {
		return err
	}
	w := e.Stdout
	if all {
		n, err := operator.RetryAll(ctx, pool, dry)
		switch {
		case err != nil:
			return err
		case dry:
			fmt.Fprintf(w, "would retry %d Failed contact(s) (dry run: nothing changed)\n", n)
		case n == 0:
			fmt.Fprintln(w, "no Failed contacts: nothing to retry")
		default:
			fmt.Fprintf(w, "retried %d Failed contact(s): they are fresh requests now\n", n)
		}
		return nil
	}
	res, err := operator.RetryIDs(ctx, pool, ids, dry)
	if err != nil {
		return err
	}
	if dry {
		fmt.Fprintf(w, "would retry %d of %d contact(s) (dry run: nothing changed)\n", res.Retried, len(ids))
	} else {
		fmt.Fprintf(w, "retried %d of %d contact(s): they are fresh requests now\n", res.Retried, len(ids))
	}
	if len(res.Skipped) > 0 {
		fmt.Fprintf(w, "skipped %d:\n", len(res.Skipped))
		for _, s := range res.Skipped {
			fmt.Fprintf(w, "  %s: %s\n", s.ID, s.Reason)
		}
	}
	return nil
}

// warnIfNoTrigger tells the operator on stderr when the request trigger is
// missing.
func warnIfNoTrigger(ctx context.Context, e *cli.Env, pool operator.DB) error {
	warning, err := operator.CheckTrigger(ctx, pool)
	if err != nil {
		return err
	}
	if warning != "" {
		fmt.Fprintln(e.Stderr, "warning: "+warning)
	}
	return nil
}
