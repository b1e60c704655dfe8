package syncer

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
)

// SessionSettings are the Postgres settings the syncer's connections should
// carry (pgx RuntimeParams):
//
//   - synchronous_commit=off: claims and outcomes need not wait for the WAL
//     flush. A claim lost in a server crash is only claimed again; an
//     outcome lost is only sent again (at least once, idempotent).
//   - enable_bitmapscan=off: the claim must walk contacts_brevo_pending_idx
//     in due order and stop after its LIMIT. Right after a large selection
//     the statistics still say few rows wait, and the planner then prefers a
//     bitmap scan that reads and sorts every waiting row on every claim:
//     quadratic in the backlog (measured: 40,000 contacts drained at 2,600/s
//     with bitmap scans, 8,000/s without).
var SessionSettings = map[string]string{
	"synchronous_commit": "off",
	"enable_bitmapscan":  "off",
}

// The SQL of the pipeline. Every statement is one round trip, and no
// transaction is held across a CRM request: a claim is committed before the
// request and the outcome is written after it, guarded by the claim token.
// The states and the predicates over them come from package schema.

// claimSQL takes the due rows in due order and, with them, every other
// waiting row of the same email (contract §2, "One email, several rows"):
// Brevo keys contacts by email, so rows that wait together are sent as one.
// A request's row becomes Processing; the mirror's (Complete, New) keep
// their sync status, which is what the application asked for. Rows due at
// or before $4 (NULL: none) are left alone: a backlog the bulk path takes.
var claimSQL = `
WITH picked AS (
	SELECT id, ` + schema.EmailKey("email") + ` AS email_key FROM contacts
	WHERE ` + schema.Pending + `
	  AND ` + schema.DueAt + ` <= now()
	  AND ` + schema.DueAt + ` > coalesce($4::timestamptz, '-infinity'::timestamptz)
	ORDER BY ` + schema.DueAt + `
	LIMIT $1
	FOR UPDATE SKIP LOCKED
), ` + familyCTE(schema.Pending) + `, claimed AS (
	SELECT id FROM picked UNION ALL SELECT id FROM family
)
UPDATE contacts AS c SET
	` + claimState + `,
	brevo_claim_token       = $2,
	brevo_lease_until       = now() + $3 * interval '1 millisecond'
FROM claimed
WHERE c.id = claimed.id
RETURNING ` + contactColumns

// qualified prefixes the state columns of an unqualified predicate of
// package schema with alias.
func qualified(alias, pred string) string {
	r := strings.NewReplacer("brevo_sync_status", alias+".brevo_sync_status",
		"brevo_processing_status", alias+".brevo_processing_status")
	return r.Replace(pred)
}

// familyCTE is a claim's "family" CTE: every other row of a picked row's
// email that pred (an unqualified predicate of package schema) matches.
//
// It is looked up per picked row through the email key's index, on
// purpose: right after a large selection the statistics say few rows wait,
// and a plain semi-join then walks contacts_brevo_work_idx, every waiting
// row, once per claim (quadratic in a backlog: 10,000 contacts drained at
// 530/s instead of 13,000/s by brevosync bench; an import's claim of 18,000
// rows took 14 s instead of 0.4 s). The predicate is wrapped in coalesce so
// that it does not match the work index's, leaving the email key's index
// the only one to use.
func familyCTE(pred string) string {
	return `family AS (
	SELECT f.id FROM picked AS p CROSS JOIN LATERAL (
		SELECT c.id FROM contacts AS c
		WHERE ` + schema.EmailKey("c.email") + ` = p.email_key
		  AND coalesce(` + qualified("c", pred) + `, false)
		  AND c.id NOT IN (SELECT id FROM picked)
		FOR UPDATE SKIP LOCKED
	) AS f
)`
}

// mirrorSyncs are the sync statuses of the mirror's work, as an SQL list.
var mirrorSyncs = "(" + schema.Literal(schema.UpdatePending.Sync) + ", " + schema.Literal(schema.RemovalPending.Sync) + ")"

// claimState is the SET list of a claim: a request's row becomes
// Processing; the mirror's keep their sync status.
var claimState = `brevo_sync_status = CASE WHEN c.brevo_sync_status IN ` + mirrorSyncs + ` THEN c.brevo_sync_status
	                               ELSE ` + schema.Literal(schema.Processing.Sync) + ` END,
	brevo_processing_status = ` + schema.Literal(schema.Processing.Proc)

// contactColumns are the columns a claimed Contact is read from (table
// alias c), in scanContact's order.
const contactColumns = `c.id::text, c.email, c.name, c.phone_number, c.domain_id::text, c.page_id::text,
	c.email_type::text, c.source_url, c.has_gmail, c.brevo_retry_count, c.brevo_requested_at,
	c.brevo_sync_status::text, coalesce(c.brevo_contact_id, ''), coalesce(c.brevo_synced_email, ''),
	c.brevo_unsubscribed_at IS NOT NULL`

// scanContact reads contactColumns, after the columns before (if any).
func scanContact(row pgx.CollectableRow, before ...any) (Contact, error) {
	var c Contact
	var requested pgtype.Timestamptz
	var sync string
	dest := append(before, &c.ID, &c.Email, &c.Name, &c.PhoneNumber, &c.DomainID, &c.PageID,
		&c.EmailType, &c.SourceURL, &c.HasGmail, &c.RetryCount, &requested,
		&sync, &c.BrevoID, &c.SyncedEmail, &c.Unsubscribed)
	err := row.Scan(dest...)
	c.RequestedAt = requested.Time
	c.Kind = kindOf(sync, c)
	return c, err
}

// scanContacts reads every row of contactColumns.
func scanContacts(rows pgx.Rows) ([]Contact, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Contact, error) { return scanContact(row) })
}

// claim takes up to n due rows for this process under a fresh token and
// lease. Rows locked by another claimer are skipped, not waited for.
// claim claims up to n due contacts, due after floor (zero: any).
func claim(ctx context.Context, db *pgxpool.Pool, n int, lease time.Duration, floor time.Time) (string, []Contact, error) {
	token := newToken()
	after := pgtype.Timestamptz{Time: floor, Valid: !floor.IsZero()}
	rows, err := db.Query(ctx, claimSQL, n, token, lease.Milliseconds(), after)
	if err != nil {
		return "", nil, fmt.Errorf("claim contacts: %w", err)
	}
	contacts, err := scanContacts(rows)
	if err != nil {
		return "", nil, fmt.Errorf("claim contacts: %w", err)
	}
	return token.String(), contacts, nil
}

// finalizeSQL writes outcomes; touchUpdatedAt also bumps updated_at, which
// the application's monitoring reads (where the column exists).
func finalizeSQL(touchUpdatedAt bool) string {
	touch := ""
	if touchUpdatedAt {
		touch = `
	updated_at              = now(),`
	}
	return `
UPDATE contacts AS c SET` + touch + `
	brevo_sync_status       = r.sync::crm_sync_status,
	brevo_processing_status = nullif(r.proc, '')::crm_processing_status,
	brevo_processing_error  = CASE WHEN r.keep_err THEN c.brevo_processing_error ELSE nullif(r.err, '') END,
	brevo_retry_count       = r.retries,
	brevo_next_retry_at     = CASE WHEN r.delay_ms < 0 THEN NULL
	                               ELSE now() + r.delay_ms * interval '1 millisecond' END,
	brevo_synced_at         = CASE WHEN r.sync = ` + schema.Literal(schema.Complete.Sync) + ` THEN now() ELSE c.brevo_synced_at END,
	brevo_contact_id        = coalesce(nullif(r.brevo_id, ''), c.brevo_contact_id),
	brevo_sync_note         = CASE WHEN r.sync = ` + schema.Literal(schema.Complete.Sync) + ` THEN nullif(r.note, '')
	                               ELSE c.brevo_sync_note END,
	brevo_synced_email      = coalesce(nullif(r.sent_email, ''), c.brevo_synced_email),
	brevo_claim_token       = NULL,
	brevo_lease_until       = NULL
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::int[], $8::bigint[], $9::text[],
	$10::text[], $11::text[])
	AS r(id, token, sync, proc, err, keep_err, retries, delay_ms, brevo_id, note, sent_email)
WHERE c.id = r.id AND c.brevo_claim_token = r.token
  -- Compared as text on purpose: written plainly, the condition matches
  -- contacts_brevo_claims_idx's predicate, and with statistics that say few
  -- rows are Processing the planner walks that index (and its dead entries)
  -- instead of looking the batch up by primary key.
  AND c.brevo_processing_status::text = ` + schema.Literal(schema.Processing.Proc) + `
RETURNING c.id::text`
}

// The two forms of finalizeSQL.
var (
	finalizePlain   = finalizeSQL(false)
	finalizeTouched = finalizeSQL(true)
)

// finalize writes outcomes in one statement. A row whose claim no longer
// holds (withdrawn, selected again, or taken back after its lease expired)
// is left alone; the returned set names the rows that were written.
func finalize(ctx context.Context, db *pgxpool.Pool, outs []outcome, touchUpdatedAt bool) (map[string]bool, error) {
	n := len(outs)
	ids, tokens := make([]string, n), make([]string, n)
	syncs, procs, errs := make([]string, n), make([]string, n), make([]string, n)
	keep, retries := make([]bool, n), make([]int32, n)
	delays, brevoIDs, notes, sent := make([]int64, n), make([]string, n), make([]string, n), make([]string, n)
	for i, o := range outs {
		notes[i], sent[i] = o.note, o.sentEmail
		ids[i], tokens[i] = o.id, o.token
		syncs[i], procs[i], errs[i] = o.state.Sync, o.state.Proc, o.err
		keep[i], retries[i] = o.keepErr, int32(o.retries)
		delays[i], brevoIDs[i] = -1, o.brevoID
		if o.delay >= 0 {
			delays[i] = o.delay.Milliseconds()
		}
	}
	q := finalizePlain
	if touchUpdatedAt {
		q = finalizeTouched
	}
	rows, err := db.Query(ctx, q, ids, tokens, syncs, procs, errs, keep, retries, delays, brevoIDs, notes, sent)
	if err != nil {
		return nil, fmt.Errorf("finalize %d contacts: %w", n, err)
	}
	written := make(map[string]bool, n)
	var id string
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error {
		written[id] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("finalize %d contacts: %w", n, err)
	}
	return written, nil
}

// rescueSQL takes back claims whose lease has expired (their process died or
// lost the database) without charging an attempt: a request waits again
// (Queued, or Queued/Error when it had failed before). Rows the old
// scheduler left claimed have no lease and are taken back too; since they
// have no claim token either, the request trigger makes them fresh
// requests.
var rescueSQL = `
UPDATE contacts SET
	brevo_sync_status       = CASE WHEN brevo_sync_status IN ` + mirrorSyncs + ` THEN brevo_sync_status
	                               ELSE ` + schema.Literal(schema.Queued.Sync) + ` END,
	brevo_processing_status = CASE WHEN brevo_sync_status IN ` + mirrorSyncs + ` THEN ` + schema.Literal(schema.UpdatePending.Proc) + `
	                               WHEN brevo_retry_count > 0 THEN ` + schema.Literal(schema.RetryScheduled.Proc) + `
	                               ELSE ` + schema.Literal(schema.Queued.Proc) + ` END::crm_processing_status,
	brevo_claim_token       = NULL,
	brevo_lease_until       = NULL
WHERE ` + schema.InFlight + `
  AND ` + schema.LeaseEnd + ` < now()`

func rescueExpired(ctx context.Context, db *pgxpool.Pool) (int64, error) {
	tag, err := db.Exec(ctx, rescueSQL)
	if err != nil {
		return 0, fmt.Errorf("take back expired claims: %w", err)
	}
	return tag.RowsAffected(), nil
}

// nextDueSQL is the earliest time something needs this process: a pending
// row becoming due, or a claim's lease expiring; in seconds from now, 0 when
// something is due already, NULL when nothing waits.
var nextDueSQL = `
SELECT CASE WHEN t IS NULL THEN NULL
            WHEN t = '-infinity' THEN 0
            ELSE greatest(0, extract(epoch FROM t - clock_timestamp())) END::float8
FROM (SELECT least(
	(SELECT ` + schema.DueAt + ` FROM contacts WHERE ` + schema.Pending + ` ORDER BY ` + schema.DueAt + ` LIMIT 1),
	(SELECT coalesce(lease_until, '-infinity'::timestamptz) FROM brevosync_removals
	 ORDER BY coalesce(lease_until, '-infinity'::timestamptz) LIMIT 1),
	(SELECT ` + schema.LeaseEnd + ` FROM contacts WHERE ` + schema.InFlight + ` ORDER BY ` + schema.LeaseEnd + ` LIMIT 1)
) AS t) AS due`

// nextDue returns how long until the next row is due; ok is false when
// nothing waits.
func nextDue(ctx context.Context, db *pgxpool.Pool) (wait time.Duration, ok bool, err error) {
	var secs *float64
	if err := db.QueryRow(ctx, nextDueSQL).Scan(&secs); err != nil {
		return 0, false, fmt.Errorf("find next due contact: %w", err)
	}
	if secs == nil {
		return 0, false, nil
	}
	return time.Duration(*secs * float64(time.Second)), true, nil
}

// newToken returns a random claim token.
func newToken() pgtype.UUID {
	return pgtype.UUID{Bytes: randomUUID(), Valid: true}
}

// randomUUID returns a version 4 UUID.
func randomUUID() [16]byte {
	var b [16]byte
	_, _ = crand.Read(b[:]) // never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b
}

// sweepLockKey is the advisory lock that lets one replica at a time run the
// sweep's heavy part.
const sweepLockKey int64 = 0x62726576_6f737963 // "brevosyc"

// SweepReport is what one sweep pass found.
type SweepReport struct {
	Skipped  bool  // another replica held the sweep lock
	Rescued  int64 // expired claims taken back
	Due      int64 // contacts due now, counted up to SweepDueCap
	Tasks    map[string]TaskResult
	Duration time.Duration // how long the pass took
}

// SweepTask is maintenance the sweep runs on one replica at a time, inside
// its transaction and under its lock: for example pruning old webhook
// events. A task that fails is rolled back alone (a savepoint) and the
// sweep goes on.
type SweepTask struct {
	Name string
	// Run does the work and returns how many rows it touched.
	Run func(ctx context.Context, tx pgx.Tx) (int64, error)
}

// TaskResult is what a SweepTask did in one pass.
type TaskResult struct {
	Count int64
	Err   error
}

// runTask runs t under a savepoint of tx.
func runTask(ctx context.Context, tx pgx.Tx, t SweepTask) (n int64, err error) {
	err = pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		n, err = t.Run(ctx, sp)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", t.Name, err)
	}
	return n, nil
}

// SweepDueCap bounds the sweep's count of due contacts, so that a pass stays
// cheap however large the backlog (the claims, not the count, do the work).
const SweepDueCap = 1000

var sweepDueSQL = `
SELECT count(*) FROM (
	SELECT 1 FROM contacts WHERE ` + schema.Pending + ` AND ` + schema.DueAt + ` <= now()
	LIMIT $1
) AS due`

// queueCountsSQL counts the work states for the metrics, at scrape time.
var queueCountsSQL = `
SELECT
	(SELECT count(*) FROM contacts WHERE ` + schema.Claimable + `),
	(SELECT count(*) FROM contacts WHERE ` + schema.Claimable + `
	    AND ` + schema.DueAt + ` <= now()),
	(SELECT count(*) FROM contacts WHERE ` + schema.InFlight + `),
	(SELECT count(*) FROM contacts WHERE ` + schema.RetryWhere + `)`

// sweepOnce runs the sweep's heavy part under a transaction-level advisory
// lock: take back expired claims and count what is due. A replica that
// does not get the lock skips it; the others' claims do the rest.
func sweepOnce(ctx context.Context, db *pgxpool.Pool, tasks []SweepTask) (SweepReport, error) {
	start := time.Now()
	var r SweepReport
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var locked bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, sweepLockKey).Scan(&locked); err != nil {
			return err
		}
		if !locked {
			r.Skipped = true
			return nil
		}
		tag, err := tx.Exec(ctx, rescueSQL)
		if err != nil {
			return err
		}
		r.Rescued = tag.RowsAffected()
		if err := tx.QueryRow(ctx, sweepDueSQL, SweepDueCap).Scan(&r.Due); err != nil {
			return err
		}
		for _, t := range tasks {
			n, err := runTask(ctx, tx, t)
			if r.Tasks == nil {
				r.Tasks = map[string]TaskResult{}
			}
			r.Tasks[t.Name] = TaskResult{Count: n, Err: err}
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("sweep: %w", err)
	}
	r.Duration = time.Since(start)
	return r, nil
}

const heartbeatSQL = `
WITH me AS (
	INSERT INTO brevosync_nodes (id, hostname) VALUES ($1, $2)
	ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()
	RETURNING id
)
SELECT 1 + count(*) FROM brevosync_nodes
WHERE id <> $1 AND heartbeat_at > now() - $3 * interval '1 millisecond'`

// heartbeat records this replica as alive and returns how many replicas are
// (itself included).
func heartbeat(ctx context.Context, db *pgxpool.Pool, node pgtype.UUID, host string, ttl time.Duration) (int, error) {
	var n int
	if err := db.QueryRow(ctx, heartbeatSQL, node, host, ttl.Milliseconds()).Scan(&n); err != nil {
		return 0, fmt.Errorf("heartbeat: %w", err)
	}
	return n, nil
}

func deregister(ctx context.Context, db *pgxpool.Pool, node pgtype.UUID) error {
	_, err := db.Exec(ctx, `DELETE FROM brevosync_nodes WHERE id = $1 OR heartbeat_at < now() - interval '1 hour'`, node)
	if err != nil {
		return fmt.Errorf("deregister replica: %w", err)
	}
	return nil
}
