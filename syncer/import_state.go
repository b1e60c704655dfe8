package syncer

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The SQL of the bulk path's shared state (brevosync_import_state): the
// driver's lease, the processes budget, the id cursor; and the notifyUrl's
// record.

// acquireDriver makes node the driver of the account's imports until
// now()+lease, if no other live replica is. It returns whether it is, and
// how long the current driver's lease lasts otherwise.
func acquireDriver(ctx context.Context, db *pgxpool.Pool, node pgtype.UUID, lease time.Duration, burst float64) (bool, time.Duration, error) {
	var mine bool
	var remaining float64
	err := db.QueryRow(ctx, `WITH up AS (
		INSERT INTO brevosync_import_state AS s (account, proc_tokens, driver, driver_until)
		VALUES ($1, $4, $2, now() + $3 * interval '1 millisecond')
		ON CONFLICT (account) DO UPDATE SET driver = excluded.driver, driver_until = excluded.driver_until
		WHERE s.driver IS NULL OR s.driver = excluded.driver OR s.driver_until < now()
		RETURNING 1
	)
	SELECT EXISTS (SELECT 1 FROM up),
	       coalesce(extract(epoch FROM (SELECT driver_until FROM brevosync_import_state WHERE account = $1) - now())::float8, 0)`,
		importAccount, node, lease.Milliseconds(), burst).Scan(&mine, &remaining)
	if err != nil {
		return false, 0, fmt.Errorf("take the import driver's lease: %w", err)
	}
	return mine, time.Duration(max(remaining, 0) * float64(time.Second)), nil
}

// releaseDriver gives the lease up, if node holds it.
func releaseDriver(ctx context.Context, db *pgxpool.Pool, node pgtype.UUID) error {
	_, err := db.Exec(ctx, `UPDATE brevosync_import_state SET driver = NULL, driver_until = NULL
		WHERE account = $1 AND driver = $2`, importAccount, node)
	if err != nil {
		return fmt.Errorf("release the import driver's lease: %w", err)
	}
	return nil
}

// takeProcessToken spends one request of the processes budget (a token
// bucket of rate per second up to burst, shared by every replica), or
// returns how long until one is available.
func takeProcessToken(ctx context.Context, db *pgxpool.Pool, rate, burst float64) (bool, time.Duration, error) {
	var ok bool
	var wait float64
	err := db.QueryRow(ctx, `WITH s AS (
		SELECT least($2::float8, proc_tokens + greatest(0, extract(epoch FROM now() - proc_at)::float8) * $3::float8) AS tokens,
		       proc_held_until AS held
		FROM brevosync_import_state WHERE account = $1 FOR UPDATE
	), upd AS (
		UPDATE brevosync_import_state AS t SET proc_tokens = s.tokens - 1, proc_at = now()
		FROM s WHERE t.account = $1 AND (s.held IS NULL OR s.held <= now()) AND s.tokens >= 1
		RETURNING 1
	)
	SELECT EXISTS (SELECT 1 FROM upd),
	       greatest(CASE WHEN s.held > now() THEN extract(epoch FROM s.held - now())::float8 ELSE 0 END,
	                (1 - s.tokens) / $3::float8)
	FROM s`, importAccount, burst, rate).Scan(&ok, &wait)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, time.Second, nil // no state row yet: the driver creates it
	}
	if err != nil {
		return false, 0, fmt.Errorf("spend the processes budget: %w", err)
	}
	return ok, time.Duration(max(wait, 0) * float64(time.Second)), nil
}

// holdProcesses holds the processes budget for d, after the CRM answered
// 429 (the account's limit is spent, by brevosync or another integration):
// every replica waits for the reset the CRM gave.
func holdProcesses(ctx context.Context, db *pgxpool.Pool, d time.Duration) error {
	_, err := db.Exec(ctx, `UPDATE brevosync_import_state SET
		proc_held_until = greatest(coalesce(proc_held_until, now()), now() + $2 * interval '1 millisecond')
		WHERE account = $1`, importAccount, d.Milliseconds())
	if err != nil {
		return fmt.Errorf("hold the processes budget: %w", err)
	}
	return nil
}

// idCursor reads the id listing's cursor; ok is false when there is none.
func idCursor(ctx context.Context, db *pgxpool.Pool) (IDCursor, bool, error) {
	var since pgtype.Timestamptz
	var c IDCursor
	err := db.QueryRow(ctx, `SELECT ids_since, ids_offset FROM brevosync_import_state WHERE account = $1`,
		importAccount).Scan(&since, &c.Offset)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && !since.Valid {
		return IDCursor{}, false, nil
	}
	if err != nil {
		return IDCursor{}, false, fmt.Errorf("read the id cursor: %w", err)
	}
	c.Since = since.Time
	return c, true, nil
}

func saveIDCursor(ctx context.Context, db *pgxpool.Pool, c IDCursor) error {
	_, err := db.Exec(ctx, `UPDATE brevosync_import_state SET ids_since = $2, ids_offset = $3 WHERE account = $1`,
		importAccount, c.Since, c.Offset)
	if err != nil {
		return fmt.Errorf("save the id cursor: %w", err)
	}
	return nil
}

// idJobs returns the earliest submission time of the jobs waiting for ids
// and the database's clock; ok is false when none waits.
func idJobs(ctx context.Context, db *pgxpool.Pool) (earliest, now time.Time, ok bool, err error) {
	var e pgtype.Timestamptz
	err = db.QueryRow(ctx, `SELECT min(coalesce(submitted_at, created_at)), now() FROM brevosync_imports
		WHERE state = '`+jobIDs+`'`).Scan(&e, &now)
	if err != nil {
		return time.Time{}, time.Time{}, false, fmt.Errorf("read the jobs waiting for ids: %w", err)
	}
	return e.Time, now, e.Valid, nil
}

// idsDone ends the jobs waiting for ids that finished before t: a listing
// that started at t has reached its end.
func idsDone(ctx context.Context, db *pgxpool.Pool, t time.Time) (int64, error) {
	tag, err := db.Exec(ctx, `UPDATE brevosync_imports SET state = '`+jobDone+`'
		WHERE state = '`+jobIDs+`' AND finished_at < $1`, t)
	if err != nil {
		return 0, fmt.Errorf("end the jobs waiting for ids: %w", err)
	}
	return tag.RowsAffected(), nil
}

// hasImportTables reports whether the database has the bulk path's tables.
func hasImportTables(ctx context.Context, db *pgxpool.Pool) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT to_regclass('brevosync_imports') IS NOT NULL
		AND to_regclass('brevosync_import_state') IS NOT NULL`).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look for the import tables: %w", err)
	}
	return ok, nil
}

// ImportNotifyPath is the path below the service's public URL that an
// import's notifyUrl has: ImportNotifyPath + "{job}/{secret}".
const ImportNotifyPath = "/webhooks/brevo/imports/"

// ImportNotified records that the CRM called the notifyUrl of import job
// (a decimal id) with secret, compared in constant time, and wakes every
// replica (NOTIFY brevosync) so that the driver reads the import's process
// at once. It reports false, changing nothing, for an unknown job or a
// wrong secret. The webhook receiver calls it.
func ImportNotified(ctx context.Context, db *pgxpool.Pool, jobID, secret string) (bool, error) {
	id, err := strconv.ParseInt(jobID, 10, 64)
	if err != nil || id <= 0 || secret == "" {
		return false, nil
	}
	var stored []byte
	err = db.QueryRow(ctx, `SELECT secret_sha256 FROM brevosync_imports WHERE id = $1`, id).Scan(&stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up import job %d: %w", id, err)
	}
	given := sha256.Sum256([]byte(secret))
	if len(stored) != len(given) || subtle.ConstantTimeCompare(stored, given[:]) != 1 {
		return false, nil
	}
	_, err = db.Exec(ctx, `WITH n AS (
		UPDATE brevosync_imports SET notified_at = now() WHERE id = $1 RETURNING 1
	) SELECT pg_notify('brevosync', '') FROM n`, id)
	if err != nil {
		return false, fmt.Errorf("record the notification of import job %d: %w", id, err)
	}
	return true, nil
}
