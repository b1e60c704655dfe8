package syncer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// idWatch follows the import driver's id rounds (ImportConfig.OnIDs).
type idWatch struct {
	mu      sync.Mutex
	changed chan struct{}
	filled  int64
	imports int64
}

func newIDWatch() *idWatch { return &idWatch{changed: make(chan struct{})} }

func (w *idWatch) record(filled, imports int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.filled += filled
	w.imports += imports
	close(w.changed)
	w.changed = make(chan struct{})
}

// wait blocks until the id rounds have finished at least imports imports.
func (w *idWatch) wait(t *testing.T, imports int64) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		w.mu.Lock()
		done, ch, filled := w.imports >= imports, w.changed, w.filled
		w.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for the ids of %d imports (%d ids filled)", imports, filled)
		}
	}
}

// importConfig is testConfig with imports from threshold contacts.
func importConfig(threshold int, ids *idWatch) syncer.Config {
	cfg := testConfig()
	cfg.RateLimit = 20 // the per-contact path takes little before a backlog is claimed
	cfg.Import = syncer.ImportConfig{Threshold: threshold, CheckInterval: 20 * time.Millisecond}
	if ids != nil {
		cfg.Import.OnIDs = ids.record
	}
	return cfg
}

// importOpts are run options for an importing syncer: a list (imports
// need one) and small import bodies, so that a few thousand contacts make
// several imports.
func importOpts(maxBytes int) runOpts {
	return runOpts{listIDs: []int64{3}, maxImportBytes: maxBytes, level: slog.LevelInfo}
}

// jobs reads the import jobs' states and results.
func (b *testBundle) jobs(t *testing.T) map[string]int {
	t.Helper()
	rows, err := b.pool.Query(t.Context(), `SELECT state || '/' || coalesce(result, '-'), count(*)
		FROM brevosync_imports GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	return out
}

// selectBulk inserts n contacts bulk1@example.com … bulkN@example.com and
// selects them in one statement, as selectMany does; extra SQL sets
// columns of some (e.g. "UPDATE contacts SET … WHERE …") before.
func (b *testBundle) selectBulk(t *testing.T, n int, extra ...string) {
	t.Helper()
	_, err := b.pool.Exec(t.Context(), `INSERT INTO contacts (email, name)
		SELECT 'bulk' || i || '@example.com', 'Bulk ' || i FROM generate_series(1, $1) AS i`, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range extra {
		if _, err := b.pool.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// One selecting statement; in the same transaction the contacts up to
	// 400 are made the oldest requests, so that the few the per-contact
	// path takes before the backlog is claimed are among them (see late).
	tx, err := b.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	for _, q := range []string{
		`UPDATE contacts SET brevo_sync_status='Selected', brevo_processing_status='Queued'`,
		`UPDATE contacts SET brevo_requested_at = brevo_requested_at - interval '1 minute'
			WHERE email ~ '^bulk[0-9]+@example.com$' AND substr(email, 5, length(email) - 16)::int <= 400`,
	} {
		if _, err := tx.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// seedBrevo creates a contact in Brevo (not in the database) holding sms.
func seedBrevo(t *testing.T, sim *brevotest.Server, email, sms string) {
	t.Helper()
	c := brevo.NewClient(brevo.Config{BaseURL: sim.URL(), APIKey: apiKey})
	if _, err := c.UpsertContact(t.Context(), brevo.Contact{Email: email, Attributes: map[string]any{"SMS": sms}}); err != nil {
		t.Fatal(err)
	}
}

// all returns every contact's outcomes.
func (o *observer) all() map[string][]syncer.Outcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string][]syncer.Outcome, len(o.byID))
	for k, v := range o.byID {
		out[k] = append([]syncer.Outcome(nil), v...)
	}
	return out
}

// late is an SQL condition on bulk contacts numbered above 400 whose
// number ends in digits: the per-contact path, which takes the oldest
// requests before the backlog is claimed, never gets them (selectBulk
// makes the others older).
func late(digits string) string {
	return `(substr(email, 5, length(email) - 16))::int > 400 AND email ~ '^bulk[0-9]*` + digits + `@example.com$'`
}

func TestBacklogIsImportedInChunks(t *testing.T) {
	t.Parallel()
	const n, maxBytes = 3000, 60_000
	b := newBundle(t, brevotest.Config{})
	ids := newIDWatch()
	b.run(t, importConfig(500, ids), importOpts(maxBytes))
	b.selectBulk(t, n)
	b.obs.completes(t, n)

	st := b.sim.Stats()
	if st.Imports < 3 || st.OverlappingImports != 0 || st.ImportsWithBlacklistFlags != 0 {
		t.Errorf("imports = %d, overlapping %d, with blacklist flags %d; want at least 3, none overlapping or flagged",
			st.Imports, st.OverlappingImports, st.ImportsWithBlacklistFlags)
	}
	// Before the backlog is claimed, the per-contact path takes what two
	// seconds at the rate limit allow, no more.
	if st.ImportedRows+st.Upserts != n || st.Upserts > 60 {
		t.Errorf("Brevo imported %d rows and received %d upserts for %d contacts", st.ImportedRows, st.Upserts, n)
	}
	for _, r := range b.sim.Requests() {
		if r.Path == "/v3/contacts/import" && len(r.Body) > maxBytes {
			t.Errorf("an import body has %d bytes, over the %d limit", len(r.Body), maxBytes)
		}
	}
	for _, p := range b.sim.Processes() {
		if p.NotifyURL != "" {
			t.Errorf("process %d has notifyUrl %q without a public URL", p.ID, p.NotifyURL)
		}
	}
	if diff := cmp.Diff(map[string]int{"Complete/Complete": n}, b.states(t)); diff != "" {
		t.Errorf("row states (-want +got):\n%s", diff)
	}

	// The ids Brevo gave the imported contacts, as an upsert would have
	// returned them.
	ids.wait(t, int64(st.Imports))
	rows, err := b.pool.Query(t.Context(), `SELECT email, coalesce(brevo_contact_id, ''), brevo_synced_at IS NOT NULL,
		brevo_claim_token IS NULL AND brevo_lease_until IS NULL AND brevo_processing_error IS NULL FROM contacts`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	bad := 0
	for rows.Next() {
		var email, id string
		var synced, clean bool
		if err := rows.Scan(&email, &id, &synced, &clean); err != nil {
			t.Fatal(err)
		}
		c, ok := b.sim.Contact(email)
		if !ok || id != fmt.Sprint(c.ID) || !synced || !clean {
			if bad++; bad <= 3 {
				t.Errorf("%s: id %q (Brevo: %d, %v), synced %v, clean %v", email, id, c.ID, ok, synced, clean)
			}
		}
	}
	if diff := cmp.Diff(map[string]int{"done/completed": st.Imports}, b.jobs(t)); diff != "" {
		t.Errorf("import jobs (-want +got):\n%s", diff)
	}
	t.Logf("imports %d, upserts %d, process requests %d, list requests %d", st.Imports, st.Upserts,
		st.ProcessRequests, b.sim.Stats().ByRoute["GET /v3/contacts"])
}

func TestImportThresholdOff(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		threshold int
		lists     []int64
	}{
		{"threshold 0", 0, []int64{3}},
		{"no list to import into", 100, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const n = 600
			b := newBundle(t, brevotest.Config{})
			b.run(t, importConfig(tt.threshold, nil), runOpts{listIDs: tt.lists})
			b.selectBulk(t, n)
			b.obs.completes(t, n)
			if st := b.sim.Stats(); st.Imports != 0 || st.Upserts != n {
				t.Errorf("imports %d, upserts %d; want every contact upserted, no import", st.Imports, st.Upserts)
			}
		})
	}
}

func TestImportRejectedRowsFailNamingTheCause(t *testing.T) {
	t.Parallel()
	const n = 800
	b := newBundle(t, brevotest.Config{})
	// Brevo already has this phone number on another contact.
	seedBrevo(t, b.sim, "owner@example.com", "+33611111111")
	b.run(t, importConfig(500, nil), importOpts(0))
	// Among the contacts above 400 (the per-contact path never gets them):
	// ending in 3 or 7, emails that cannot be valid; in 5, the phone number
	// Brevo has; in 9, a capital É, and another row with the same email in
	// lower case, which this simulator (like Brevo, we assume) takes for the
	// same email, while brevosync's email key lowers only A-Z.
	b.selectBulk(t, n,
		`UPDATE contacts SET email = 'not an email ' || email WHERE `+late("3"),
		`UPDATE contacts SET email = 'bulk' || substr(email, 5, length(email) - 16) || '@nowhere' WHERE `+late("7"),
		`UPDATE contacts SET phone_number = '+33611111111' WHERE `+late("5"),
		`UPDATE contacts SET email = replace(email, '@', 'É@') WHERE `+late("9"),
		`INSERT INTO contacts (email, name) SELECT replace(email, 'É', 'é'), name FROM contacts WHERE email LIKE '%É@%'`)
	const total = n + 40
	b.obs.wait(t, "every contact finished", func(c map[syncer.Result]int, _ map[string][]syncer.Outcome) bool {
		return c[syncer.ResultComplete]+c[syncer.ResultFailed] >= total
	})

	const (
		beforeSending = "rejected by brevosync before sending: invalid email address"
		dupPhone      = "rejected by Brevo: import report duplicate_phone_id: another Brevo contact has this phone number (SMS)"
		dupEmail      = "rejected by Brevo: import report duplicate_email_id: the email address is on another row of the import"
	)
	failed := rowState{Sync: "Error", Proc: "Error", Retries: 1, HasError: true}
	causes := map[string]int{}
	for e, r := range b.rowsByEmail(t) {
		var i int
		fmt.Sscanf(strings.TrimPrefix(e, "not an email "), "bulk%d", &i)
		want, cause := rowState{Sync: "Complete", Proc: "Complete", Synced: true, ContactID: r.ContactID}, ""
		switch {
		case i > 400 && (i%10 == 3 || i%10 == 7):
			want, cause = failed, beforeSending
		case i > 400 && i%10 == 5:
			want, cause = failed, dupPhone
		case strings.Contains(e, "é@"):
			want, cause = failed, dupEmail
		}
		want.Email = e
		if diff := cmp.Diff(want, r); diff != "" {
			t.Errorf("row %s (-want +got):\n%s", e, diff)
			continue
		}
		if got := b.errorOf(t, e); got != cause && cause != "" {
			t.Errorf("%s: error %q, want %q", e, got, cause)
		}
		causes[cause]++
	}
	if diff := cmp.Diff(map[string]int{"": total - 160, beforeSending: 80, dupPhone: 40, dupEmail: 40}, causes); diff != "" {
		t.Errorf("rows by error (-want +got):\n%s", diff)
	}
	// The impossible emails never reached Brevo.
	for _, r := range b.sim.Requests() {
		if body := string(r.Body); strings.Contains(body, "not an email") || strings.Contains(body, "@nowhere") {
			t.Fatalf("%s %s carried an impossible email", r.Method, r.Path)
		}
	}
}

// errorOf reads the error text on the row with email.
func (b *testBundle) errorOf(t *testing.T, email string) string {
	t.Helper()
	var e *string
	if err := b.pool.QueryRow(t.Context(), `SELECT brevo_processing_error FROM contacts WHERE email = $1`, email).Scan(&e); err != nil {
		t.Fatal(err)
	}
	if e == nil {
		return ""
	}
	return *e
}

func TestUnreadableReportsFallBackToUpserts(t *testing.T) {
	t.Parallel()
	const n = 800
	b := newBundle(t, brevotest.Config{})
	seedBrevo(t, b.sim, "owner@example.com", "+33611111111")
	b.sim.BreakReports(true)
	ids := newIDWatch()
	b.run(t, importConfig(500, ids), importOpts(0))
	// 40 contacts carry a phone number, 16 of them one Brevo has on another
	// contact: the import's duplicate_phone_id report has rows, and cannot
	// be read.
	b.selectBulk(t, n,
		`UPDATE contacts SET phone_number = '+3362' || lpad(substr(email, 5, length(email) - 16), 7, '0') WHERE `+late("3"),
		`UPDATE contacts SET phone_number = '+33611111111' WHERE `+late("[1357]3"))
	b.obs.completes(t, n)

	upserts := upsertsByEmail(b.sim)
	early := 0
	for e, r := range b.rowsByEmail(t) {
		if r.Sync != "Complete" || r.Retries != 0 || r.Claimed {
			t.Errorf("%s: row %+v, want Complete", e, r)
		}
		var i int
		fmt.Sscanf(e, "bulk%d@", &i)
		withPhone := i > 400 && i%10 == 3
		want := 1 // the per-contact fallback
		if d := (i / 10) % 10; withPhone && d%2 == 1 && d < 9 {
			want = 2 // refused for the duplicate SMS, then sent without it
		}
		switch {
		case withPhone && len(upserts[e]) != want:
			t.Errorf("%s, with a phone number the unreadable report may name: %d upserts, want %d", e, len(upserts[e]), want)
		case !withPhone && len(upserts[e]) > 0:
			early++ // sent before the backlog was claimed
		}
	}
	if early > 60 {
		t.Errorf("%d contacts without a phone number were upserted; only the few before the import should be", early)
	}
	var noted int
	if err := b.pool.QueryRow(t.Context(), `SELECT count(*) FROM contacts WHERE brevo_sync_note IS NOT NULL`).Scan(&noted); err != nil {
		t.Fatal(err)
	}
	if noted != 16 {
		t.Errorf("%d rows note their phone number was left out, want the 16 whose number Brevo has on another contact", noted)
	}
	ids.wait(t, 1)
	if diff := cmp.Diff(map[string]int{"done/completed": 1}, b.jobs(t)); diff != "" {
		t.Errorf("import jobs (-want +got):\n%s", diff)
	}
}

func TestFailedImportIsRetried(t *testing.T) {
	t.Parallel()
	for _, status := range []string{"failed", "cancelled"} {
		t.Run(status, func(t *testing.T) {
			t.Parallel()
			const n = 600
			b := newBundle(t, brevotest.Config{})
			b.sim.FailNextImport(status)
			ids := newIDWatch()
			b.run(t, importConfig(500, ids), importOpts(0))
			b.selectBulk(t, n)
			b.obs.completes(t, n)

			retried := 0
			for id, outs := range b.obs.all() {
				if len(outs) == 2 && outs[0].Result == syncer.ResultRetry && outs[1].Result == syncer.ResultComplete &&
					strings.Contains(outs[0].Error, "import process 1 ended "+status) && outs[1].Attempt == 2 {
					retried++
				} else if len(outs) != 1 || outs[0].Result != syncer.ResultComplete {
					t.Errorf("contact %s: outcomes %+v", id, outs)
				}
			}
			if retried < n-60 {
				t.Errorf("%d contacts retried after the %s import, want nearly all %d", retried, status, n)
			}
			ids.wait(t, 1)
			if st := b.sim.Stats(); st.Imports != 2 || st.OverlappingImports != 0 {
				t.Errorf("imports %d (overlapping %d), want the failed one and its retry", st.Imports, st.OverlappingImports)
			}
			if diff := cmp.Diff(map[string]int{"done/" + status: 1, "done/completed": 1}, b.jobs(t)); diff != "" {
				t.Errorf("import jobs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOneEmailOnSeveralRowsIsImportedOnce: rows sharing an email (contract
// §2) are claimed together and sent as one jsonBody row, the most recently
// requested row's data; every row gets the outcome and, later, the id.
func TestOneEmailOnSeveralRowsIsImportedOnce(t *testing.T) {
	t.Parallel()
	const n = 600
	b := newBundle(t, brevotest.Config{})
	ids := newIDWatch()
	b.run(t, importConfig(500, ids), importOpts(0))
	// 20 late emails get two more rows each, upper-cased and spaced, with
	// another name: selected after, so requested last.
	b.selectBulk(t, n, `INSERT INTO contacts (email, name)
		SELECT ' ' || upper(email), 'Newer ' || k FROM contacts, generate_series(1, 2) AS k WHERE `+late("1"))
	const total = n + 40
	b.obs.completes(t, total)
	ids.wait(t, int64(b.sim.Stats().Imports))

	rows := 0
	for _, r := range b.sim.Requests() {
		if r.Path != "/v3/contacts/import" {
			continue
		}
		var body struct {
			JSONBody []struct {
				Email      string         `json:"email"`
				Attributes map[string]any `json:"attributes"`
			} `json:"jsonBody"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, row := range body.JSONBody {
			if seen[row.Email] {
				t.Errorf("%s twice in one import", row.Email)
			}
			seen[row.Email] = true
			var i int
			fmt.Sscanf(row.Email, "bulk%d@", &i)
			if i > 400 && i%10 == 1 && row.Attributes["FIRSTNAME"] != "Newer" {
				t.Errorf("%s imported with %v, want the latest row's name", row.Email, row.Attributes)
			}
		}
		rows += len(body.JSONBody)
	}
	if st := b.sim.Stats(); rows+st.Upserts != n || len(b.sim.Processes()) == 0 {
		t.Errorf("%d rows imported and %d upserted for %d emails", rows, st.Upserts, n)
	}
	var bad int
	if err := b.pool.QueryRow(t.Context(), `SELECT count(*) FROM contacts WHERE brevo_sync_status <> 'Complete'
		OR brevo_contact_id IS NULL`).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("%d of %d rows not Complete with an id", bad, total)
	}
}
