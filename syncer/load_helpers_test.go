package syncer_test

// Helpers for the fault, replica and pressure tests: a variant of
// testBundle.start with Info-level logging (per-contact debug logs through
// t.Output dominate the runtime of tests with thousands of contacts) and a
// few knobs, plus readers of the row states and Brevo's request log.

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/brevosync/brevosync/listener"
	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// runOpts adjusts testBundle.run.
type runOpts struct {
	// level is the log level; zero is Info.
	level slog.Level
	// httpClient, when set, replaces the Brevo client's HTTP client (it
	// must carry the 2 s timeout itself).
	httpClient *http.Client
	// minBackoff is the listener's first reconnect wait; zero is 50 ms.
	minBackoff time.Duration
	// onOutcome, when set, also sees this replica's outcomes.
	onOutcome func(syncer.Outcome)
	// listIDs are the Brevo lists every synced contact joins.
	listIDs []int64
	// maxImportBytes, when set, caps the CRM's import bodies.
	maxImportBytes int
}

// run starts, with options, a syncer and its listener, as
// `serve` wires them, until the test ends or stop is called.
func (b *testBundle) run(t *testing.T, cfg syncer.Config, o runOpts) *service {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: o.level}))
	client := brevo.NewClient(brevo.Config{BaseURL: b.sim.URL(), APIKey: apiKey, Timeout: 2 * time.Second,
		HTTPClient: o.httpClient})
	cfg.Logger = logger
	cfg.OnOutcome = b.obs.record
	if o.onOutcome != nil {
		cfg.OnOutcome = func(out syncer.Outcome) { o.onOutcome(out); b.obs.record(out) }
	}
	crm := brevo.NewCRM(client, o.listIDs)
	crm.SetMaxImportBytes(o.maxImportBytes)
	s, err := syncer.New(b.pool, crm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if o.minBackoff == 0 {
		o.minBackoff = 50 * time.Millisecond
	}
	l, err := listener.New(listener.Config{ConnConfig: b.pool.Config().ConnConfig, Pool: b.pool, Logger: logger,
		PingInterval: 500 * time.Millisecond, MinBackoff: o.minBackoff, MaxBackoff: 2 * o.minBackoff}, s)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.Run(ctx); err != nil {
			t.Errorf("syncer.Run: %v", err)
		}
	})
	wg.Go(func() {
		if err := l.Run(ctx); err != nil {
			t.Errorf("listener.Run: %v", err)
		}
	})
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	waitListener(t, l, true)
	return &service{syncer: s, listener: l, stop: stop}
}

// insertMany adds n contacts, not selected, with emails prefix1@example.com
// … prefixN@example.com, in one statement, and returns their emails in
// order.
func (b *testBundle) insertMany(t *testing.T, prefix string, n int) []string {
	t.Helper()
	_, err := b.pool.Exec(t.Context(), `INSERT INTO contacts (email, name)
		SELECT $1 || i || '@example.com', 'Person ' || i FROM generate_series(1, $2) AS i`, prefix, n)
	if err != nil {
		t.Fatalf("insert %d contacts: %v", n, err)
	}
	emails := make([]string, n)
	for i := range emails {
		emails[i] = prefix + strconv.Itoa(i+1) + "@example.com"
	}
	return emails
}

// selectAll makes the application's selecting write on every contact, in
// one statement, and returns how many rows it selected.
func (b *testBundle) selectAll(t *testing.T) int {
	t.Helper()
	tag, err := b.pool.Exec(t.Context(), `UPDATE contacts SET brevo_sync_status='Selected', brevo_processing_status='Queued'`)
	if err != nil {
		t.Fatal(err)
	}
	return int(tag.RowsAffected())
}

// rowState is what the user sees on a contacts row after a sync.
type rowState struct {
	Email     string
	Sync      string
	Proc      string
	Retries   int
	HasError  bool
	Synced    bool
	ContactID bool
	Claimed   bool // claim token or lease still set
}

// rowsByEmail reads every contact row, keyed by email.
func (b *testBundle) rowsByEmail(t *testing.T) map[string]rowState {
	t.Helper()
	rows, err := b.pool.Query(t.Context(), `SELECT email, brevo_sync_status::text, coalesce(brevo_processing_status::text, ''),
		brevo_retry_count, brevo_processing_error IS NOT NULL, brevo_synced_at IS NOT NULL, brevo_contact_id IS NOT NULL,
		brevo_claim_token IS NOT NULL OR brevo_lease_until IS NOT NULL FROM contacts`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]rowState{}
	for rows.Next() {
		var r rowState
		if err := rows.Scan(&r.Email, &r.Sync, &r.Proc, &r.Retries, &r.HasError, &r.Synced, &r.ContactID, &r.Claimed); err != nil {
			t.Fatal(err)
		}
		out[r.Email] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// upsertsByEmail groups Brevo's request log of upserts by email.
func upsertsByEmail(sim *brevotest.Server) map[string][]brevotest.Request {
	out := map[string][]brevotest.Request{}
	for _, r := range sim.Upserts() {
		out[r.Email] = append(out[r.Email], r)
	}
	return out
}

// brevoUpserts returns Brevo's count of successful upserts per email.
func brevoUpserts(sim *brevotest.Server) map[string]int {
	out := map[string]int{}
	for _, c := range sim.Contacts() {
		out[c.Email] = c.Upserts
	}
	return out
}

// timed logs how long the rest of the test takes.
func timed(t *testing.T, what string) {
	start := time.Now()
	t.Cleanup(func() { t.Logf("%s took %v", what, time.Since(start).Round(time.Millisecond)) })
}
