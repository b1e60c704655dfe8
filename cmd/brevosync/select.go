package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/brevosync/brevosync/cmd/brevosync/cli"
	"github.com/brevosync/brevosync/cmd/brevosync/service"
	"github.com/brevosync/brevosync/syncer/operator"
)

var selectCommand = &command{
	name:    "select",
	summary: "select contacts for sync by email or id, from a file, stdin or arguments",
	usage:   "[--dry-run] [--batch N] [-f FILE | EMAIL_OR_ID...]",
	help: `Selects contacts for sync the way the application does: it writes
Selected/Queued on them (brevo_sync_status, brevo_processing_status), and the
running service sends them to Brevo within moments.

Entries are emails (matched case-insensitively) or contact ids (uuids), one per
line in FILE (-f FILE; -f - reads stdin), or on stdin when it is not a terminal
and no arguments are given, or as arguments. Lines are trimmed; blank lines and
lines starting with # are skipped; any other line that is neither a uuid nor an
email is reported with its line number and skipped.

Contacts with a request in progress (Waiting, Queued, Requeued, Processing or Retry
scheduled) are counted as already waiting and left alone; every other matched
contact (New, Complete, Failed, Skipped, ...) becomes a fresh request. The
entries are written in batches of --batch, one statement and one transaction
(so one notification) per batch; running the same input again is safe.

It reports how many contacts were selected, were already waiting, and how many
entries matched no contact (listing up to 20).

Examples:
  brevosync select ada@example.com 4b3f0c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f
  brevosync select -f emails.txt --dry-run
  psql -At -f todays-signups.sql | brevosync select`,
	flags: func(fs *flag.FlagSet) {
		fs.String("f", "", "read entries from `FILE`, one per line (- for stdin)")
		fs.Bool("dry-run", false, "only count what would be selected; write nothing")
		fs.Int("batch", 1000, "entries per statement and transaction (1 to 50000)")
	},
	run: runSelect,
}

// maxNotFoundShown caps the not-found entries listed; maxBadShown the
// invalid lines reported.
const (
	maxNotFoundShown = 20
	maxBadShown      = 20
)

func runSelect(ctx context.Context, e *cli.Env, fs *flag.FlagSet) error {
	file, dry, batch := cli.FlagValue[string](fs, "f"), cli.FlagValue[bool](fs, "dry-run"), cli.FlagValue[int](fs, "batch")
	if batch < 1 || batch > operator.MaxSelectBatch {
		return cli.Usagef("--batch must be between 1 and %d, not %d", operator.MaxSelectBatch, batch)
	}
	for _, a := range fs.Args() {
		if strings.HasPrefix(a, "-") {
			// Without this, "select ada@example.com --dry-run" would select Ada.
			return cli.Usagef("flags go before the emails and ids: move %q to the front", a)
		}
	}
	p := operator.NewEntries()
	switch {
	case file != "" && fs.NArg() > 0:
		return cli.Usagef("give entries either with -f or as arguments, not both")
	case fs.NArg() > 0:
		for i, a := range fs.Args() {
			p.Add(a, fmt.Sprintf("argument %d", i+1))
		}
	case file == "-" || (file == "" && e.Stdin != nil && !cli.IsTerminal(e.Stdin)):
		if e.Stdin == nil {
			return cli.Usagef("-f - reads stdin, but there is none")
		}
		if err := p.Read(e.Stdin, "stdin"); err != nil {
			return err
		}
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("%w (-f names a file with one email or contact id per line)", err)
		}
		err = p.Read(f, file)
		f.Close()
		if err != nil {
			return err
		}
	default:
		return cli.Usagef("give emails or contact ids as arguments, with -f FILE, or on stdin")
	}

	for i, b := range p.Bad {
		if i == maxBadShown {
			fmt.Fprintf(e.Stderr, "... and %d more invalid line(s)\n", len(p.Bad)-maxBadShown)
			break
		}
		fmt.Fprintf(e.Stderr, "%s: %q is neither an email nor a contact id (uuid); skipped\n", b.Where, b.Text)
	}
	if len(p.List) == 0 {
		fmt.Fprintf(e.Stdout, "nothing to select: no valid entries (%d invalid)\n", len(p.Bad))
		return nil
	}

	cfg, err := loadConfig(e)
	if err != nil {
		return err
	}
	pool, err := service.Connect(ctx, cfg, "brevosync-select")
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := warnIfNoTrigger(ctx, e, pool); err != nil {
		return err
	}

	prog := cli.NewProgress(e.Stderr, "select", len(p.List), len(p.List) > batch)
	res, runErr := operator.Select(ctx, pool, p.List, operator.SelectOptions{DryRun: dry, Batch: batch, Progress: prog.Update})
	prog.Finish()
	writeSelect(e.Stdout, p, res, dry)
	if runErr != nil {
		return fmt.Errorf("after %d of %d entries: %w (the batches before were committed; "+
			"running the same input again is safe)", res.Done, len(p.List), runErr)
	}
	return nil
}

func writeSelect(w io.Writer, p *operator.Entries, r operator.SelectResult, dry bool) {
	fmt.Fprintf(w, "entries:          %d", r.Done)
	if r.Done < len(p.List) {
		fmt.Fprintf(w, " of %d (stopped early)", len(p.List))
	}
	var notes []string
	if p.Dups > 0 {
		notes = append(notes, fmt.Sprintf("%d duplicate(s) ignored", p.Dups))
	}
	if len(p.Bad) > 0 {
		notes = append(notes, fmt.Sprintf("%d invalid line(s) skipped", len(p.Bad)))
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(notes, ", "))
	}
	fmt.Fprintln(w)
	if dry {
		fmt.Fprintf(w, "would select:     %d contact(s) (dry run: nothing written)\n", r.Selected)
	} else {
		fmt.Fprintf(w, "selected:         %d contact(s)\n", r.Selected)
	}
	fmt.Fprintf(w, "already waiting:  %d contact(s)\n", r.AlreadyWaiting)
	fmt.Fprintf(w, "not found:        %d entr%s\n", len(r.NotFound), cli.Plural(len(r.NotFound), "y", "ies"))
	for i, v := range r.NotFound {
		if i == maxNotFoundShown {
			fmt.Fprintf(w, "  ... and %d more\n", len(r.NotFound)-maxNotFoundShown)
			break
		}
		fmt.Fprintf(w, "  %s\n", v)
	}
}
