package syncer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
)

// The SQL of the bulk path (sql/00040_imports.sql): import jobs, the
// driver's lease, the shared processes budget and the id cursor.

// importAccount names the account's row of brevosync_import_state.
const importAccount = "brevo"

// importHold is the lease an import job's contacts carry. The job, not the
// lease, holds them: a replica that dies hands its jobs to the next driver
// after the driver's lease (Config.Lease) expires. The long lease only
// brings the contacts back, through the ordinary take-back of expired
// claims, should their job itself be lost.
const importHold = 24 * time.Hour

// Job states (brevosync_imports.state).
const (
	jobPending    = "pending"
	jobSubmitting = "submitting"
	jobSubmitted  = "submitted"
	jobUpserting  = "upserting"
	jobIDs        = "ids"
	jobDone       = "done"
)

// countDueSQL counts due contacts, due by $2 at the latest (NULL: now), up
// to $1, and reads the database's clock.
var countDueSQL = `
SELECT count(*), now() FROM (
	SELECT 1 FROM contacts WHERE ` + schema.Importable + `
	  AND ` + schema.DueAt + ` <= least(now(), coalesce($2::timestamptz, 'infinity'))
	LIMIT $1
) AS due`

// countDue counts up to limit contacts due by cutoff (zero: now) and
// returns the database's clock.
func countDue(ctx context.Context, db *pgxpool.Pool, limit int, cutoff time.Time) (int, time.Time, error) {
	var n int
	var now time.Time
	c := pgtype.Timestamptz{Time: cutoff, Valid: !cutoff.IsZero()}
	if err := db.QueryRow(ctx, countDueSQL, limit, c).Scan(&n, &now); err != nil {
		return 0, time.Time{}, fmt.Errorf("count due contacts: %w", err)
	}
	return n, now, nil
}

// claimJobSQL claims, in one statement, up to $1 due rows (due by $4 at the
// latest) and every other waiting row of their emails, as claimSQL does,
// under the job's token $2 and the long lease $3 (ms), and records the job:
// no claim is ever without its job.
//
// The family is looked up as familyCTE says.
var claimJobSQL = `
WITH picked AS (
	SELECT id, ` + schema.EmailKey("email") + ` AS email_key FROM contacts
	WHERE ` + schema.Importable + `
	  AND ` + schema.DueAt + ` <= least(now(), $4::timestamptz)
	ORDER BY ` + schema.DueAt + `
	LIMIT $1
	FOR UPDATE SKIP LOCKED
), ` + familyCTE(schema.Importable) + `, claimed AS (
	SELECT id FROM picked UNION ALL SELECT id FROM family
), upd AS (
	UPDATE contacts AS c SET
		` + claimState + `,
		brevo_claim_token       = $2,
		brevo_lease_until       = now() + $3 * interval '1 millisecond'
	FROM claimed
	WHERE c.id = claimed.id
	RETURNING ` + contactColumns + `
), job AS (
	INSERT INTO brevosync_imports (state, claim_token, contact_ids, n_contacts)
	SELECT '` + jobPending + `', $2, array_agg(id::uuid), count(*) FROM upd
	HAVING count(*) > 0
	RETURNING id
)
SELECT (SELECT id FROM job), upd.* FROM upd`

// claimJob claims a chunk for a new pending job and returns the job's id
// (0 when nothing was due), its claim token and its contacts.
func claimJob(ctx context.Context, db *pgxpool.Pool, n int, cutoff time.Time) (int64, string, []Contact, error) {
	token := newToken()
	rows, err := db.Query(ctx, claimJobSQL, n, token, importHold.Milliseconds(), cutoff)
	if err != nil {
		return 0, "", nil, fmt.Errorf("claim contacts for an import: %w", err)
	}
	var job int64
	contacts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Contact, error) {
		var id *int64
		c, err := scanContact(row, &id)
		if id != nil {
			job = *id
		}
		return c, err
	})
	if err != nil {
		return 0, "", nil, fmt.Errorf("claim contacts for an import: %w", err)
	}
	return job, token.String(), contacts, nil
}

// job is an open import job as stored.
type job struct {
	id         int64
	state      string
	token      string
	ids        []string
	process    string
	submitted  time.Time
	notified   time.Time
	checked    time.Time
	checks     int
	finished   time.Time
	hasSecret  bool
	rowsInBody int
}

const jobColumns = `id, state, claim_token::text, contact_ids::text[], coalesce(process_id, ''),
	coalesce(submitted_at, '-infinity'), coalesce(notified_at, '-infinity'), coalesce(checked_at, '-infinity'),
	checks, coalesce(finished_at, '-infinity'), secret_sha256 IS NOT NULL, n_contacts`

func scanJob(row pgx.Row) (job, error) {
	var j job
	var sub, not, chk, fin pgtype.Timestamptz
	err := row.Scan(&j.id, &j.state, &j.token, &j.ids, &j.process, &sub, &not, &chk, &j.checks, &fin,
		&j.hasSecret, &j.rowsInBody)
	j.submitted, j.notified, j.checked, j.finished = finite(sub), finite(not), finite(chk), finite(fin)
	return j, err
}

// finite is t's time, zero for NULL or ±infinity.
func finite(t pgtype.Timestamptz) time.Time {
	if !t.Valid || t.InfinityModifier != pgtype.Finite {
		return time.Time{}
	}
	return t.Time
}

// nextJob returns the first open job in one of states (the one in Brevo
// first, then the oldest), or ok false.
func nextJob(ctx context.Context, db *pgxpool.Pool, states ...string) (j job, ok bool, err error) {
	row := db.QueryRow(ctx, `SELECT `+jobColumns+` FROM brevosync_imports
		WHERE state <> '`+jobDone+`' AND state = ANY($1)
		ORDER BY state IN ('`+jobSubmitting+`', '`+jobSubmitted+`') DESC, id LIMIT 1`, states)
	j, err = scanJob(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return job{}, false, nil
	}
	if err != nil {
		return job{}, false, fmt.Errorf("read import jobs: %w", err)
	}
	return j, true, nil
}

// readJob re-reads a job.
func readJob(ctx context.Context, db *pgxpool.Pool, id int64) (job, error) {
	j, err := scanJob(db.QueryRow(ctx, `SELECT `+jobColumns+` FROM brevosync_imports WHERE id = $1`, id))
	if err != nil {
		return job{}, fmt.Errorf("read import job %d: %w", id, err)
	}
	return j, nil
}

// jobContactsSQL reads the contacts a job still holds: rows withdrawn,
// selected again or taken back meanwhile are no longer its. The rows are
// found by primary key; the state is compared as text so that the planner
// does not walk contacts_brevo_claims_idx instead (see finalizeSQL).
var jobContactsSQL = `
SELECT ` + contactColumns + ` FROM unnest($1::uuid[]) AS j(id) JOIN contacts AS c ON c.id = j.id
WHERE c.brevo_claim_token = $2
  AND c.brevo_processing_status::text = ` + schema.Literal(schema.Processing.Proc)

func jobContacts(ctx context.Context, db *pgxpool.Pool, j job) ([]Contact, error) {
	rows, err := db.Query(ctx, jobContactsSQL, j.ids, j.token)
	if err != nil {
		return nil, fmt.Errorf("read the contacts of import job %d: %w", j.id, err)
	}
	cs, err := scanContacts(rows)
	if err != nil {
		return nil, fmt.Errorf("read the contacts of import job %d: %w", j.id, err)
	}
	return cs, nil
}

// jobUpdate is a change to a job: its state moves from one of from (any,
// when empty) to to, with the other fields set when given.
type jobUpdate struct {
	from       []string
	to         string
	process    string
	secret     []byte // sha256 of the notify secret
	submitted  bool   // submitted_at = now()
	checked    bool   // checked_at = now(), checks+1
	finished   bool   // finished_at = now()
	result     string
	rejected   int
	fallback   int
	rowsInBody int
	bytes      int
	clearIDs   bool
}

// setJob applies u to job id and reports whether the job was in one of
// u.from.
func setJob(ctx context.Context, db *pgxpool.Pool, id int64, u jobUpdate) (bool, error) {
	if u.from == nil {
		u.from = []string{}
	}
	tag, err := db.Exec(ctx, `UPDATE brevosync_imports SET
		state         = coalesce(nullif($2, ''), state),
		process_id    = coalesce(nullif($3, ''), process_id),
		secret_sha256 = coalesce($4, secret_sha256),
		submitted_at  = CASE WHEN $5 THEN now() ELSE submitted_at END,
		checked_at    = CASE WHEN $6 THEN now() ELSE checked_at END,
		checks        = checks + CASE WHEN $6 THEN 1 ELSE 0 END,
		finished_at   = CASE WHEN $7 THEN now() ELSE finished_at END,
		result        = coalesce(nullif($8, ''), result),
		rejected      = rejected + $9,
		fallback      = fallback + $10,
		n_contacts    = CASE WHEN $11 > 0 THEN $11 ELSE n_contacts END,
		body_bytes    = CASE WHEN $12 > 0 THEN $12 ELSE body_bytes END,
		contact_ids   = CASE WHEN $13 THEN '{}' ELSE contact_ids END
		WHERE id = $1 AND (cardinality($14::text[]) = 0 OR state = ANY($14))`,
		id, u.to, u.process, u.secret, u.submitted, u.checked, u.finished, u.result, u.rejected, u.fallback,
		u.rowsInBody, u.bytes, u.clearIDs, u.from)
	if err != nil {
		return false, fmt.Errorf("update import job %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// pruneJobs deletes jobs done more than a week ago.
func pruneJobs(ctx context.Context, db *pgxpool.Pool) error {
	_, err := db.Exec(ctx, `DELETE FROM brevosync_imports WHERE state = '`+jobDone+`'
		AND coalesce(finished_at, created_at) < now() - interval '7 days'`)
	if err != nil {
		return fmt.Errorf("prune import jobs: %w", err)
	}
	return nil
}

// fillIDsSQL sets the CRM's id on rows of these emails that have none and
// are synced or being synced (an import's rows are listed as the CRM
// applies them, before the import's outcome is written), as an upsert's
// answer would have. Rows are looked up per email through the email key's
// index, whatever the statistics say (see claimJobSQL).
func fillIDsSQL(touchUpdatedAt bool) string {
	touch := ""
	if touchUpdatedAt {
		touch = `, updated_at = now()`
	}
	return `UPDATE contacts AS c SET brevo_contact_id = m.crm_id` + touch + `
		FROM (
			SELECT r.id, p.crm_id FROM unnest($1::text[], $2::text[]) AS p(email_key, crm_id)
			CROSS JOIN LATERAL (
				SELECT x.id FROM contacts AS x
				WHERE ` + schema.EmailKey("x.email") + ` = p.email_key AND x.brevo_contact_id IS NULL
				  AND coalesce(` + qualified("x", schema.Complete.Is()) + ` OR x.` + schema.InFlight + `, false)
			) AS r
		) AS m
		WHERE c.id = m.id`
}

func fillIDs(ctx context.Context, db *pgxpool.Pool, ids map[string]string, touchUpdatedAt bool) (int64, error) {
	keys, vals := make([]string, 0, len(ids)), make([]string, 0, len(ids))
	for k, v := range ids {
		keys, vals = append(keys, k), append(vals, v)
	}
	tag, err := db.Exec(ctx, fillIDsSQL(touchUpdatedAt), keys, vals)
	if err != nil {
		return 0, fmt.Errorf("fill %d contact ids: %w", len(ids), err)
	}
	return tag.RowsAffected(), nil
}

// ImportJob is one import job not yet done, for the operator console.
type ImportJob struct {
	ID        int64     // the job's id in brevosync_imports
	Process   string    // the CRM's process id; empty until submitted
	State     string    // pending, submitting, submitted, upserting, ids
	Contacts  int       // contacts it carries
	CreatedAt time.Time // when its contacts were claimed
}

// Imports lists the import jobs not yet done, oldest first, up to 100.
func (s *Syncer) Imports(ctx context.Context) ([]ImportJob, error) {
	rows, err := s.db.Query(ctx, `SELECT id, coalesce(process_id, ''), state, n_contacts, created_at
		FROM brevosync_imports WHERE state <> 'done' ORDER BY id LIMIT 100`)
	if err != nil {
		return nil, fmt.Errorf("list imports: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ImportJob])
	if err != nil {
		return nil, fmt.Errorf("list imports: %w", err)
	}
	return jobs, nil
}
