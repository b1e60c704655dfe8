package operator

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
)

// MaxSelectBatch bounds SelectOptions.Batch.
const MaxSelectBatch = 50000

// SelectOptions tune Select.
type SelectOptions struct {
	// DryRun only counts what would be selected.
	DryRun bool
	// Batch is the entries per statement and transaction (one NOTIFY
	// each); default 1000.
	Batch int
	// Progress, when set, is called after each batch with the entries done.
	Progress func(done int)
}

// SelectResult is what Select did.
type SelectResult struct {
	// Done counts the entries processed (all of them unless an error
	// stopped Select early).
	Done int
	// Selected counts the contacts made fresh requests (would be, with
	// DryRun); AlreadyWaiting those left alone because a request of theirs
	// is waiting or in flight.
	Selected, AlreadyWaiting int
	// NotFound are the processed entries no contact matched, in order.
	NotFound []string
}

// Select makes the contacts the entries name fresh requests, the way the
// application selects them, except those with a request waiting or in
// flight. It writes in batches, one statement and one transaction (so one
// notification) per batch; on error the batches before stay committed, and
// running the same entries again is safe.
func Select(ctx context.Context, db *pgxpool.Pool, entries []Entry, opts SelectOptions) (SelectResult, error) {
	batch := opts.Batch
	if batch <= 0 {
		batch = 1000
	}
	st := selectState{contacts: map[string]bool{}, matched: map[string]bool{}}
	var err error
	for start := 0; start < len(entries); start += batch {
		if err = ctx.Err(); err != nil {
			break
		}
		chunk := entries[start:min(start+batch, len(entries))]
		if err = selectBatch(ctx, db, chunk, opts.DryRun, &st); err != nil {
			break
		}
		st.res.Done += len(chunk)
		if opts.Progress != nil {
			opts.Progress(st.res.Done)
		}
	}
	for _, e := range entries[:st.res.Done] {
		if !st.matched[e.Value] {
			st.res.NotFound = append(st.res.NotFound, e.Value)
		}
	}
	return st.res, err
}

// selectState accumulates the batches' outcomes.
type selectState struct {
	res      SelectResult
	contacts map[string]bool // contact ids counted already
	matched  map[string]bool // entry values that matched a contact
}

// selectMatch finds the contacts the entries name.
const selectMatch = `
	SELECT id, lower(email) AS email, brevo_sync_status::text AS sync, brevo_processing_status::text AS proc
	FROM contacts
	WHERE id = ANY($1::uuid[]) OR lower(email) = ANY($2::text[])`

// selectWriteSQL makes the matched contacts requests, except those already
// waiting (checked on the current row, so a concurrent claim is respected),
// and returns every matched contact with whether it was written.
var selectWriteSQL = `
WITH hit AS (` + selectMatch + `
), upd AS (
	UPDATE contacts c SET ` + schema.RequestSet + `
	FROM hit
	WHERE c.id = hit.id AND NOT ` + schema.UnfinishedWhere + `
	RETURNING c.id
)
SELECT hit.id::text, hit.email, hit.sync, hit.proc, upd.id IS NOT NULL
FROM hit LEFT JOIN upd ON upd.id = hit.id`

const selectDrySQL = `
SELECT hit.id::text, hit.email, hit.sync, hit.proc, false FROM (` + selectMatch + `) AS hit`

// selectBatch runs one statement (one transaction, so one NOTIFY) for chunk.
func selectBatch(ctx context.Context, db *pgxpool.Pool, chunk []Entry, dry bool, st *selectState) error {
	ids, emails := []string{}, []string{}
	for _, e := range chunk {
		if e.IsID {
			ids = append(ids, e.Value)
		} else {
			emails = append(emails, e.Value)
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
		st.matched[id] = true
		st.matched[email] = true
		if st.contacts[id] {
			return nil // counted in an earlier batch (named by id and by email)
		}
		st.contacts[id] = true
		// Not written though not waiting when matched: it became a request
		// between the match and the update (the UPDATE checks the current
		// row), so it is waiting too.
		if written || (dry && !schema.Unfinished(sync, proc)) {
			st.res.Selected++
		} else {
			st.res.AlreadyWaiting++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("select contacts: %w", err)
	}
	return nil
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
