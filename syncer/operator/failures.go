package operator

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/syncer"
)

// Bounds of Failures' limit.
const (
	DefaultFailuresLimit = 100
	MaxFailuresLimit     = 10000
)

// Failure is one Failed contact.
type Failure struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	// State is the state's name (Failed), SyncStatus and ProcessingStatus
	// the raw pair (Error/Error, or Selected/Error left by the old
	// scheduler).
	State            string  `json:"state"`
	SyncStatus       string  `json:"sync_status"`
	ProcessingStatus *string `json:"processing_status"`
	// Error is brevo_processing_error as written; Cause is its cause, as
	// the status report groups it (ErrorCause.Cause).
	Error string `json:"error"`
	Cause string `json:"cause"`
	// RetryCount is brevo_retry_count; null when the column is missing.
	RetryCount *int `json:"retry_count"`
	// FailedAt is when the row was last written (updated_at, else
	// brevo_requested_at); null when neither is known.
	FailedAt *time.Time `json:"failed_at"`
}

// FailuresResult is a page of Failed contacts.
type FailuresResult struct {
	Failures []Failure `json:"failures"`
	// More: more Failed contacts match than the limit let through.
	More bool `json:"more"`
}

// failuresSQL lists Failed contacts newest first; $1 is syncer.CausePrefix,
// $2 the cause to match (” for all), $3 the limit.
func failuresSQL(s schema.Info) string {
	has := s.Columns
	at := "NULL::timestamptz"
	switch {
	case has["updated_at"]:
		at = "updated_at::timestamptz"
	case has["brevo_requested_at"]:
		at = "brevo_requested_at"
	}
	retries := "NULL::int"
	if has["brevo_retry_count"] {
		retries = "brevo_retry_count"
	}
	errText, errCause := "NULL::text", "nullif($1::text, $1::text)" // NULL, but $1 typed
	if has["brevo_processing_error"] {
		errText, errCause = "brevo_processing_error", causeSQL(errTextSQL, "$1")
	}
	return `
SELECT id::text, email::text, brevo_sync_status::text, brevo_processing_status::text,
	coalesce(` + errText + `, ''), coalesce(` + errCause + `, ''), ` + retries + `, ` + at + `
FROM contacts
WHERE ` + schema.FailedWhere + `
  AND ($2 = '' OR coalesce(` + errCause + `, '') = $2)
ORDER BY ` + at + ` DESC NULLS LAST, id
LIMIT $3`
}

// Failures lists the Failed contacts (schema.FailedWhere) newest first, with
// their error text: those whose cause is cause when it is not empty (the
// cause as the status report gives it, ErrorCause.Cause), at most limit
// (DefaultFailuresLimit when zero or less, never more than
// MaxFailuresLimit). It works on a database missing brevosync's own
// columns.
func Failures(ctx context.Context, db *pgxpool.Pool, cause string, limit int) (FailuresResult, error) {
	if limit <= 0 {
		limit = DefaultFailuresLimit
	}
	limit = min(limit, MaxFailuresLimit)
	s, err := schema.Inspect(ctx, db)
	if err != nil {
		return FailuresResult{}, fmt.Errorf("list Failed contacts: %w", err)
	}
	res := FailuresResult{Failures: []Failure{}}
	if !s.HasStates() {
		return res, nil
	}
	rows, err := db.Query(ctx, failuresSQL(s), syncer.CausePrefix, cause, limit+1)
	if err != nil {
		return FailuresResult{}, fmt.Errorf("list Failed contacts: %w", err)
	}
	var (
		f  Failure
		at *time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&f.ID, &f.Email, &f.SyncStatus, &f.ProcessingStatus, &f.Error, &f.Cause, &f.RetryCount, &at}, func() error {
		g := f
		g.State = DescribeState(f.SyncStatus, f.ProcessingStatus)
		g.ProcessingStatus, g.RetryCount = copyOf(f.ProcessingStatus), copyOf(f.RetryCount)
		if at != nil {
			t := at.UTC()
			g.FailedAt = &t
		}
		res.Failures = append(res.Failures, g)
		return nil
	})
	if err != nil {
		return FailuresResult{}, fmt.Errorf("list Failed contacts: %w", err)
	}
	if len(res.Failures) > limit {
		res.Failures, res.More = res.Failures[:limit], true
	}
	return res, nil
}

// copyOf copies *p: pgx may reuse a scan target's pointee.
func copyOf[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
