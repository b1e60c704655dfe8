package operator

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
)

// errTextSQL is the part of an error text that causes are read from: the
// status report groups by it, and Failures filters by it.
const errTextSQL = "left(brevo_processing_error, 300)"

// causeSQL strips from an error text (col, an expression) what differs
// between occurrences of the same cause: the syncer's prefix (the parameter
// prefixParam, bound to syncer.CausePrefix) with attempt counts, ids, IP
// addresses with ports, emails and long numbers. What is left is
// ErrorCause.Cause.
func causeSQL(col, prefixParam string) string {
	e := col
	e = `regexp_replace(` + e + `, ` + prefixParam + `, '')`
	e = `regexp_replace(` + e + `, '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}', '<id>', 'g')`
	e = `regexp_replace(` + e + `, '(\[[0-9a-fA-F:]+\]|\d{1,3}(\.\d{1,3}){3})(:\d+)?', '<addr>', 'g')`
	e = `regexp_replace(` + e + `, '[^\s"<>(),;:]+@[^\s"<>(),;:]+', '<email>', 'g')`
	e = `regexp_replace(` + e + `, '\d{4,}', 'N', 'g')`
	return e
}

// contactsStatusSQL builds the one pass over contacts, grouped by state and
// error cause, for the columns the database has. The inner query groups by
// the raw error text, so the regular expressions of causeSQL run once per
// distinct text rather than once per row.
func contactsStatusSQL(s schema.Info) string {
	has := s.Columns
	col := func(name, expr, otherwise string) string {
		if has[name] {
			return expr
		}
		return otherwise
	}
	since := "NULL::timestamptz"
	switch {
	case has["brevo_requested_at"] && has["updated_at"]:
		since = "coalesce(brevo_requested_at, updated_at::timestamptz)"
	case has["brevo_requested_at"]:
		since = "brevo_requested_at"
	case has["updated_at"]:
		since = "updated_at::timestamptz"
	}
	return `
SELECT sync, proc, ` + causeSQL("err", "$1") + `, sum(n)::bigint, min(err), min(since),
	sum(due)::bigint, min(next_retry), sum(confirmed)::bigint, sum(unsubscribed)::bigint
FROM (
	SELECT brevo_sync_status::text AS sync, brevo_processing_status::text AS proc,
		` + col("brevo_processing_error", errTextSQL, "NULL::text") + ` AS err,
		count(*) AS n,
		min(` + since + `) AS since,
		` + col("brevo_next_retry_at", `count(*) FILTER (WHERE coalesce(brevo_next_retry_at, '-infinity') <= now())`, "NULL::bigint") + ` AS due,
		` + col("brevo_next_retry_at", `min(brevo_next_retry_at) FILTER (WHERE brevo_next_retry_at > now())`, "NULL::timestamptz") + ` AS next_retry,
		` + col("brevo_confirmed_at", `count(*) FILTER (WHERE brevo_confirmed_at IS NOT NULL)`, "NULL::bigint") + ` AS confirmed,
		` + col("brevo_unsubscribed_at", `count(*) FILTER (WHERE brevo_unsubscribed_at IS NOT NULL)`, "NULL::bigint") + ` AS unsubscribed
	FROM contacts
	GROUP BY 1, 2, 3
) AS g
GROUP BY 1, 2, 3`
}

func collectEvents(ctx context.Context, db *pgxpool.Pool, rep *Report) error {
	rows, err := db.Query(ctx, `
		SELECT effect, count(*) FROM brevosync_webhook_events
		WHERE received_at > now() - interval '24 hours'
		GROUP BY effect`)
	if err != nil {
		return fmt.Errorf("count webhook events: %w", err)
	}
	rep.Webhooks.EventsLast24h = map[string]int64{}
	var effect string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&effect, &n}, func() error {
		rep.Webhooks.EventsLast24h[effect] = n
		return nil
	})
	if err != nil {
		return fmt.Errorf("count webhook events: %w", err)
	}
	return nil
}

func collectReplicas(ctx context.Context, db *pgxpool.Pool, rep *Report) error {
	rows, err := db.Query(ctx, `
		SELECT id::text, hostname, started_at, heartbeat_at FROM brevosync_nodes
		WHERE heartbeat_at > now() - interval '30 seconds'
		ORDER BY started_at, id`)
	if err != nil {
		return fmt.Errorf("list replicas: %w", err)
	}
	rep.Replicas = []Replica{}
	var r Replica
	_, err = pgx.ForEachRow(rows, []any{&r.ID, &r.Hostname, &r.StartedAt, &r.HeartbeatAt}, func() error {
		r.StartedAt, r.HeartbeatAt = r.StartedAt.UTC(), r.HeartbeatAt.UTC()
		rep.Replicas = append(rep.Replicas, r)
		return nil
	})
	if err != nil {
		return fmt.Errorf("list replicas: %w", err)
	}
	return nil
}
