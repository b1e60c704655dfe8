package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func init() {
	register(&command{
		name:    "retry",
		summary: "make Failed contacts fresh requests again (--all, or contact ids)",
		usage:   "[--dry-run] (--all | CONTACT_ID...)",
		help: `Makes Failed contacts (brevo_sync_status 'Error', brevo_processing_status
'Error') fresh requests: it writes brevo_sync_status='Selected',
brevo_processing_status='Queued', as the application does when a user selects
a contact. The database trigger then resets the retry count, the error and the
due time and notifies the running service, which sends them within moments.

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
	})
}

// failedWhere matches Failed contacts.
const failedWhere = `brevo_sync_status = 'Error' AND brevo_processing_status = 'Error'`

// requestSet is the application's write that makes a contact a request.
const requestSet = `brevo_sync_status = 'Selected', brevo_processing_status = 'Queued'`

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// parseUUID returns s in canonical (lower-case) form if it is a uuid.
func parseUUID(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if !uuidRE.MatchString(s) {
		return "", false
	}
	return strings.ToLower(s), true
}

func runRetry(ctx context.Context, e *env, fs *flag.FlagSet) error {
	all, dry := flagValue[bool](fs, "all"), flagValue[bool](fs, "dry-run")
	var ids []string
	seen := map[string]bool{}
	for _, a := range fs.Args() {
		if strings.HasPrefix(a, "-") {
			return usagef("flags go before the ids: move %q to the front", a)
		}
		id, ok := parseUUID(a)
		if !ok {
			return usagef("%q is not a contact id (a uuid like 4b3f0c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f)", a)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	switch {
	case all && len(ids) > 0:
		return usagef("give either --all or contact ids, not both")
	case !all && len(ids) == 0:
		return usagef("say which contacts to retry: --all, or their ids")
	}

	pool, err := connectDB(ctx, e, "brevosync-retry")
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := warnIfNoTrigger(ctx, pool, e.stderr); err != nil {
		return err
	}
	if all {
		return retryAll(ctx, pool, e.stdout, dry)
	}
	return retryIDs(ctx, pool, e.stdout, ids, dry)
}

// warnIfNoTrigger tells the operator when the request trigger is missing:
// the write still marks rows as requests, but nothing resets their retry
// bookkeeping or wakes the service.
func warnIfNoTrigger(ctx context.Context, db *pgxpool.Pool, stderr io.Writer) error {
	s, err := inspectSchema(ctx, db)
	if err != nil {
		return err
	}
	if !s.hasContacts {
		return fmt.Errorf("the database has no contacts table: check that DATABASE_URL is the application's database")
	}
	if !s.hasTrigger {
		fmt.Fprintln(stderr, "warning: brevosync's request trigger is not installed, so the service is not notified "+
			"and retry counts are not reset: run 'brevosync migrate'")
	}
	return nil
}

func retryAll(ctx context.Context, db *pgxpool.Pool, w io.Writer, dry bool) error {
	if dry {
		var n int64
		if err := db.QueryRow(ctx, `SELECT count(*) FROM contacts WHERE `+failedWhere).Scan(&n); err != nil {
			return fmt.Errorf("count Failed contacts: %w", err)
		}
		fmt.Fprintf(w, "would retry %d Failed contact(s) (dry run: nothing changed)\n", n)
		return nil
	}
	// One statement: one transaction, one NOTIFY.
	tag, err := db.Exec(ctx, `UPDATE contacts SET `+requestSet+` WHERE `+failedWhere)
	if err != nil {
		return fmt.Errorf("retry Failed contacts: %w", err)
	}
	if tag.RowsAffected() == 0 {
		fmt.Fprintln(w, "no Failed contacts: nothing to retry")
		return nil
	}
	fmt.Fprintf(w, "retried %d Failed contact(s): they are fresh requests now\n", tag.RowsAffected())
	return nil
}

// retryIDsSQL retries the Failed contacts among $1 and reports, for every id,
// the state it had (NULL when no contact has it) and whether it was retried.
// The outer SELECT sees the rows as they were before the UPDATE.
const retryIDsSQL = `
WITH want AS (
	SELECT DISTINCT unnest($1::uuid[]) AS id
), upd AS (
	UPDATE contacts c SET ` + requestSet + `
	FROM want
	WHERE c.id = want.id AND c.brevo_sync_status = 'Error' AND c.brevo_processing_status = 'Error'
	RETURNING c.id
)
SELECT want.id::text, c.id IS NOT NULL, c.brevo_sync_status::text, c.brevo_processing_status::text,
	upd.id IS NOT NULL
FROM want
LEFT JOIN contacts c ON c.id = want.id
LEFT JOIN upd ON upd.id = want.id`

const retryIDsDrySQL = `
SELECT want.id::text, c.id IS NOT NULL, c.brevo_sync_status::text, c.brevo_processing_status::text,
	coalesce(c.brevo_sync_status = 'Error' AND c.brevo_processing_status = 'Error', false)
FROM (SELECT DISTINCT unnest($1::uuid[]) AS id) AS want
LEFT JOIN contacts c ON c.id = want.id`

func retryIDs(ctx context.Context, db *pgxpool.Pool, w io.Writer, ids []string, dry bool) error {
	q := retryIDsSQL
	if dry {
		q = retryIDsDrySQL
	}
	rows, err := db.Query(ctx, q, ids)
	if err != nil {
		return fmt.Errorf("retry contacts: %w", err)
	}
	why := map[string]string{}
	var retried int
	var (
		id         string
		found, hit bool
		sync, proc *string
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &found, &sync, &proc, &hit}, func() error {
		switch {
		case hit:
			retried++
		case !found:
			why[id] = "no contact has this id"
		default:
			why[id] = "not Failed: it is " + describeState(*sync, proc)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("retry contacts: %w", err)
	}
	if dry {
		fmt.Fprintf(w, "would retry %d of %d contact(s) (dry run: nothing changed)\n", retried, len(ids))
	} else {
		fmt.Fprintf(w, "retried %d of %d contact(s): they are fresh requests now\n", retried, len(ids))
	}
	if len(why) > 0 {
		fmt.Fprintf(w, "skipped %d:\n", len(why))
		for _, id := range ids { // in the order given
			if r, ok := why[id]; ok {
				fmt.Fprintf(w, "  %s: %s\n", id, r)
			}
		}
	}
	return nil
}

// describeState renders a state for a human: "Complete (Complete/Complete)".
func describeState(sync string, proc *string) string {
	name, raw := stateName(sync, proc), rawPair(sync, proc)
	if name == raw {
		return raw
	}
	return name + " (" + raw + ")"
}
