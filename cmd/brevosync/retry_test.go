package main

import (
	"strings"
	"testing"
	"time"
)

// contactRow is what the retry and select tests check on a row.
type contactRow struct {
	Sync, Proc  string
	RetryCount  int
	Err         *string
	NextRetryAt *time.Time
	RequestedAt *time.Time
}

func (d testDB) row(t *testing.T, id string) contactRow {
	t.Helper()
	var r contactRow
	err := d.pool.QueryRow(t.Context(), `
		SELECT brevo_sync_status::text, coalesce(brevo_processing_status::text, 'NULL'), brevo_retry_count,
		       brevo_processing_error, brevo_next_retry_at, brevo_requested_at
		FROM contacts WHERE id = $1`, id).Scan(&r.Sync, &r.Proc, &r.RetryCount, &r.Err, &r.NextRetryAt, &r.RequestedAt)
	if err != nil {
		t.Fatalf("read contact %s: %v", id, err)
	}
	return r
}

// insertContact adds a contact in the given state and returns its id.
func (d testDB) insertContact(t *testing.T, email, sync, proc, errText string, retries int) string {
	t.Helper()
	var id string
	err := d.pool.QueryRow(t.Context(), `
		INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status, brevo_processing_error,
		                      brevo_retry_count, brevo_next_retry_at)
		VALUES ($1, $2::crm_sync_status, nullif($3, '')::crm_processing_status, nullif($4, ''), $5,
		        CASE WHEN $5 > 0 THEN now() + interval '1 hour' END)
		RETURNING id::text`, email, sync, proc, errText, retries).Scan(&id)
	if err != nil {
		t.Fatalf("insert contact %s: %v", email, err)
	}
	return id
}

// snapshot is every contact's row, to show that a dry run writes nothing.
func (d testDB) snapshot(t *testing.T) string {
	t.Helper()
	var s string
	err := d.pool.QueryRow(t.Context(), `SELECT coalesce(string_agg(c::text, E'\n' ORDER BY id), '') FROM contacts c`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// isFreshRequest reports whether r is a request as the trigger starts it.
func isFreshRequest(r contactRow) bool {
	return r.Sync == "Selected" && r.Proc == "Queued" && r.RetryCount == 0 && r.Err == nil &&
		r.NextRetryAt == nil && r.RequestedAt != nil
}

func TestRetryIDs(t *testing.T) {
	t.Parallel()
	d := newTestDB(t)
	failed := d.insertContact(t, "failed@example.com", "Error", "Error", "gave up after 4 attempts: brevo: 500 Internal Server Error", 4)
	failed2 := d.insertContact(t, "failed2@example.com", "Error", "Error", "rejected by Brevo: brevo: 400 invalid_parameter: Invalid email address", 1)
	done := d.insertContact(t, "done@example.com", "Complete", "Complete", "", 0)
	retrying := d.insertContact(t, "retrying@example.com", "Queued", "Error", "attempt 1 failed, retrying: brevo: 502 Bad Gateway", 1)
	const nobody = "00000000-0000-4000-8000-000000000000"

	// A dry run reports and writes nothing.
	before := d.snapshot(t)
	code, out, stderr := runCmd(t, d.vars(), "retry", "--dry-run", failed, strings.ToUpper(done), nobody)
	if code != 0 || !strings.Contains(out, "would retry 1 of 3") {
		t.Fatalf("retry --dry-run: exit %d\n%s%s", code, out, stderr)
	}
	if after := d.snapshot(t); after != before {
		t.Fatalf("retry --dry-run changed rows:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	code, out, stderr = runCmd(t, d.vars(), "retry", failed, done, nobody, retrying, failed)
	if code != 0 {
		t.Fatalf("retry: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{
		"retried 1 of 4 contact(s)",
		"skipped 3:",
		done + ": not Failed: it is Complete (Complete/Complete)",
		nobody + ": no contact has this id",
		retrying + ": not Failed: it is Retry scheduled (Queued/Error)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("retry output lacks %q:\n%s", want, out)
		}
	}
	if r := d.row(t, failed); !isFreshRequest(r) {
		t.Errorf("retried contact = %+v, want a fresh request (Selected/Queued, retry count 0, no error, no due time)", r)
	}
	if r := d.row(t, failed2); r.Sync != "Error" || r.Proc != "Error" || r.Err == nil {
		t.Errorf("Failed contact not named = %+v, want it untouched", r)
	}
	if r := d.row(t, done); r.Sync != "Complete" {
		t.Errorf("Complete contact = %+v, want it untouched", r)
	}
	if r := d.row(t, retrying); r.Sync != "Queued" || r.Proc != "Error" || r.RetryCount != 1 {
		t.Errorf("Retry scheduled contact = %+v, want it untouched", r)
	}
}

func TestRetryAll(t *testing.T) {
	t.Parallel()
	d := newTestDB(t)
	var failed []string
	for _, e := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		failed = append(failed, d.insertContact(t, e, "Error", "Error", "gave up after 4 attempts: brevo: 503 Service Unavailable", 4))
	}
	done := d.insertContact(t, "done@example.com", "Complete", "Complete", "", 0)

	before := d.snapshot(t)
	code, out, _ := runCmd(t, d.vars(), "retry", "--all", "--dry-run")
	if code != 0 || !strings.Contains(out, "would retry 3 Failed contact(s)") {
		t.Fatalf("retry --all --dry-run: exit %d\n%s", code, out)
	}
	if d.snapshot(t) != before {
		t.Fatal("retry --all --dry-run changed rows")
	}

	// The service learns of the requests at once: one NOTIFY.
	notes := listen(t, d)
	code, out, stderr := runCmd(t, d.vars(), "retry", "--all")
	if code != 0 || !strings.Contains(out, "retried 3 Failed contact(s)") {
		t.Fatalf("retry --all: exit %d\n%s%s", code, out, stderr)
	}
	if n := notes.count(t); n != 1 {
		t.Errorf("retry --all sent %d notifications, want 1", n)
	}
	for _, id := range failed {
		if r := d.row(t, id); !isFreshRequest(r) {
			t.Errorf("contact %s = %+v, want a fresh request", id, r)
		}
	}
	if r := d.row(t, done); r.Sync != "Complete" {
		t.Errorf("Complete contact = %+v, want it untouched", r)
	}

	code, out, _ = runCmd(t, d.vars(), "retry", "--all")
	if code != 0 || !strings.Contains(out, "no Failed contacts") {
		t.Errorf("second retry --all: exit %d\n%s", code, out)
	}
}

func TestRetryLegacyMigrated(t *testing.T) {
	t.Parallel()
	d := newLegacyDB(t, true)
	const failed = "aaaaaaaa-0000-0000-0000-000000000003"
	code, out, stderr := runCmd(t, d.vars(), "retry", "--all")
	if code != 0 || !strings.Contains(out, "retried 1 Failed contact(s)") || stderr != "" {
		t.Fatalf("retry --all: exit %d\n%s%s", code, out, stderr)
	}
	if r := d.row(t, failed); !isFreshRequest(r) {
		t.Errorf("contact = %+v, want a fresh request", r)
	}
}

func TestRetryLegacyNotMigrated(t *testing.T) {
	t.Parallel()
	d := newLegacyDB(t, false)
	code, out, stderr := runCmd(t, d.vars(), "retry", "aaaaaaaa-0000-0000-0000-000000000003")
	if code != 0 || !strings.Contains(out, "retried 1 of 1") || !strings.Contains(stderr, "run 'brevosync migrate'") {
		t.Fatalf("retry: exit %d\n%s%s", code, out, stderr)
	}
	var sync, proc string
	if err := d.pool.QueryRow(t.Context(), `SELECT brevo_sync_status::text, brevo_processing_status::text
		FROM contacts WHERE id = 'aaaaaaaa-0000-0000-0000-000000000003'`).Scan(&sync, &proc); err != nil {
		t.Fatal(err)
	}
	if sync != "Selected" || proc != "Queued" {
		t.Errorf("contact = %s/%s, want Selected/Queued", sync, proc)
	}
}

func TestRetryUsage(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:1/x"}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"nothing to retry", []string{"retry"}, "--all, or their ids"},
		{"dry run alone", []string{"retry", "--dry-run"}, "--all, or their ids"},
		{"bad id", []string{"retry", "4b3f0c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "1234"}, `"1234" is not a contact id`},
		{"flag after ids", []string{"retry", "4b3f0c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "--dry-run"}, `move "--dry-run" to the front`},
		{"all and ids", []string{"retry", "--all", "4b3f0c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"}, "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, stderr := runCmd(t, vars, tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.wantErr) || out != "" {
				t.Errorf("brevosync %v: exit %d, stdout %q, stderr:\n%s\nwant exit 2 and %q", tt.args, code, out, stderr, tt.wantErr)
			}
		})
	}
	if code, _, stderr := runCmd(t, nil, "retry", "--all"); code != 2 || !strings.Contains(stderr, "DATABASE_URL") {
		t.Errorf("retry --all without DATABASE_URL: exit %d\n%s", code, stderr)
	}
}

// The old scheduler's failed requests (Selected/Error) are Failed: status
// counts them so, and retry revives them as fresh requests.
func TestFailedEarlierCountedAndRetried(t *testing.T) {
	t.Parallel()
	d := newTestDB(t)
	id := d.insertContact(t, "old-failure@example.com", "Selected", "Error", "old scheduler: timeout", 3)
	code, out, stderr := runCmd(t, d.vars(), "status", "--json")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(out, `"name": "Failed",
      "sync_status": "Selected",
      "processing_status": "Error",
      "count": 1`) {
		t.Errorf("status does not count Selected/Error as Failed:\n%s", out)
	}
	code, out, stderr = runCmd(t, d.vars(), "retry", "--all")
	if code != 0 || !strings.Contains(out, "retried 1 Failed contact(s)") {
		t.Fatalf("retry --all: exit %d\n%s%s", code, out, stderr)
	}
	if r := d.row(t, id); r.Sync != "Selected" || r.Proc != "Queued" || r.RetryCount != 0 || r.Err != nil || r.RequestedAt == nil {
		t.Errorf("after retry: %+v, want a fresh Selected/Queued request", r)
	}
}
