package operator

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
)

// Bounds of SelectOptions.Batch.
const (
	// DefaultBatch is the entries per statement when Batch is zero.
	DefaultBatch = 1000
	// MaxSelectBatch bounds SelectOptions.Batch.
	MaxSelectBatch = 50000
)

// SelectOptions tune Select.
type SelectOptions struct {
	// DryRun only counts what would be selected; it writes nothing.
	DryRun bool
	// SkipInvalid applies the valid entries when some are bad, and reports
	// the bad ones as skipped. Without it any bad entry stops Select before
	// it writes anything.
	SkipInvalid bool
	// Batch is the entries per statement; default DefaultBatch. Every
	// statement runs in the one transaction of the whole selection.
	Batch int
	// Progress, when set, is called after each statement with the entries
	// done. Nothing is committed before the last.
	Progress func(done int)
}

// SelectResult is what Select did.
type SelectResult struct {
	// Entries counts the valid entries (each once) Select considered.
	Entries int
	// Skipped are the bad entries left out (with SkipInvalid), in order.
	Skipped []BadEntry
	// Applied: the selection was committed. False for a dry run, and
	// whenever Select returns an error: then nothing was written.
	Applied bool
	// Selected counts the contacts made fresh requests (would be, with
	// DryRun); AlreadyWaiting those left alone because a request of theirs
	// is waiting or in flight.
	Selected, AlreadyWaiting int
	// NotFound are the entries no contact matched, in order.
	NotFound []string
}

// selectSQL makes the matched contacts requests, except those already
// waiting or in flight.
var selectSQL = writeSQL(schema.RequestSet, "NOT "+schema.UnfinishedWhere)

// Select makes the contacts in's entries name fresh requests, the way the
// application selects them, except those with a request waiting or in
// flight. Emails match by schema.EmailKey.
//
// It is all or nothing. Any bad entry in in stops it before it writes
// (an *InvalidError listing every bad entry), unless opts.SkipInvalid: then
// the valid entries are applied and the bad ones returned as Skipped; with
// no valid entry it still fails. The valid entries are written in ONE
// transaction (opts.Batch entries per statement), so the service gets one
// notification, and a database error leaves nothing applied: running the
// same input again is then safe.
func Select(ctx context.Context, db *pgxpool.Pool, in *Entries, opts SelectOptions) (SelectResult, error) {
	res := SelectResult{Entries: len(in.List)}
	if err := checkInput(in, opts.SkipInvalid); err != nil {
		return res, err
	}
	res.Skipped = in.Bad
	if len(in.List) == 0 {
		return res, nil
	}
	q := selectSQL
	if opts.DryRun {
		q = dryRunSQL
	}
	var selected, waiting int
	notFound, err := applyEntries(ctx, db, in.List, opts.Batch, q, opts.DryRun, func(m matched) {
		// Not written though not waiting when matched: it became a request
		// between the match and the update (the UPDATE checks the current
		// row), so it is waiting too.
		if m.written || (opts.DryRun && !schema.Unfinished(m.sync, m.proc)) {
			selected++
		} else {
			waiting++
		}
	}, opts.Progress)
	if err != nil {
		return res, fmt.Errorf("select %d contacts (nothing applied: the transaction was rolled back, so running it again is safe): %w", len(in.List), err)
	}
	res.Selected, res.AlreadyWaiting, res.NotFound = selected, waiting, notFound
	res.Applied = !opts.DryRun
	return res, nil
}

// CheckTrigger reports a warning when the request trigger is missing: a
// write still marks rows as requests, but nothing resets their retry
// bookkeeping or wakes the service. It fails when there is no contacts
// table at all.
func CheckTrigger(ctx context.Context, db *pgxpool.Pool) (warning string, err error) {
	s, err := schema.Inspect(ctx, db)
	if err != nil {
		return "", err
	}
	if !s.HasContacts {
		return "", fmt.Errorf("the database has no contacts table: check that DATABASE_URL is the application's database")
	}
	if !s.HasTrigger {
		return "brevosync's request trigger is not installed, so the service is not notified " +
			"and retry counts are not reset: run 'brevosync migrate'", nil
	}
	return "", nil
}
