package syncer_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brevosync/brevosync/listener"
	"github.com/brevosync/brevosync/sql/schematest"
	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

const apiKey = "test-key"

// observer collects the syncer's outcomes and lets a test wait for a
// condition on them, without polling.
type observer struct {
	mu      sync.Mutex
	changed chan struct{}
	byID    map[string][]syncer.Outcome
	counts  map[syncer.Result]int
}

func newObserver() *observer {
	return &observer{changed: make(chan struct{}), byID: map[string][]syncer.Outcome{}, counts: map[syncer.Result]int{}}
}

func (o *observer) record(out syncer.Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.byID[out.ContactID] = append(o.byID[out.ContactID], out)
	o.counts[out.Result]++
	close(o.changed)
	o.changed = make(chan struct{})
}

// wait blocks until cond holds over the outcomes recorded so far.
func (o *observer) wait(t *testing.T, what string, cond func(counts map[syncer.Result]int, byID map[string][]syncer.Outcome) bool) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		o.mu.Lock()
		ok := cond(o.counts, o.byID)
		ch := o.changed
		counts := fmt.Sprint(o.counts)
		o.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; outcomes so far: %s", what, counts)
		}
	}
}

// completes waits until n contacts have completed.
func (o *observer) completes(t *testing.T, n int) {
	t.Helper()
	o.wait(t, fmt.Sprintf("%d completions", n), func(c map[syncer.Result]int, _ map[string][]syncer.Outcome) bool {
		return c[syncer.ResultComplete] >= n
	})
}

// final waits until contact id has an outcome of result r.
func (o *observer) final(t *testing.T, id string, r syncer.Result) {
	t.Helper()
	o.wait(t, fmt.Sprintf("contact %s to be %s", id, r), func(_ map[syncer.Result]int, b map[string][]syncer.Outcome) bool {
		for _, out := range b[id] {
			if out.Result == r {
				return true
			}
		}
		return false
	})
}

type testBundle struct {
	pool *pgxpool.Pool
	sim  *brevotest.Server
	obs  *observer
	dsn  string
}

func newBundle(t *testing.T, simCfg brevotest.Config) *testBundle {
	t.Helper()
	dsn := schematest.NewURL(t)
	if simCfg.APIKey == "" {
		simCfg.APIKey = apiKey
	}
	return &testBundle{pool: schematest.Pool(t, dsn), sim: brevotest.New(t, simCfg), obs: newObserver(), dsn: dsn}
}

// testConfig is a fast configuration for tests: short delays, no rate limit.
func testConfig() syncer.Config {
	return syncer.Config{
		Retry:             syncer.RetryPolicy{MaxRetries: 3, Base: 100 * time.Millisecond},
		Lease:             30 * time.Second,
		SweepInterval:     time.Hour, // tests prove the fast paths, not the sweep
		ShutdownTimeout:   5 * time.Second,
		AuthProbeInterval: 100 * time.Millisecond,
	}
}

// service is one running syncer + listener, as `serve` wires them.
type service struct {
	syncer   *syncer.Syncer
	listener *listener.Listener
	stop     func()
}

// start runs a syncer and its listener against the bundle until the test
// ends (or stop is called), with debug logs, and waits until the listener is
// connected. See run for the options.
func (b *testBundle) start(t *testing.T, cfg syncer.Config) *service {
	t.Helper()
	return b.run(t, cfg, runOpts{level: slog.LevelDebug})
}

// waitListener waits until l.Connected() == want, on the listener's own
// change signal.
func waitListener(t *testing.T, l *listener.Listener, want bool) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		ch := l.Changes()
		if l.Connected() == want {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("listener connected = %v, want %v", l.Connected(), want)
		}
	}
}

// insert adds a contact (not selected) and returns its id.
func (b *testBundle) insert(t *testing.T, email string) string {
	t.Helper()
	var id string
	err := b.pool.QueryRow(t.Context(), `INSERT INTO contacts (email, name) VALUES ($1, 'Test Person') RETURNING id`, email).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// selectContacts makes the application's selecting write.
func (b *testBundle) selectContacts(t *testing.T, ids ...string) {
	t.Helper()
	_, err := b.pool.Exec(t.Context(), `UPDATE contacts SET brevo_sync_status='Selected', brevo_processing_status='Queued'
		WHERE id = ANY($1::uuid[])`, ids)
	if err != nil {
		t.Fatal(err)
	}
}

type row struct {
	Sync, Proc         string
	Error              *string
	ContactID          *string
	Retries            int
	Synced, NextRetry  bool
	ClaimToken, Leased bool
}

func (b *testBundle) row(t *testing.T, id string) row {
	t.Helper()
	var r row
	var proc *string
	err := b.pool.QueryRow(t.Context(), `SELECT brevo_sync_status::text, brevo_processing_status::text,
		brevo_processing_error, brevo_contact_id, brevo_retry_count, brevo_synced_at IS NOT NULL,
		brevo_next_retry_at IS NOT NULL, brevo_claim_token IS NOT NULL, brevo_lease_until IS NOT NULL
		FROM contacts WHERE id = $1`, id).
		Scan(&r.Sync, &proc, &r.Error, &r.ContactID, &r.Retries, &r.Synced, &r.NextRetry, &r.ClaimToken, &r.Leased)
	if err != nil {
		t.Fatal(err)
	}
	if proc != nil {
		r.Proc = *proc
	}
	return r
}

// states counts rows by (sync, processing) status.
func (b *testBundle) states(t *testing.T) map[string]int {
	t.Helper()
	rows, err := b.pool.Query(t.Context(), `SELECT brevo_sync_status || '/' || coalesce(brevo_processing_status::text, '-'), count(*)
		FROM contacts GROUP BY 1`)
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

func TestSelectedContactReachesBrevo(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	b.run(t, testConfig(), runOpts{level: slog.LevelDebug, listIDs: []int64{7, 9}})

	var id string
	err := b.pool.QueryRow(t.Context(), `INSERT INTO contacts (email, name, phone_number, domain_id, page_id,
		email_type, source_url, has_gmail) VALUES ('  Ada.Lovelace@Example.COM ', 'Ada King Lovelace', '+33612345678',
		'11111111-1111-1111-1111-111111111111', '22222222-2222-2222-2222-222222222222', 'business',
		'https://example.com/team', true) RETURNING id`).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	b.selectContacts(t, id)
	b.obs.final(t, id, syncer.ResultComplete)

	sim, ok := b.sim.Contact("ada.lovelace@example.com")
	if !ok {
		t.Fatal("Brevo has no contact ada.lovelace@example.com")
	}
	got := b.row(t, id)
	want := row{Sync: "Complete", Proc: "Complete", ContactID: ptr(fmt.Sprint(sim.ID)), Synced: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}

	reqs := b.sim.UpsertsFor("ada.lovelace@example.com")
	if len(reqs) != 1 {
		t.Fatalf("Brevo received %d upserts, want 1", len(reqs))
	}
	var body map[string]any
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	wantBody := map[string]any{
		"email": "ada.lovelace@example.com",
		"attributes": map[string]any{
			"FIRSTNAME": "Ada", "LASTNAME": "King Lovelace", "SMS": "+33612345678",
			"DOMAIN_ID": "11111111-1111-1111-1111-111111111111", "PAGE_ID": "22222222-2222-2222-2222-222222222222",
			"EMAIL_TYPE": "business", "SOURCE_URL": "https://example.com/team", "HAS_GMAIL": true,
		},
		"listIds":       []any{7.0, 9.0},
		"updateEnabled": true,
	}
	if diff := cmp.Diff(wantBody, body); diff != "" {
		t.Errorf("request body (-want +got):\n%s", diff)
	}
	if got := reqs[0].Header.Get("api-key"); got != apiKey {
		t.Errorf("api-key header = %q, want %q", got, apiKey)
	}
}

func TestNullAttributesLeftOut(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	b.start(t, testConfig())

	var id string
	err := b.pool.QueryRow(t.Context(), `INSERT INTO contacts (email, name, brevo_sync_status, brevo_processing_status)
		VALUES ('plain@example.com', 'Plato', 'Selected', 'Queued') RETURNING id`).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	b.obs.final(t, id, syncer.ResultComplete)
	var body map[string]any
	if err := json.Unmarshal(b.sim.UpsertsFor("plain@example.com")[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"email": "plain@example.com", "attributes": map[string]any{"FIRSTNAME": "Plato"}, "updateEnabled": true}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("request body (-want +got):\n%s", diff)
	}
}

func TestWithdrawnContactIsNeverSent(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	withdrawn := b.insert(t, "withdrawn@example.com")
	b.selectContacts(t, withdrawn)
	if _, err := b.pool.Exec(t.Context(), `UPDATE contacts SET brevo_sync_status='New', brevo_processing_status=NULL WHERE id=$1`, withdrawn); err != nil {
		t.Fatal(err)
	}

	b.start(t, testConfig())
	marker := b.insert(t, "marker@example.com")
	b.selectContacts(t, marker)
	b.obs.final(t, marker, syncer.ResultComplete)

	if n := len(b.sim.UpsertsFor("withdrawn@example.com")); n != 0 {
		t.Errorf("withdrawn contact sent %d times", n)
	}
	if got := b.row(t, withdrawn); got.Sync != "New" {
		t.Errorf("withdrawn contact is %s, want New", got.Sync)
	}
}

// selectMany inserts n contacts already selected, in one statement.
func (b *testBundle) selectMany(t *testing.T, n int) {
	t.Helper()
	_, err := b.pool.Exec(t.Context(), `INSERT INTO contacts (email, name, brevo_sync_status, brevo_processing_status)
		SELECT 'bulk' || i || '@example.com', 'Bulk ' || i, 'New', NULL FROM generate_series(1, $1) AS i`, n)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := b.pool.Exec(t.Context(), `UPDATE contacts SET brevo_sync_status='Selected', brevo_processing_status='Queued'
		WHERE email LIKE 'bulk%'`)
	if err != nil || tag.RowsAffected() != int64(n) {
		t.Fatalf("select %d contacts: %v (%d rows)", n, err, tag.RowsAffected())
	}
}

func (b *testBundle) assertAllSyncedOnce(t *testing.T, n int) {
	t.Helper()
	if diff := cmp.Diff(map[string]int{"Complete/Complete": n}, b.states(t)); diff != "" {
		t.Errorf("row states (-want +got):\n%s", diff)
	}
	st := b.sim.Stats()
	if st.Upserts != n {
		t.Errorf("Brevo received %d upserts for %d contacts", st.Upserts, n)
	}
	contacts := b.sim.Contacts()
	if len(contacts) != n {
		t.Errorf("Brevo has %d contacts, want %d", len(contacts), n)
	}
	for _, c := range contacts {
		if c.Upserts != 1 {
			t.Errorf("contact %s upserted %d times", c.Email, c.Upserts)
		}
	}
}

func TestTenThousandSelectedInOneStatement(t *testing.T) {
	t.Parallel()
	const n = 10000
	for _, replicas := range []int{1, 2} {
		t.Run(fmt.Sprintf("replicas=%d", replicas), func(t *testing.T) {
			b := newBundle(t, brevotest.Config{})
			cfg := testConfig()
			cfg.Concurrency = 32
			for range replicas {
				b.start(t, cfg)
			}
			b.selectMany(t, n)
			b.obs.completes(t, n)
			b.assertAllSyncedOnce(t, n)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// byIDCopy returns the outcomes recorded for one contact, in order.
func (o *observer) byIDCopy(id string) []syncer.Outcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]syncer.Outcome(nil), o.byID[id]...)
}
