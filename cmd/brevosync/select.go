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
	usage:   "[--dry-run] [--skip-invalid] [--batch N] [-f FILE | EMAIL_OR_ID...]",
	help: `Selects contacts for sync the way the application does: it writes
Selected/Queued on them (brevo_sync_status, brevo_processing_status), and the
running service sends them to Brevo within moments.

Entries are emails (matched case-insensitively, by brevosync's one email key)
or contact ids (uuids), one per line in FILE (-f FILE; -f - reads stdin), or
on stdin when it is not a terminal and no arguments are given, or as
arguments. Lines are trimmed; blank lines and lines starting with # are
skipped.

All or nothing. The whole input is checked first: a line with a NUL byte,
invalid UTF-8, more than 1024 bytes, or that is neither an email nor a uuid
is bad, and every bad line is reported with its number. By default any bad
line stops the selection before anything is written (exit status 2): fix
the lines, or give --skip-invalid to apply every valid entry and skip the bad
ones. The valid entries are then written in one transaction (--batch entries
per statement inside it), so the service gets one notification, and a
database error leaves nothing applied (exit status 1): running the same
input again is safe.

Contacts with a request in progress (Waiting, Queued, Requeued, Processing or
Retry scheduled) are counted as already waiting and left alone; every other
matched contact (New, Complete, Failed, Skipped, ...) becomes a fresh request.

It reports whether the selection was applied, how many contacts were
selected, were already waiting, and how many entries matched no contact
(listing up to 20). Exit status 2 also when every entry was invalid.

Examples:
  brevosync select ada@example.com 4b3f0c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f
  brevosync select -f emails.txt --dry-run
  psql -At -f todays-signups.sql | brevosync select`,
	flags: func(fs *flag.FlagSet) {
		fs.String("f", "", "read entries from `FILE`, one per line (- for stdin)")
		fs.Bool("dry-run", false, "only count what would be selected; write nothing")
		fs.Bool("skip-invalid", false, "apply the valid entries even when some lines are bad (they are reported as skipped)")
		fs.Int("batch", operator.DefaultBatch, "entries per statement, all in one transaction (1 to 50000)")
	},
	run: runSelect,
}

// maxNotFoundShown caps the not-found entries listed. Bad lines are all
// listed: each one is something to fix.
const maxNotFoundShown = 20

func runSelect(ctx context.Context, e *cli.Env, fs *flag.FlagSet) error {
	file, dry, batch := cli.FlagValue[string](fs, "f"), cli.FlagValue[bool](fs, "dry-run"), cli.FlagValue[int](fs, "batch")
	skip := cli.FlagValue[bool](fs, "skip-invalid")
	if batch < 1 || batch > operator.MaxSelectBatch {
		return cli.Usagef("--batch must be between 1 and %d, not %d", operator.MaxSelectBatch, batch)
	}
	for _, a := range fs.Args() {
		if strings.HasPrefix(a, "-") {
			// Without this, "select ada@example.com --dry-run" would select Ada.
			return cli.Usagef("flags go before the emails and ids: move %q to the front", a)
		}
	}
	p, err := readEntries(e, fs, file)
	if err != nil {
		return err
	}

	verb := "skipped"
	if !skip {
		verb = "nothing applied"
	}
	for _, b := range p.Bad {
		fmt.Fprintf(e.Stderr, "%s: %q %s; %s\n", b.Where, b.Text, b.Reason, verb)
	}
	switch {
	case len(p.List) == 0 && len(p.Bad) == 0:
		fmt.Fprintln(e.Stdout, "nothing to select: the input names no contact")
		return nil
	case len(p.List) == 0:
		return cli.Usagef("nothing applied: every entry is invalid (%d invalid line(s), listed above)", len(p.Bad))
	case len(p.Bad) > 0 && !skip:
		return cli.Usagef("nothing applied: %d invalid line(s), listed above; fix them, or give --skip-invalid "+
			"to apply the %d valid entr%s and skip them", len(p.Bad), len(p.List), cli.Plural(len(p.List), "y", "ies"))
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
	res, err := operator.Select(ctx, pool, p, operator.SelectOptions{DryRun: dry, SkipInvalid: skip, Batch: batch, Progress: prog.Update})
	prog.Finish()
	if err != nil {
		return err // says nothing was applied
	}
	writeSelect(e.Stdout, p, res, dry)
	return nil
}

// readEntries checks the entries from the arguments, stdin or a file.
func readEntries(e *cli.Env, fs *flag.FlagSet, file string) (*operator.Entries, error) {
	p := operator.NewEntries()
	switch {
	case file != "" && fs.NArg() > 0:
		return nil, cli.Usagef("give entries either with -f or as arguments, not both")
	case fs.NArg() > 0:
		for i, a := range fs.Args() {
			p.Add(a, fmt.Sprintf("argument %d", i+1))
		}
	case file == "-" || (file == "" && e.Stdin != nil && !cli.IsTerminal(e.Stdin)):
		if e.Stdin == nil {
			return nil, cli.Usagef("-f - reads stdin, but there is none")
		}
		if err := p.Read(e.Stdin, "stdin"); err != nil {
			return nil, fmt.Errorf("%w (nothing applied)", err)
		}
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("%w (-f names a file with one email or contact id per line)", err)
		}
		err = p.Read(f, file)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%w (nothing applied)", err)
		}
	default:
		return nil, cli.Usagef("give emails or contact ids as arguments, with -f FILE, or on stdin")
	}
	return p, nil
}

func writeSelect(w io.Writer, p *operator.Entries, r operator.SelectResult, dry bool) {
	fmt.Fprintf(w, "entries:          %d", r.Entries)
	var notes []string
	if p.Dups > 0 {
		notes = append(notes, fmt.Sprintf("%d duplicate(s) ignored", p.Dups))
	}
	if len(r.Skipped) > 0 {
		notes = append(notes, fmt.Sprintf("%d invalid line(s) skipped", len(r.Skipped)))
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(notes, ", "))
	}
	fmt.Fprintln(w)
	switch {
	case dry:
		fmt.Fprintf(w, "would select:     %d contact(s) (dry run: nothing written)\n", r.Selected)
	case len(r.Skipped) > 0:
		fmt.Fprintf(w, "selected:         %d contact(s) (applied: every valid entry, in one transaction; the invalid lines were not)\n", r.Selected)
	default:
		fmt.Fprintf(w, "selected:         %d contact(s) (applied: every entry, in one transaction)\n", r.Selected)
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
