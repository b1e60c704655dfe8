package operator

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
)

// ErrInvalidEntries is what an *InvalidError is (errors.Is).
var ErrInvalidEntries = errors.New("invalid entries")

// InvalidError is returned by Select and Unselect when the input has bad
// entries and nothing was applied for it.
type InvalidError struct {
	// Bad are the bad entries, in input order.
	Bad []BadEntry
	// Valid counts the valid (unique) entries that were not applied.
	Valid int
	// Skipping: the caller asked to skip bad entries, but none was valid.
	Skipping bool
}

func (e *InvalidError) Error() string {
	if e.Valid == 0 {
		return fmt.Sprintf("no valid entries (%d invalid): nothing applied", len(e.Bad))
	}
	return fmt.Sprintf("%d invalid entr%s: nothing applied (%d valid entr%s not applied either)",
		len(e.Bad), plural(len(e.Bad), "y", "ies"), e.Valid, plural(e.Valid, "y", "ies"))
}

// Is makes errors.Is(err, ErrInvalidEntries) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalidEntries }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// checkInput applies the all-or-nothing rule to checked input: any bad
// entry stops everything unless skip, and skipping leaves something to do.
func checkInput(in *Entries, skip bool) error {
	switch {
	case len(in.Bad) > 0 && !skip:
		return &InvalidError{Bad: in.Bad, Valid: len(in.List)}
	case len(in.Bad) > 0 && len(in.List) == 0:
		return &InvalidError{Bad: in.Bad, Skipping: true}
	}
	return nil
}

// matchSQL finds the contacts entries name: $1 ids, $2 email keys, matched
// through schema.EmailKey (and its index).
var matchSQL = `
	SELECT id, ` + schema.EmailKey("email") + ` AS email_key,
		brevo_sync_status::text AS sync, brevo_processing_status::text AS proc
	FROM contacts
	WHERE id = ANY($1::uuid[]) OR ` + schema.EmailKey("email") + ` = ANY($2::text[])`

// writeSQL runs set on the contacts entries name where cond holds (checked
// on the current row, so a concurrent claim is respected), and returns every
// matched contact with its state before and whether it was written.
func writeSQL(set, cond string) string {
	return `
WITH hit AS (` + matchSQL + `
), upd AS (
	UPDATE contacts c SET ` + set + `
	FROM hit
	WHERE c.id = hit.id AND ` + cond + `
	RETURNING c.id
)
SELECT hit.id::text, hit.email_key, hit.sync, hit.proc, upd.id IS NOT NULL
FROM hit LEFT JOIN upd ON upd.id = hit.id`
}

// dryRunSQL matches without writing.
var dryRunSQL = `
SELECT hit.id::text, hit.email_key, hit.sync, hit.proc, false FROM (` + matchSQL + `) AS hit`

// matched is one contact an entry named.
type matched struct {
	id, emailKey, sync string
	proc               *string
	written            bool
}

// applyEntries runs q over entries, batch entries per statement, all in ONE
// transaction (so one NOTIFY, and a failure leaves nothing applied; a dry
// run's transaction is read-only), calling each for every contact matched
// (a contact named twice is passed once) and progress after each batch. It
// returns the entries no contact matched, in order.
func applyEntries(ctx context.Context, db *pgxpool.Pool, entries []Entry, batch int, q string, dry bool,
	each func(matched), progress func(done int)) (notFound []string, err error) {
	if batch <= 0 {
		batch = DefaultBatch
	}
	hits := map[string]bool{}     // entry values that matched
	contacts := map[string]bool{} // contact ids passed to each
	opts := pgx.TxOptions{}
	if dry {
		opts.AccessMode = pgx.ReadOnly
	}
	err = pgx.BeginTxFunc(ctx, db, opts, func(tx pgx.Tx) error {
		for start := 0; start < len(entries); start += batch {
			chunk := entries[start:min(start+batch, len(entries))]
			ids, emails := []string{}, []string{}
			for _, e := range chunk {
				if e.IsID {
					ids = append(ids, e.Value)
				} else {
					emails = append(emails, e.Value)
				}
			}
			rows, err := tx.Query(ctx, q, ids, emails)
			if err != nil {
				return err
			}
			var m matched
			_, err = pgx.ForEachRow(rows, []any{&m.id, &m.emailKey, &m.sync, &m.proc, &m.written}, func() error {
				hits[m.id], hits[m.emailKey] = true, true
				if !contacts[m.id] {
					contacts[m.id] = true
					c := m
					if m.proc != nil { // pgx may reuse the target: copy
						p := *m.proc
						c.proc = &p
					}
					each(c)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if progress != nil {
				progress(start + len(chunk))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !hits[e.Value] {
			notFound = append(notFound, e.Value)
		}
	}
	return notFound, nil
}
