package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func init() {
	register(&command{
		name:    "select",
		summary: "select contacts for sync by email or id, from a file, stdin or arguments",
		usage:   "[--dry-run] [--batch N] [-f FILE | EMAIL_OR_ID...]",
		help: `Selects contacts for sync the way the application does: it writes
brevo_sync_status='Selected', brevo_processing_status='Queued' on them, and the
running service sends them to Brevo within moments.

Entries are emails (matched case-insensitively) or contact ids (uuids), one per
line in FILE (-f FILE; -f - reads stdin), or on stdin when it is not a terminal
and no arguments are given, or as arguments. Lines are trimmed; blank lines and
lines starting with # are skipped; any other line that is neither a uuid nor an
email is reported with its line number and skipped.

Contacts with a request in progress (Waiting, Released, Processing or Retry
scheduled) are counted as already waiting and left alone; every other matched
contact (New, Complete, Failed, Skipped, ...) becomes a fresh request. The
entries are written in batches of --batch, one statement and one transaction
(so one notification) per batch; running the same input again is safe.

It reports how many contacts were selected, were already waiting, and how many
entries matched no contact (listing up to 20).

Examples:
  brevosync select ada@example.com 4b3f0c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f
  brevosync select -f emails.txt --dry-run
  psql -Atc "SELECT email FROM signups WHERE day = current_date" | brevosync select`,
		flags: func(fs *flag.FlagSet) {
			fs.String("f", "", "read entries from `FILE`, one per line (- for stdin)")
			fs.Bool("dry-run", false, "only count what would be selected; write nothing")
			fs.Int("batch", 1000, "entries per statement and transaction (1 to 50000)")
		},
		run: runSelect,
	})
}

// maxNotFoundShown caps the not-found entries listed; maxBadShown the
// invalid lines reported.
const (
	maxNotFoundShown = 20
	maxBadShown      = 20
	maxSelectBatch   = 50000
)

// selectEntry is one email (lower-cased) or contact id (canonical uuid).
type selectEntry struct {
	value string
	isID  bool
}

// badEntry is an input line that is neither.
type badEntry struct {
	where, text string
}

// entryParser turns lines into unique entries.
type entryParser struct {
	entries []selectEntry
	seen    map[string]bool
	dups    int
	bad     []badEntry
}

func newEntryParser() *entryParser { return &entryParser{seen: map[string]bool{}} }

// add parses one line; where names it for error reports ("line 3").
func (p *entryParser) add(line, where string) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return
	}
	var e selectEntry
	if id, ok := parseUUID(line); ok {
		e = selectEntry{value: id, isID: true}
	} else if strings.Contains(line, "@") && !strings.ContainsAny(line, " \t,;<>\"") {
		e = selectEntry{value: strings.ToLower(line)}
	} else {
		p.bad = append(p.bad, badEntry{where: where, text: line})
		return
	}
	if p.seen[e.value] {
		p.dups++
		return
	}
	p.seen[e.value] = true
	p.entries = append(p.entries, e)
}

// read parses r line by line.
func (p *entryParser) read(r io.Reader, name string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		p.add(sc.Text(), fmt.Sprintf("line %d", n))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s after line %d: %w", name, n, err)
	}
	return nil
}

func runSelect(ctx context.Context, e *env, fs *flag.FlagSet) error {
	file, dry, batch := flagValue[string](fs, "f"), flagValue[bool](fs, "dry-run"), flagValue[int](fs, "batch")
	if batch < 1 || batch > maxSelectBatch {
		return usagef("--batch must be between 1 and %d, not %d", maxSelectBatch, batch)
	}
	for _, a := range fs.Args() {
		if strings.HasPrefix(a, "-") {
			// Without this, "select ada@example.com --dry-run" would select Ada.
			return usagef("flags go before the emails and ids: move %q to the front", a)
		}
	}
	p := newEntryParser()
	switch {
	case file != "" && fs.NArg() > 0:
		return usagef("give entries either with -f or as arguments, not both")
	case fs.NArg() > 0:
		for i, a := range fs.Args() {
			p.add(a, fmt.Sprintf("argument %d", i+1))
		}
	case file == "-" || (file == "" && e.stdin != nil && !isTerminalReader(e.stdin)):
		if e.stdin == nil {
			return usagef("-f - reads stdin, but there is none")
		}
		if err := p.read(e.stdin, "stdin"); err != nil {
			return err
		}
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("%w (-f names a file with one email or contact id per line)", err)
		}
		err = p.read(f, file)
		f.Close()
		if err != nil {
			return err
		}
	default:
		return usagef("give emails or contact ids as arguments, with -f FILE, or on stdin")
	}

	for i, b := range p.bad {
		if i == maxBadShown {
			fmt.Fprintf(e.stderr, "... and %d more invalid line(s)\n", len(p.bad)-maxBadShown)
			break
		}
		fmt.Fprintf(e.stderr, "%s: %q is neither an email nor a contact id (uuid); skipped\n", b.where, b.text)
	}
	if len(p.entries) == 0 {
		fmt.Fprintf(e.stdout, "nothing to select: no valid entries (%d invalid)\n", len(p.bad))
		return nil
	}

	pool, err := connectDB(ctx, e, "brevosync-select")
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := warnIfNoTrigger(ctx, pool, e.stderr); err != nil {
		return err
	}

	res := newSelectResult()
	prog := newProgress(e.stderr, "select", len(p.entries), len(p.entries) > batch)
	var runErr error
	for start := 0; start < len(p.entries); start += batch {
		if err := ctx.Err(); err != nil {
			runErr = err
			break
		}
		chunk := p.entries[start:min(start+batch, len(p.entries))]
		if err := selectBatch(ctx, pool, chunk, dry, res); err != nil {
			runErr = err
			break
		}
		res.done += len(chunk)
		prog.update(res.done)
	}
	prog.finish()
	res.write(e.stdout, p, dry)
	if runErr != nil {
		return fmt.Errorf("after %d of %d entries: %w (the batches before were committed; "+
			"running the same input again is safe)", res.done, len(p.entries), runErr)
	}
	return nil
}

// selectResult accumulates the batches' outcomes.
type selectResult struct {
	done     int             // entries processed
	contacts map[string]bool // contact ids counted already
	matched  map[string]bool // entry values that matched a contact
	selected int
	waiting  int
}

func newSelectResult() *selectResult {
	return &selectResult{contacts: map[string]bool{}, matched: map[string]bool{}}
}

// selectMatch finds the contacts the entries name.
const selectMatch = `
	SELECT id, lower(email) AS email, brevo_sync_status::text AS sync, brevo_processing_status::text AS proc
	FROM contacts
	WHERE id = ANY($1::uuid[]) OR lower(email) = ANY($2::text[])`

// waitingPredicate is true for a request in progress: claimable
// (Selected/Queued, Queued/Queued, Queued/Error) or claimed (Processing).
const waitingPredicate = `coalesce(
	(c.brevo_sync_status = 'Selected' AND c.brevo_processing_status = 'Queued')
	OR (c.brevo_sync_status = 'Queued' AND c.brevo_processing_status IN ('Queued', 'Error'))
	OR c.brevo_sync_status = 'Processing', false)`

// isWaiting is waitingPredicate in Go.
func isWaiting(sync string, proc *string) bool {
	p := ""
	if proc != nil {
		p = *proc
	}
	return (sync == "Selected" && p == "Queued") ||
		(sync == "Queued" && (p == "Queued" || p == "Error")) ||
		sync == "Processing"
}

// selectWriteSQL makes the matched contacts requests, except those already
// waiting (checked on the current row, so a concurrent claim is respected),
// and returns every matched contact with whether it was written.
const selectWriteSQL = `
WITH hit AS (` + selectMatch + `
), upd AS (
	UPDATE contacts c SET ` + requestSet + `
	FROM hit
	WHERE c.id = hit.id AND NOT ` + waitingPredicate + `
	RETURNING c.id
)
SELECT hit.id::text, hit.email, hit.sync, hit.proc, upd.id IS NOT NULL
FROM hit LEFT JOIN upd ON upd.id = hit.id`

const selectDrySQL = `
SELECT hit.id::text, hit.email, hit.sync, hit.proc, false FROM (` + selectMatch + `) AS hit`

// selectBatch runs one statement (one transaction, so one NOTIFY) for chunk.
func selectBatch(ctx context.Context, db *pgxpool.Pool, chunk []selectEntry, dry bool, res *selectResult) error {
	ids, emails := []string{}, []string{}
	for _, e := range chunk {
		if e.isID {
			ids = append(ids, e.value)
		} else {
			emails = append(emails, e.value)
		}
	}
	q := selectWriteSQL
	if dry {
		q = selectDrySQL
	}
	rows, err := db.Query(ctx, q, ids, emails)
	if err != nil {
		return fmt.Errorf("select contacts: %w", err)
	}
	var (
		id, email, sync string
		proc            *string
		written         bool
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &email, &sync, &proc, &written}, func() error {
		res.matched[id] = true
		res.matched[email] = true
		if res.contacts[id] {
			return nil // counted in an earlier batch (named by id and by email)
		}
		res.contacts[id] = true
		// Not written though not waiting when matched: it became a request
		// between the match and the update (the UPDATE checks the current
		// row), so it is waiting too.
		if written || (dry && !isWaiting(sync, proc)) {
			res.selected++
		} else {
			res.waiting++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("select contacts: %w", err)
	}
	return nil
}

func (r *selectResult) write(w io.Writer, p *entryParser, dry bool) {
	var notFound []string
	for _, e := range p.entries[:r.done] {
		if !r.matched[e.value] {
			notFound = append(notFound, e.value)
		}
	}
	fmt.Fprintf(w, "entries:          %d", r.done)
	if r.done < len(p.entries) {
		fmt.Fprintf(w, " of %d (stopped early)", len(p.entries))
	}
	var notes []string
	if p.dups > 0 {
		notes = append(notes, fmt.Sprintf("%d duplicate(s) ignored", p.dups))
	}
	if len(p.bad) > 0 {
		notes = append(notes, fmt.Sprintf("%d invalid line(s) skipped", len(p.bad)))
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(notes, ", "))
	}
	fmt.Fprintln(w)
	if dry {
		fmt.Fprintf(w, "would select:     %d contact(s) (dry run: nothing written)\n", r.selected)
	} else {
		fmt.Fprintf(w, "selected:         %d contact(s)\n", r.selected)
	}
	fmt.Fprintf(w, "already waiting:  %d contact(s)\n", r.waiting)
	fmt.Fprintf(w, "not found:        %d entr%s\n", len(notFound), plural(len(notFound), "y", "ies"))
	for i, v := range notFound {
		if i == maxNotFoundShown {
			fmt.Fprintf(w, "  ... and %d more\n", len(notFound)-maxNotFoundShown)
			break
		}
		fmt.Fprintf(w, "  %s\n", v)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// isTerminalReader reports whether r is a terminal.
func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && isTerminal(f)
}

// progress reports a long job's progress on w: a bar redrawn in place on a
// terminal, otherwise one line per 10% at most.
type progress struct {
	w       io.Writer
	label   string
	total   int
	on, tty bool
	lastPct int
	start   time.Time
}

func newProgress(w io.Writer, label string, total int, on bool) *progress {
	return &progress{w: w, label: label, total: total, on: on, tty: isTerminal(w), start: time.Now()}
}

func (p *progress) update(done int) {
	if !p.on || p.total == 0 {
		return
	}
	pct := done * 100 / p.total
	if p.tty {
		const width = 30
		n := done * width / p.total
		fmt.Fprintf(p.w, "\r%s [%s%s] %3d%% %d/%d", p.label,
			strings.Repeat("=", n), strings.Repeat(" ", width-n), pct, done, p.total)
		return
	}
	if pct/10 <= p.lastPct/10 {
		return // not a new tenth yet
	}
	p.lastPct = pct
	fmt.Fprintf(p.w, "%s: %d/%d entries (%d%%)\n", p.label, done, p.total, pct)
}

func (p *progress) finish() {
	if p.on && p.tty {
		fmt.Fprintf(p.w, " in %s\n", time.Since(p.start).Round(time.Millisecond))
	}
}
