package syncer_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
	"github.com/brevosync/brevosync/webhook"
)

// waitSQL polls the database (a condition no signal announces) until query
// returns true.
func (b *testBundle) waitSQL(t *testing.T, what, query string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ok bool
		if err := b.pool.QueryRow(t.Context(), query).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// heldByImports counts the rows import jobs hold (their lease is a day).
func (b *testBundle) heldByImports(t *testing.T) int {
	t.Helper()
	var n int
	err := b.pool.QueryRow(t.Context(), `SELECT count(*) FROM contacts WHERE brevo_processing_status = 'Processing'
		AND brevo_lease_until > now() + interval '1 hour'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func waitProcess(t *testing.T, sim *brevotest.Server, id int64, statuses ...string) brevotest.Process {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	p, err := sim.WaitProcess(ctx, id, statuses...)
	if err != nil {
		t.Fatalf("process %d never %v: %v", id, statuses, err)
	}
	return p
}

// TestClaimsSurviveALongImport: an import that takes many leases holds its
// contacts the whole time: the sweep takes nothing back, nothing is sent
// one by one, and when the import ends every contact is Complete, charged
// nothing, imported once.
func TestClaimsSurviveALongImport(t *testing.T) {
	t.Parallel()
	const n = 600
	b := newBundle(t, brevotest.Config{})
	b.sim.SetImportSpeed(0) // the import stays in process until the test lets it go
	cfg := importConfig(500, nil)
	cfg.Lease = time.Second
	cfg.RateLimit = 0 // the per-contact path's few are done long before their 1s lease ends
	cfg.Import.CheckInterval = 100 * time.Millisecond
	svc := b.run(t, cfg, importOpts(0))
	b.selectBulk(t, n)
	waitProcess(t, b.sim, 1, "in_process")
	held := b.heldByImports(t)
	b.obs.completes(t, n-held) // the few the per-contact path took before the backlog was claimed
	upserts := b.sim.Stats().Upserts
	if held+upserts != n || held < n/2 {
		t.Fatalf("the import holds %d rows and %d were upserted, of %d", held, upserts, n)
	}

	// Six checks of the process at 0.1 s doubling: over three leases.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := b.sim.WaitStats(ctx, func(s brevotest.Stats) bool { return s.ProcessRequests >= 6 }); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 2*cfg.Lease {
		t.Fatalf("waited %v, want over two leases", waited)
	}
	r, err := svc.syncer.Sweep(t.Context())
	if err != nil || r.Rescued != 0 {
		t.Errorf("Sweep during the import = %+v, %v; want nothing taken back", r, err)
	}
	if got := b.heldByImports(t); got != held {
		t.Errorf("the import holds %d rows after %v, want %d", got, time.Since(start), held)
	}
	if got := b.sim.Stats().Upserts; got != upserts {
		t.Errorf("%d upserts during the import, want none", got-upserts)
	}

	b.sim.SetImportSpeed(20000)
	b.obs.completes(t, n)
	if st := b.sim.Stats(); st.Imports != 1 || st.Upserts != upserts {
		t.Errorf("imports %d, upserts %d; want one import and no upsert after it started", st.Imports, st.Upserts)
	}
	for e, row := range b.rowsByEmail(t) {
		if row.Sync != "Complete" || row.Retries != 0 || row.Claimed {
			t.Errorf("%s: row %+v, want Complete, uncharged, unclaimed", e, row)
		}
	}
}

// stalledImports runs an importing syncer at 10 requests a second against
// a simulator enforcing them, whose imports make no progress until
// finishImports.
func stalledImports(t *testing.T) (*testBundle, *service) {
	t.Helper()
	b := newBundle(t, brevotest.Config{RateLimit: 10})
	b.sim.SetImportSpeed(0)
	cfg := importConfig(500, nil)
	cfg.RateLimit = 10
	return b, b.run(t, cfg, importOpts(0))
}

// finishImports lets the imports run and waits for n contacts Complete,
// with no answer of 429 on the way.
func finishImports(t *testing.T, b *testBundle, n int) {
	t.Helper()
	b.sim.SetImportSpeed(20000)
	b.obs.completes(t, n)
	if st := b.sim.Stats(); st.RateLimited != 0 {
		t.Errorf("%d answers of 429", st.RateLimited)
	}
}

// TestSingleSelectionsDuringAnImport: while an import holds a backlog, a
// single selection goes the per-contact way at once, sharing the rate
// limit, and reaches Brevo within a second.
func TestSingleSelectionsDuringAnImport(t *testing.T) {
	t.Parallel()
	const n = 2000
	b, svc := stalledImports(t)
	b.selectBulk(t, n)
	p := waitProcess(t, b.sim, 1, "in_process")
	// What the console shows: the import in flight (its process id is
	// recorded once Brevo's answer is read, which may be just after).
	jobs, err := svc.syncer.Imports(t.Context())
	if err != nil || len(jobs) != 1 || jobs[0].Contacts != b.heldByImports(t) ||
		!(jobs[0].State == "submitted" && jobs[0].Process == strconv.FormatInt(p.ID, 10) || jobs[0].State == "submitting" && jobs[0].Process == "") {
		t.Errorf("imports in flight: %+v, %v; want one, submitting or submitted as process %d, with the %d contacts it holds", jobs, err, p.ID, b.heldByImports(t))
	}
	// The few contacts the per-contact path took before the backlog was
	// claimed finish first (two seconds' worth at 10/s).
	b.obs.completes(t, n-b.heldByImports(t))

	var mu sync.Mutex
	arrived := map[string]time.Time{}
	b.sim.OnUpsert(func(r brevotest.Request) {
		mu.Lock()
		arrived[r.Email] = time.Now()
		mu.Unlock()
	})
	for i := range 5 {
		email := "single" + strconv.Itoa(i) + "@example.com"
		id := b.insert(t, email)
		start := time.Now()
		b.selectContacts(t, id)
		b.obs.final(t, id, syncer.ResultComplete)
		took := time.Since(start)
		mu.Lock()
		reached := arrived[email].Sub(start)
		mu.Unlock()
		if reached > time.Second || took > 1500*time.Millisecond {
			t.Errorf("%s reached Brevo %v after its selection (Complete after %v); want within 1s", email, reached, took)
		}
	}
	finishImports(t, b, n+5)
}

// TestSingleSelectionRightAfterABacklog: a selection made the moment a
// large one lands does not queue behind the backlog's head in the rate
// limit: the per-contact path leaves the backlog to the import and sends
// the single one within a second.
func TestSingleSelectionRightAfterABacklog(t *testing.T) {
	t.Parallel()
	const n = 2000
	b, _ := stalledImports(t)
	arrived := make(chan time.Time, 1)
	b.sim.OnUpsert(func(r brevotest.Request) {
		if r.Email == "single@example.com" {
			select {
			case arrived <- time.Now():
			default:
			}
		}
	})
	b.selectBulk(t, n)
	id := b.insert(t, "single@example.com")
	start := time.Now()
	b.selectContacts(t, id)
	select {
	case at := <-arrived:
		if d := at.Sub(start); d > time.Second {
			t.Errorf("the single selection reached Brevo %v after it was made; want within 1s", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the single selection never reached Brevo")
	}
	waitProcess(t, b.sim, 1, "in_process")
	finishImports(t, b, n+1)
}

// TestBacklogNoImportTakesIsSentOneByOne: when no replica imports a
// backlog (the one that drives imports cannot), the per-contact path sends
// it one by one after ImportConfig.Handover; nothing waits for ever.
func TestBacklogNoImportTakesIsSentOneByOne(t *testing.T) {
	t.Parallel()
	const n = 60
	b := newBundle(t, brevotest.Config{})
	// Another replica drives imports for the next hour, and never claims.
	if _, err := b.pool.Exec(t.Context(), `INSERT INTO brevosync_import_state (account, proc_tokens, driver, driver_until)
		VALUES ('brevo', 20, gen_random_uuid(), now() + interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	cfg := importConfig(50, nil)
	cfg.RateLimit = 0
	cfg.Import.Handover = 300 * time.Millisecond
	b.run(t, cfg, importOpts(0))
	b.selectBulk(t, n)
	b.obs.completes(t, n)
	if st := b.sim.Stats(); st.Imports != 0 || st.Upserts != n {
		t.Errorf("%d imports and %d upserts; want none and %d", st.Imports, st.Upserts, n)
	}
}

// TestTwoReplicasOneImportAtATimeOneBudget: two replicas share a backlog
// and single selections: one import in Brevo at a time, and the rate limit
// shared by both, imports, upserts and id listing alike, with no 429.
func TestTwoReplicasOneImportAtATimeOneBudget(t *testing.T) {
	t.Parallel()
	const n = 3000
	b := newBundle(t, brevotest.Config{RateLimit: 10, ProcessesPerHour: 100})
	ids := newIDWatch()
	cfg := importConfig(500, ids)
	cfg.RateLimit = 10
	cfg.HeartbeatInterval = 50 * time.Millisecond
	for range 2 {
		b.run(t, cfg, importOpts(60_000))
	}
	// Both replicas have counted each other.
	b.waitSQL(t, "both replicas to see each other", `SELECT count(*) = 2 FROM brevosync_nodes
		WHERE heartbeat_at > (SELECT max(started_at) FROM brevosync_nodes)`)
	b.selectBulk(t, n)
	waitProcess(t, b.sim, 2)
	for i := range 10 {
		id := b.insert(t, "single"+strconv.Itoa(i)+"@example.com")
		b.selectContacts(t, id)
		b.obs.final(t, id, syncer.ResultComplete)
	}
	b.obs.completes(t, n+10)
	st := b.sim.Stats()
	ids.wait(t, int64(st.Imports))
	st = b.sim.Stats()
	if st.Imports < 3 || st.OverlappingImports != 0 {
		t.Errorf("imports %d, overlapping %d; want several, one at a time", st.Imports, st.OverlappingImports)
	}
	if st.RateLimited != 0 {
		t.Errorf("%d answers of 429 (by route: %v)", st.RateLimited, st.ByRoute)
	}
	_, burst := 0, 20 // BREVO_SYNC_PROCESSES_PER_HOUR's default 80: 20 at once
	if st.ProcessRequests > burst {
		t.Errorf("%d process requests, over the shared budget's %d", st.ProcessRequests, burst)
	}
	if diff := cmp.Diff(map[string]int{"Complete/Complete": n + 10}, b.states(t)); diff != "" {
		t.Errorf("row states (-want +got):\n%s", diff)
	}
	t.Logf("imports %d, upserts %d, process requests %d, by route %v", st.Imports, st.Upserts, st.ProcessRequests, st.ByRoute)
}

// TestProcesses429BacksOff: when the processes endpoint answers 429 (its
// hourly limit spent by someone else), checks wait for the reset it gives,
// for every replica, and the import still completes.
func TestProcesses429BacksOff(t *testing.T) {
	t.Parallel()
	const n = 600
	// Refills one every 3 s: the driver's first check (within a second or
	// so of the hour being spent, also under -race on a busy machine) finds
	// none left.
	b := newBundle(t, brevotest.Config{ProcessesPerHour: 1200})
	// Spend the hour's requests, as another integration on the account might.
	hc := &http.Client{Timeout: 5 * time.Second}
	for i := 0; ; i++ {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, b.sim.URL()+"/processes?limit=1", nil)
		req.Header.Set("api-key", apiKey)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			break
		}
		if i > 4000 {
			t.Fatal("the processes limit never answered 429")
		}
	}
	b.run(t, importConfig(500, nil), importOpts(0))
	b.selectBulk(t, n)
	b.obs.completes(t, n)

	var checks []brevotest.Request
	for _, r := range b.sim.Requests() {
		if strings.HasPrefix(r.Path, "/v3/processes/") {
			checks = append(checks, r)
		}
	}
	limited := 0
	for i, r := range checks {
		if r.Status != http.StatusTooManyRequests {
			continue
		}
		limited++
		if i+1 < len(checks) {
			if gap := checks[i+1].At.Sub(r.At); gap < 900*time.Millisecond {
				t.Errorf("checked again %v after a 429 with a reset of a second or more", gap)
			}
		}
	}
	if limited == 0 || limited > 3 || checks[len(checks)-1].Status != http.StatusOK {
		var statuses []int
		for _, r := range checks {
			statuses = append(statuses, r.Status)
		}
		t.Errorf("process checks answered %v; want a 429 or two, waited out, then 200", statuses)
	}
	var held bool
	if err := b.pool.QueryRow(t.Context(), `SELECT proc_held_until IS NOT NULL FROM brevosync_import_state`).Scan(&held); err != nil || !held {
		t.Errorf("the shared processes budget was not held after the 429 (%v)", err)
	}
}

// TestNotifyURLWithAPublicURL: with a public URL each import carries a
// notifyUrl with its own secret below it; Brevo's call reaches the webhook
// receiver, and the process is read once, after it, never polled before.
func TestNotifyURLWithAPublicURL(t *testing.T) {
	t.Parallel()
	const n = 3000
	b := newBundle(t, brevotest.Config{})
	logs := &lockedBuffer{}
	srv := httptest.NewServer(webhook.NewHandler(webhook.Config{Pool: b.pool,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}))
	t.Cleanup(srv.Close)
	ids := newIDWatch()
	cfg := importConfig(500, ids)
	cfg.Import.PublicURL = srv.URL + "/"
	b.run(t, cfg, importOpts(60_000))
	b.selectBulk(t, n)
	b.obs.completes(t, n)
	st := b.sim.Stats()
	ids.wait(t, int64(st.Imports))

	if st.Imports < 3 || st.ProcessRequests != st.Imports || st.ImportNotifications != st.Imports {
		t.Errorf("imports %d, process requests %d, notifications %d; want one read of each process, after its notification",
			st.Imports, st.ProcessRequests, st.ImportNotifications)
	}
	secrets := map[string]bool{}
	for _, p := range b.sim.Processes() {
		rest, ok := strings.CutPrefix(p.NotifyURL, srv.URL+syncer.ImportNotifyPath)
		job, secret, _ := strings.Cut(rest, "/")
		if !ok || job == "" || len(secret) < 40 || secrets[secret] || !p.Notified {
			t.Errorf("process %d: notifyUrl %q (notified %v); want %s<job>/<a new secret>", p.ID, p.NotifyURL, p.Notified,
				srv.URL+syncer.ImportNotifyPath)
		}
		secrets[secret] = true
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the webhook receiver logged process %d's secret", p.ID)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
