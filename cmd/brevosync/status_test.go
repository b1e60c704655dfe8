package main

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/sql/schematest"
)

// statusJSON is `status --json` as a consumer reads it; the tags are the
// documented schema.
type statusJSON struct {
	GeneratedAt time.Time `json:"generated_at"`
	Schema      struct {
		Migrated bool     `json:"migrated"`
		Missing  []string `json:"missing"`
		Hint     string   `json:"hint"`
	} `json:"schema"`
	Total  int64 `json:"total"`
	States []struct {
		Name             string  `json:"name"`
		SyncStatus       string  `json:"sync_status"`
		ProcessingStatus *string `json:"processing_status"`
		Count            int64   `json:"count"`
	} `json:"states"`
	OldestWaiting *struct {
		Since      time.Time `json:"since"`
		AgeSeconds float64   `json:"age_seconds"`
		State      string    `json:"state"`
	} `json:"oldest_waiting"`
	Retries struct {
		Scheduled int64      `json:"scheduled"`
		Due       *int64     `json:"due"`
		NextAt    *time.Time `json:"next_at"`
	} `json:"retries"`
	ContactsWithError int64 `json:"contacts_with_error"`
	Errors            []struct {
		Cause   string           `json:"cause"`
		Count   int64            `json:"count"`
		Example string           `json:"example"`
		States  map[string]int64 `json:"states"`
	} `json:"errors"`
	Webhooks struct {
		ConfirmedContacts    *int64           `json:"confirmed_contacts"`
		UnsubscribedContacts *int64           `json:"unsubscribed_contacts"`
		EventsLast24h        map[string]int64 `json:"events_last_24h"`
	} `json:"webhooks"`
	Replicas []struct {
		ID          string    `json:"id"`
		Hostname    string    `json:"hostname"`
		StartedAt   time.Time `json:"started_at"`
		HeartbeatAt time.Time `json:"heartbeat_at"`
	} `json:"replicas"`
}

// statusOf runs `status --json` and decodes its stdout, which must hold
// exactly one JSON value.
func statusOf(t *testing.T, d testDB) statusJSON {
	t.Helper()
	code, out, stderr := runCmd(t, d.vars(), "status", "--json")
	if code != 0 {
		t.Fatalf("status --json: exit %d\n%s", code, stderr)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	var s statusJSON
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		t.Fatalf("status --json printed more than one JSON value (%v): %s", err, out)
	}
	return s
}

// counts maps state names to counts.
func (s statusJSON) counts() map[string]int64 {
	m := map[string]int64{}
	for _, st := range s.States {
		m[st.Name] += st.Count // two pairs are named Failed
	}
	return m
}

func ptr[T any](v T) *T { return &v }

func TestStatusFreshDatabase(t *testing.T) {
	t.Parallel()
	d := newTestDB(t)
	d.exec(t, `
INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status, brevo_processing_error,
                      brevo_next_retry_at, brevo_confirmed_at, brevo_unsubscribed_at) VALUES
	('new1@example.com', 'New', NULL, NULL, NULL, NULL, NULL),
	('new2@example.com', 'New', NULL, NULL, NULL, now(), NULL),
	('waiting@example.com', 'Selected', 'Queued', NULL, NULL, NULL, NULL),
	('released@example.com', 'Queued', 'Queued', NULL, now() + interval '1 second', NULL, NULL),
	('processing@example.com', 'Processing', 'Processing', NULL, NULL, NULL, NULL),
	('retry1@example.com', 'Queued', 'Error', 'attempt 1 failed, retrying: brevo: 500 Internal Server Error',
	 now() - interval '1 minute', NULL, NULL),
	('retry2@example.com', 'Queued', 'Error', 'attempt 2 failed, retrying: brevo: 500 Internal Server Error',
	 now() + interval '10 minutes', NULL, NULL),
	('retry3@example.com', 'Queued', 'Error',
	 'attempt 1 failed, retrying: upsert contact: Post "http://127.0.0.1:41234/v3/contacts": dial tcp 127.0.0.1:41234: connect: connection refused',
	 now() + interval '5 minutes', NULL, NULL),
	('failed1@example.com', 'Error', 'Error', 'gave up after 4 attempts: brevo: 500 Internal Server Error', NULL, NULL, NULL),
	('failed2@example.com', 'Error', 'Error', 'rejected by Brevo: brevo: 400 invalid_parameter: Invalid email address', NULL, NULL, NULL),
	('done@example.com', 'Complete', 'Complete', NULL, NULL, now(), now()),
	('skipped@example.com', 'Skipped', NULL, NULL, NULL, NULL, NULL),
	('withdrawn@example.com', 'New', 'Queued', NULL, NULL, NULL, NULL)`)
	// The waiting request was made two hours ago.
	d.exec(t, `UPDATE contacts SET brevo_requested_at = now() - interval '2 hours' WHERE email = 'waiting@example.com'`)
	d.exec(t, `
INSERT INTO brevosync_webhook_events (dedupe_key, event, email, effect, payload, received_at) VALUES
	('a', 'list_addition', 'done@example.com', 'confirmed', '{}', now()),
	('b', 'list_addition', 'new2@example.com', 'confirmed', '{}', now() - interval '1 hour'),
	('c', 'unsubscribed', 'done@example.com', 'unsubscribed', '{}', now()),
	('d', 'list_addition', 'done@example.com', 'confirmed', '{}', now() - interval '2 days')`)
	d.exec(t, `
INSERT INTO brevosync_nodes (id, hostname, started_at, heartbeat_at) VALUES
	('00000000-0000-0000-0000-000000000001', 'live-host', now() - interval '1 hour', now()),
	('00000000-0000-0000-0000-000000000002', 'dead-host', now() - interval '1 hour', now() - interval '1 minute')`)

	s := statusOf(t, d)

	if !s.Schema.Migrated || len(s.Schema.Missing) != 0 || s.Schema.Hint != "" {
		t.Errorf("schema = %+v, want migrated with nothing missing", s.Schema)
	}
	if s.Total != 13 {
		t.Errorf("total = %d, want 13", s.Total)
	}
	wantCounts := map[string]int64{
		"New": 2, "Waiting": 1, "Queued": 1, "Requeued": 0, "Processing": 1, "Interrupted (taken back at start)": 0,
		"Retry scheduled": 3, "Complete": 1, "Failed": 2, "Skipped": 1,
		"Update pending": 0, "Updating": 0, "Update failed": 0, "Removal pending": 1, "Removing": 0, "Removal failed": 0,
	}
	if diff := cmp.Diff(wantCounts, s.counts()); diff != "" {
		t.Errorf("state counts (-want +got):\n%s", diff)
	}
	// Named states come first in a fixed order, with their raw pairs.
	var names []string
	for _, st := range s.States {
		names = append(names, st.Name)
		if st.Name == "Retry scheduled" && (st.SyncStatus != "Queued" || st.ProcessingStatus == nil || *st.ProcessingStatus != "Error") {
			t.Errorf("Retry scheduled raw pair = %s/%v, want Queued/Error", st.SyncStatus, st.ProcessingStatus)
		}
		if st.Name == "New" && st.ProcessingStatus != nil {
			t.Errorf("New processing status = %q, want null", *st.ProcessingStatus)
		}
	}
	wantNames := []string{"New", "Waiting", "Queued", "Requeued", "Processing", "Interrupted (taken back at start)",
		"Retry scheduled", "Complete", "Failed", "Failed", "Skipped",
		"Update pending", "Updating", "Update failed", "Removal pending", "Removing", "Removal failed"}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("state order (-want +got):\n%s", diff)
	}

	if o := s.OldestWaiting; o == nil || o.State != "Waiting" || o.AgeSeconds < 7190 || o.AgeSeconds > 7300 {
		t.Errorf("oldest waiting = %+v, want the Waiting request, about 7200s old", o)
	}

	if s.Retries.Scheduled != 3 || s.Retries.Due == nil || *s.Retries.Due != 1 {
		t.Errorf("retries = scheduled %d, due %v; want 3 and 1", s.Retries.Scheduled, s.Retries.Due)
	}
	if n := s.Retries.NextAt; n == nil || n.Sub(s.GeneratedAt) < 4*time.Minute || n.Sub(s.GeneratedAt) > 6*time.Minute {
		t.Errorf("next retry at %v, want about 5 minutes after %v", n, s.GeneratedAt)
	}

	if s.ContactsWithError != 5 {
		t.Errorf("contacts with error = %d, want 5", s.ContactsWithError)
	}
	type cause struct {
		Cause  string
		Count  int64
		States map[string]int64
	}
	var causes []cause
	for _, c := range s.Errors {
		causes = append(causes, cause{c.Cause, c.Count, c.States})
		if c.Example == "" {
			t.Errorf("cause %q has no example", c.Cause)
		}
	}
	wantCauses := []cause{
		{"brevo: 500 Internal Server Error", 3, map[string]int64{"Retry scheduled": 2, "Failed": 1}},
		{"brevo: 400 invalid_parameter: Invalid email address", 1, map[string]int64{"Failed": 1}},
		{`upsert contact: Post "http://<addr>/v3/contacts": dial tcp <addr>: connect: connection refused`, 1,
			map[string]int64{"Retry scheduled": 1}},
	}
	if diff := cmp.Diff(wantCauses, causes); diff != "" {
		t.Errorf("error causes (-want +got):\n%s", diff)
	}

	wh := s.Webhooks
	if diff := cmp.Diff(map[string]int64{"confirmed": 2, "unsubscribed": 1}, wh.EventsLast24h); diff != "" {
		t.Errorf("events in the last 24h (-want +got):\n%s", diff)
	}
	if !cmp.Equal(wh.ConfirmedContacts, ptr[int64](2)) || !cmp.Equal(wh.UnsubscribedContacts, ptr[int64](1)) {
		t.Errorf("confirmed, unsubscribed contacts = %v, %v; want 2, 1", wh.ConfirmedContacts, wh.UnsubscribedContacts)
	}
	if len(s.Replicas) != 1 || s.Replicas[0].Hostname != "live-host" {
		t.Errorf("replicas = %+v, want only live-host", s.Replicas)
	}

	// The table says the same for humans.
	code, out, stderr := runCmd(t, d.vars(), "status")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{
		"Contacts: 13",
		"Retry scheduled", "Queued/Error", "New/NULL", "Queued",
		"Oldest waiting request: 2h00m old (Waiting since",
		"Retries scheduled: 3, due now: 1, next at",
		"brevo: 500 Internal Server Error",
		"e.g. attempt 1 failed, retrying: brevo: 500 Internal Server Error",
		"brevosync retry --all",
		"events in the last 24h: confirmed 2, unsubscribed 1",
		"Replicas: 1 live", "live-host",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "dead-host") {
		t.Errorf("status lists a replica with no recent heartbeat:\n%s", out)
	}
}

func TestStatusEmptyContacts(t *testing.T) {
	t.Parallel()
	d := newTestDB(t)
	s := statusOf(t, d)
	if s.Total != 0 || s.OldestWaiting != nil || s.Retries.Due == nil || *s.Retries.Due != 0 ||
		s.Retries.NextAt != nil || len(s.Errors) != 0 || s.Replicas == nil || len(s.Replicas) != 0 {
		t.Errorf("status of an empty table = %+v", s)
	}
	if len(s.States) != len(schema.Named) {
		t.Errorf("got %d states, want the %d named ones even when empty", len(s.States), len(schema.Named))
	}
}

func TestStatusLegacyMigrated(t *testing.T) {
	t.Parallel()
	d := newLegacyDB(t, true)
	s := statusOf(t, d)
	if !s.Schema.Migrated {
		t.Errorf("schema = %+v, want migrated", s.Schema)
	}
	want := map[string]int64{"New": 1, "Waiting": 0, "Queued": 0, "Requeued": 0, "Processing": 1,
		"Interrupted (taken back at start)": 0, "Retry scheduled": 0, "Complete": 1, "Failed": 1, "Skipped": 0,
		"Update pending": 0, "Updating": 0, "Update failed": 0, "Removal pending": 0, "Removing": 0, "Removal failed": 0}
	if diff := cmp.Diff(want, s.counts()); diff != "" {
		t.Errorf("state counts (-want +got):\n%s", diff)
	}
	// No brevo_requested_at before brevosync: the age comes from updated_at,
	// a timestamp without time zone.
	var since time.Time
	if err := d.pool.QueryRow(t.Context(), `SELECT '2024-02-03 04:05:06'::timestamp::timestamptz`).Scan(&since); err != nil {
		t.Fatal(err)
	}
	if o := s.OldestWaiting; o == nil || !o.Since.Equal(since) || o.State != "Processing" {
		t.Errorf("oldest waiting = %+v, want the Processing row since %v", o, since)
	}
	if len(s.Errors) != 1 || s.Errors[0].Cause != "400 invalid_parameter: Invalid email address" || s.Errors[0].Count != 1 {
		t.Errorf("errors = %+v", s.Errors)
	}
	if s.Webhooks.ConfirmedContacts == nil || *s.Webhooks.ConfirmedContacts != 0 || s.Webhooks.EventsLast24h == nil {
		t.Errorf("webhooks = %+v", s.Webhooks)
	}
}

func TestStatusLegacyNotMigrated(t *testing.T) {
	t.Parallel()
	d := newLegacyDB(t, false)
	s := statusOf(t, d)
	if s.Schema.Migrated || !strings.Contains(s.Schema.Hint, "brevosync migrate") {
		t.Errorf("schema = %+v, want not migrated with a hint to run brevosync migrate", s.Schema)
	}
	for _, want := range []string{"column contacts.brevo_retry_count", "column contacts.brevo_requested_at",
		"trigger brevosync_request_update", "table brevosync_nodes", "table brevosync_webhook_events"} {
		if !strings.Contains(strings.Join(s.Schema.Missing, "\n"), want) {
			t.Errorf("missing = %q, want it to name %q", s.Schema.Missing, want)
		}
	}
	// What exists is still shown.
	if c := s.counts(); s.Total != 4 || c["Complete"] != 1 || c["Processing"] != 1 || c["Failed"] != 1 || c["New"] != 1 {
		t.Errorf("total %d, counts %v", s.Total, c)
	}
	if s.OldestWaiting == nil || s.OldestWaiting.State != "Processing" {
		t.Errorf("oldest waiting = %+v, want the Processing row (from updated_at)", s.OldestWaiting)
	}
	if len(s.Errors) != 1 {
		t.Errorf("errors = %+v, want the Failed row's", s.Errors)
	}
	// What cannot be known is null, not zero.
	if s.Retries.Due != nil || s.Webhooks.ConfirmedContacts != nil || s.Webhooks.EventsLast24h != nil || s.Replicas != nil {
		t.Errorf("retries %+v, webhooks %+v, replicas %v: want nulls", s.Retries, s.Webhooks, s.Replicas)
	}

	code, out, stderr := runCmd(t, d.vars(), "status")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"run 'brevosync migrate'", "Contacts: 4", "Failed", "Error/Error", "no brevosync_nodes table"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
}

func TestStatusNoContactsTable(t *testing.T) {
	t.Parallel()
	url := schematest.NewEmptyURL(t)
	code, out, stderr := runCmd(t, map[string]string{"DATABASE_URL": url}, "status")
	if code != 0 || !strings.Contains(out, "no contacts table") || !strings.Contains(out, "brevosync migrate") {
		t.Errorf("status on an empty database: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
}

func TestStatusErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		vars     map[string]string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no DATABASE_URL", nil, []string{"status"}, 2, "DATABASE_URL: is required"},
		{"bad DATABASE_URL", map[string]string{"DATABASE_URL": "postgres://%zz"}, []string{"status"}, 2, "DATABASE_URL"},
		{"unreachable", map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:1/x?connect_timeout=5"},
			[]string{"status"}, 1, "127.0.0.1/x"},
		{"arguments", map[string]string{"DATABASE_URL": "postgres://x"}, []string{"status", "now"}, 2, "takes no arguments"},
		{"unknown flag", nil, []string{"status", "--yaml"}, 2, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, stderr := runCmd(t, tt.vars, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) || out != "" {
				t.Errorf("brevosync %v: exit %d, stdout %q, stderr:\n%s\nwant exit %d and %q", tt.args, code, out, stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
}
