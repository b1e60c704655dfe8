package operator

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
)

// RetryAll makes every Failed contact a fresh request, in one statement (one
// transaction, one NOTIFY), and returns how many it retried (would retry,
// with dry).
func RetryAll(ctx context.Context, db *pgxpool.Pool, dry bool) (int64, error) {
	if dry {
		var n int64
		if err := db.QueryRow(ctx, `SELECT count(*) FROM contacts WHERE `+schema.FailedWhere).Scan(&n); err != nil {
			return 0, fmt.Errorf("count Failed contacts: %w", err)
		}
		return n, nil
	}
	tag, err := db.Exec(ctx, `UPDATE contacts SET `+schema.RequestSet+` WHERE `+schema.FailedWhere)
	if err != nil {
		return 0, fmt.Errorf("retry Failed contacts: %w", err)
	}
	return tag.RowsAffected(), nil
}

// RetryResult is what RetryIDs did.
type RetryResult struct {
	// Retried counts the contacts made fresh requests (would be, dry).
	Retried int
	// Skipped are the ids left alone, in the order given, with why.
	Skipped []Skip
}

// Skip is an id RetryIDs left alone.
type Skip struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// retryIDsSQL retries the Failed contacts among $1 and reports, for every id,
// the state it had (NULL when no contact has it) and whether it was retried.
// The outer SELECT sees the rows as they were before the UPDATE.
var retryIDsSQL = `
WITH want AS (
	SELECT DISTINCT unnest($1::uuid[]) AS id
), upd AS (
	UPDATE contacts c SET ` + schema.RequestSet + `
	FROM want
	WHERE c.id = want.id AND ` + schema.FailedWhere + `
	RETURNING c.id
)
SELECT want.id::text, c.id IS NOT NULL, c.brevo_sync_status::text, c.brevo_processing_status::text,
	upd.id IS NOT NULL
FROM want
LEFT JOIN contacts c ON c.id = want.id
LEFT JOIN upd ON upd.id = want.id`

var retryIDsDrySQL = `
SELECT want.id::text, c.id IS NOT NULL, c.brevo_sync_status::text, c.brevo_processing_status::text,
	coalesce(` + schema.FailedWhere + `, false)
FROM (SELECT DISTINCT unnest($1::uuid[]) AS id) AS want
LEFT JOIN contacts c ON c.id = want.id`

// RetryIDs makes the Failed contacts among ids (canonical uuids, each once)
// fresh requests, in one statement, and says why it left the others alone.
func RetryIDs(ctx context.Context, db *pgxpool.Pool, ids []string, dry bool) (RetryResult, error) {
	q := retryIDsSQL
	if dry {
		q = retryIDsDrySQL
	}
	rows, err := db.Query(ctx, q, ids)
	if err != nil {
		return RetryResult{}, fmt.Errorf("retry contacts: %w", err)
	}
	why := map[string]string{}
	var res RetryResult
	var (
		id         string
		found, hit bool
		sync, proc *string
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &found, &sync, &proc, &hit}, func() error {
		switch {
		case hit:
			res.Retried++
		case !found:
			why[id] = "no contact has this id"
		default:
			why[id] = "not Failed: it is " + DescribeState(*sync, proc)
		}
		return nil
	})
	if err != nil {
		return RetryResult{}, fmt.Errorf("retry contacts: %w", err)
	}
	for _, id := range ids { // in the order given
		if r, ok := why[id]; ok {
			res.Skipped = append(res.Skipped, Skip{ID: id, Reason: r})
		}
	}
	return res, nil
}

// DescribeState renders a state for a human: "Complete (Complete/Complete)".
func DescribeState(sync string, proc *string) string {
	st, _ := schema.Lookup(sync, proc)
	if raw := schema.RawPair(sync, proc); st.Name != raw {
		return st.Name + " (" + raw + ")"
	}
	return st.Name
}
