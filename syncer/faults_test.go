package syncer_test

// Fault tests over many contacts: the listener's connection killed while
// contacts are being selected, and Brevo misbehaving (5xx bursts, answers
// slower than the client's timeout, dropped connections, 429 storms, a
// revoked API key). Each asserts what a user would see: the final row states
// in Postgres and what Brevo received.

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// terminateListener kills the listener's connection from the server side,
// as a failover or an administrator would.
func (b *testBundle) terminateListener(t *testing.T) {
	t.Helper()
	var n int
	err := b.pool.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'brevosync-listener' AND datname = current_database()`).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("terminated %d listener connections (%v), want 1", n, err)
	}
}

// TestListenerTerminatedRepeatedlyWhileSelecting kills the listener's
// connection server-side several times while the application keeps
// committing selections, one contact per transaction. Notifications sent
// while it is down are lost by Postgres's design; the listener's catch-up
// on reconnect must find those rows. The sweep is an hour away and the lease
// two minutes, so no other path can rescue a missed row within the test's
// deadline: the last selections are made while the listener is down and
// nothing is selected after it is back.
func TestListenerTerminatedRepeatedlyWhileSelecting(t *testing.T) {
	t.Parallel()
	timed(t, t.Name())
	b := newBundle(t, brevotest.Config{NoRequestLog: true})
	cfg := testConfig()
	cfg.Lease = 2 * time.Minute // the lease-expiry timer must not stand in for the catch-up
	svc := b.run(t, cfg, runOpts{minBackoff: 300 * time.Millisecond})

	var seq atomic.Int64
	// selectOne makes one selection, as the application does: the contact
	// exists (one transaction), then it is selected (another).
	selectOne := func() error {
		email := fmt.Sprintf("live%d@example.com", seq.Add(1))
		if _, err := b.pool.Exec(t.Context(), `INSERT INTO contacts (email, name) VALUES ($1, 'Live Person')`, email); err != nil {
			return err
		}
		_, err := b.pool.Exec(t.Context(), `UPDATE contacts SET brevo_sync_status='Selected', brevo_processing_status='Queued'
			WHERE email = $1`, email)
		return err
	}

	stop := make(chan struct{})
	progress := make(chan struct{}) // a selection committed, while someone listens
	selectorDone := make(chan error, 1)
	var whileDown atomic.Int64
	go func() {
		for {
			select {
			case <-stop:
				selectorDone <- nil
				return
			default:
			}
			if err := selectOne(); err != nil {
				selectorDone <- err
				return
			}
			if !svc.listener.Connected() {
				whileDown.Add(1)
			}
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	}()
	// waitSelections waits for n more selections by the selector.
	waitSelections := func(n int) {
		t.Helper()
		for range n {
			select {
			case <-progress:
			case err := <-selectorDone:
				t.Fatalf("selector stopped: %v", err)
			}
		}
	}

	const kills = 5
	for range kills {
		waitSelections(20) // selections while the listener is up
		b.terminateListener(t)
		waitListener(t, svc.listener, false)
		if err := selectOne(); err != nil { // surely while it is down
			t.Fatal(err)
		}
		if !svc.listener.Connected() {
			whileDown.Add(1)
		}
		waitListener(t, svc.listener, true)
	}
	close(stop)
	if err := <-selectorDone; err != nil {
		t.Fatalf("selecting write failed: %v", err)
	}

	// The last selections happen while the listener is down, once the
	// syncer is idle (every earlier selection is Complete; its timer is set
	// to the lease expiry, two minutes out, or the sweep), and nothing is
	// selected after the listener is back: only its catch-up can find them.
	b.obs.completes(t, int(seq.Load()))
	b.terminateListener(t)
	waitListener(t, svc.listener, false)
	for range 10 {
		if err := selectOne(); err != nil {
			t.Fatal(err)
		}
		if !svc.listener.Connected() {
			whileDown.Add(1)
		}
	}
	waitListener(t, svc.listener, true)

	n := int(seq.Load())
	t.Logf("%d contacts selected across %d kills, %d while the listener was down", n, kills+1, whileDown.Load())
	if whileDown.Load() == 0 {
		t.Error("no selection was committed while the listener was down: the test did not exercise the catch-up")
	}
	b.obs.completes(t, n)
	b.assertAllSyncedOnce(t, n)

	var listeners int
	err := b.pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'brevosync-listener' AND datname = current_database()`).Scan(&listeners)
	if err != nil || listeners != 1 {
		t.Errorf("%d listening connections after the kills (%v), want 1", listeners, err)
	}
}

// faultBundle is a running service with n contacts selected in one
// statement, Brevo answering as set up by arrange (called before the
// selection).
func faultBundle(t *testing.T, n int, cfg syncer.Config, o runOpts, arrange func(b *testBundle, emails []string)) (*testBundle, []string) {
	t.Helper()
	b := newBundle(t, brevotest.Config{})
	b.run(t, cfg, o)
	emails := b.insertMany(t, "fault", n)
	if arrange != nil {
		arrange(b, emails)
	}
	if got := b.selectAll(t); got != n {
		t.Fatalf("selected %d contacts, want %d", got, n)
	}
	return b, emails
}

// checkFinal asserts that every contact is Complete with wantRetries(email)
// failed attempts on its row, no error, no claim left, Brevo's id recorded
// (unless mayLackID(email): Brevo gives no id when it answers 204), and that
// Brevo holds every contact, upserted successfully wantUpserts(email) times.
func checkFinal(t *testing.T, b *testBundle, emails []string, wantRetries, wantUpserts func(email string) int, mayLackID func(email string) bool) {
	t.Helper()
	rows := b.rowsByEmail(t)
	upserts := brevoUpserts(b.sim)
	if len(rows) != len(emails) || len(upserts) != len(emails) {
		t.Errorf("%d rows, Brevo has %d contacts; want %d of each", len(rows), len(upserts), len(emails))
	}
	bad := 0
	for _, e := range emails {
		want := rowState{Email: e, Sync: "Complete", Proc: "Complete", Retries: wantRetries(e), Synced: true, ContactID: true}
		if mayLackID != nil && mayLackID(e) {
			want.ContactID = rows[e].ContactID
		}
		if diff := cmp.Diff(want, rows[e]); diff != "" {
			t.Errorf("row %s (-want +got):\n%s", e, diff)
			bad++
		}
		if got, want := upserts[e], wantUpserts(e); got != want {
			t.Errorf("Brevo: contact %s upserted %d times, want %d", e, got, want)
			bad++
		}
		if bad > 10 {
			t.Fatal("too many errors")
		}
	}
}

func repeat(f brevotest.Fault, n int) []brevotest.Fault {
	out := make([]brevotest.Fault, n)
	for i := range out {
		out[i] = f
	}
	return out
}

func one(string) int  { return 1 }
func zero(string) int { return 0 }

// statusesOf returns the statuses Brevo answered to each email's upserts,
// in arrival order (0: no answer, the connection was dropped).
func statusesOf(sim *brevotest.Server) map[string][]int {
	out := map[string][]int{}
	for e, reqs := range upsertsByEmail(sim) {
		for _, r := range reqs {
			out[e] = append(out[e], r.Status)
		}
	}
	return out
}

// TestBurstOf500s: Brevo answers the first 120 upserts of a 300-contact
// selection with 500. Each of those contacts is retried after the backoff
// and ends Complete with one failed attempt on its row; the others with
// none; Brevo holds every contact, upserted once.
func TestBurstOf500s(t *testing.T) {
	t.Parallel()
	timed(t, t.Name())
	const n, burst = 300, 120
	cfg := testConfig()
	b, emails := faultBundle(t, n, cfg, runOpts{}, func(b *testBundle, _ []string) {
		b.sim.ScriptAll(repeat(brevotest.Fault{Status: 500}, burst)...)
	})
	b.obs.completes(t, n)

	// Fresh requests are claimed before retries, so the burst is spent on
	// first attempts: one 500 each for 120 contacts.
	statuses := statusesOf(b.sim)
	failedOnce := 0
	for _, e := range emails {
		switch s := statuses[e]; {
		case cmp.Equal(s, []int{500, 201}):
			failedOnce++
		case cmp.Equal(s, []int{201}):
		default:
			t.Errorf("Brevo answered %s with %v, want [201] or [500 201]", e, s)
		}
	}
	if failedOnce != burst {
		t.Errorf("%d contacts got a 500, want %d", failedOnce, burst)
	}
	checkFinal(t, b, emails, func(e string) int { return len(statuses[e]) - 1 }, one, nil)

	// Every retry waited for its backoff (base 100 ms).
	for e, reqs := range upsertsByEmail(b.sim) {
		if len(reqs) == 2 {
			if gap := reqs[1].At.Sub(reqs[0].At); gap < cfg.Retry.Base {
				t.Errorf("%s retried after %v, before the backoff (%v)", e, gap, cfg.Retry.Base)
			}
		}
	}
	if st := b.sim.Stats(); st.Upserts != n+burst || st.ByStatus[500] != burst {
		t.Errorf("Brevo received %d upserts, %d answered 500; want %d, %d", st.Upserts, st.ByStatus[500], n+burst, burst)
	}
}

// TestResponsesSlowerThanTheClientTimeout: among 300 contacts, four get
// answers later than the client's 2 s timeout. Two of those upserts still
// take effect in Brevo after the client gave up (Brevo is then upserted
// twice: at least once, and harmless), two end in a 500. All four are
// retried and end Complete with one failed attempt; nobody else is charged.
func TestResponsesSlowerThanTheClientTimeout(t *testing.T) {
	t.Parallel()
	timed(t, t.Name())
	const n = 300
	const slow = 3 * time.Second // the bundle's client timeout is 2 s
	lateEffect, lateFail := map[string]bool{}, map[string]bool{}
	b, emails := faultBundle(t, n, testConfig(), runOpts{}, func(b *testBundle, emails []string) {
		for _, e := range emails[10:12] {
			lateEffect[e] = true
			b.sim.Script(e, brevotest.Fault{Latency: slow})
		}
		for _, e := range emails[200:202] {
			lateFail[e] = true
			b.sim.Script(e, brevotest.Fault{Latency: slow, Status: 500})
		}
	})
	b.obs.completes(t, n)
	// The slow answers arrive after the retries; wait until Brevo has
	// answered all n + 4 upserts.
	if err := b.sim.WaitStats(t.Context(), func(st brevotest.Stats) bool { return st.Answered >= n+4 }); err != nil {
		t.Fatal(err)
	}
	checkFinal(t, b, emails,
		func(e string) int {
			if lateEffect[e] || lateFail[e] {
				return 1
			}
			return 0
		},
		func(e string) int {
			if lateEffect[e] {
				return 2
			}
			return 1
		},
		// Normally the retry creates the contact (201, with its id) and the
		// late upsert updates it; should the late one land first, the retry
		// gets 204 and no id.
		func(e string) bool { return lateEffect[e] })
	if st := b.sim.Stats(); st.Upserts != n+4 {
		t.Errorf("Brevo received %d upserts, want %d", st.Upserts, n+4)
	}
	for e := range lateEffect {
		// The retry follows the 2 s client timeout (less the time the first
		// request took to arrive), not the slow answer.
		if reqs := b.sim.UpsertsFor(e); len(reqs) != 2 || reqs[1].At.Sub(reqs[0].At) < 1500*time.Millisecond {
			t.Errorf("%s: %d upserts; want the retry after the 2 s client timeout", e, len(reqs))
		}
	}
}

// TestDroppedConnections: Brevo closes the connection without an answer on
// the first 60 upserts of 300. Those contacts are retried and end Complete
// with one failed attempt; Brevo holds every contact once (a dropped upsert
// took no effect).
func TestDroppedConnections(t *testing.T) {
	t.Parallel()
	timed(t, t.Name())
	const n, dropped = 300, 60
	b, emails := faultBundle(t, n, testConfig(), runOpts{}, func(b *testBundle, _ []string) {
		b.sim.ScriptAll(repeat(brevotest.Fault{Drop: true}, dropped)...)
	})
	b.obs.completes(t, n)
	statuses := statusesOf(b.sim)
	droppedOnce := 0
	for _, e := range emails {
		switch s := statuses[e]; {
		case cmp.Equal(s, []int{0, 201}):
			droppedOnce++
		case cmp.Equal(s, []int{201}):
		default:
			t.Errorf("Brevo answered %s with %v, want [201] or [dropped 201]", e, s)
		}
	}
	if droppedOnce != dropped {
		t.Errorf("%d contacts had their connection dropped, want %d", droppedOnce, dropped)
	}
	checkFinal(t, b, emails, func(e string) int { return len(statuses[e]) - 1 }, one, nil)
	if st := b.sim.Stats(); st.Upserts != n+dropped || st.ByStatus[0] != dropped {
		t.Errorf("Brevo received %d upserts, %d dropped; want %d, %d", st.Upserts, st.ByStatus[0], n+dropped, dropped)
	}
}

// call is one HTTP request as the Brevo client made it.
type call struct {
	start, end time.Time // RoundTrip called, response headers received
	status     int
	reset      time.Duration // x-sib-ratelimit-reset of a 429
}

// callRecorder is an http.RoundTripper that logs every request's timing.
type callRecorder struct {
	rt    http.RoundTripper
	mu    sync.Mutex
	calls []call
}

func (r *callRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	c := call{start: time.Now()}
	resp, err := r.rt.RoundTrip(req)
	c.end = time.Now()
	if err == nil {
		c.status = resp.StatusCode
		if c.status == http.StatusTooManyRequests {
			f, _ := strconv.ParseFloat(resp.Header.Get("X-Sib-Ratelimit-Reset"), 64)
			c.reset = time.Duration(f * float64(time.Second))
		}
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	return resp, err
}

func (r *callRecorder) log() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// TestRateLimitStorm: Brevo answers 45 upserts in a row with 429 and
// x-sib-ratelimit-reset of 500 ms to 900 ms, while 300 contacts are being
// sent 16 at a time. After each 429 the syncer stops ALL sending until the
// reset (not only the contact that got it), no contact is charged an
// attempt, and all end Complete, each upserted once.
func TestRateLimitStorm(t *testing.T) {
	t.Parallel()
	timed(t, t.Name())
	const n, storm = 300, 45
	resets := []time.Duration{500 * time.Millisecond, 700 * time.Millisecond, 900 * time.Millisecond}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	rec := &callRecorder{rt: tr}
	cfg := testConfig()
	cfg.Concurrency = 16
	b, emails := faultBundle(t, n, cfg, runOpts{httpClient: &http.Client{Timeout: 2 * time.Second, Transport: rec}},
		func(b *testBundle, _ []string) {
			for i := range storm {
				b.sim.ScriptAll(brevotest.Fault{Status: 429, Reset: resets[i%len(resets)]})
			}
		})
	b.obs.completes(t, n)

	checkFinal(t, b, emails, zero, one, nil)
	if st := b.sim.Stats(); st.Upserts != n+storm || st.ByStatus[429] != storm {
		t.Errorf("Brevo received %d upserts, %d answered 429; want %d, %d", st.Upserts, st.ByStatus[429], n+storm, storm)
	}

	// No request may start between a 429's arrival and its reset. A
	// request whose sender had passed the pause check just before the 429
	// was read may still start a moment after it: allow slack for that.
	const slack = 150 * time.Millisecond
	calls := rec.log()
	limited, violations := 0, 0
	var latest time.Duration // the latest start within the slack
	for _, c := range calls {
		if c.status != http.StatusTooManyRequests {
			continue
		}
		limited++
		if c.reset <= 0 {
			t.Fatalf("a 429 without x-sib-ratelimit-reset: %+v", c)
		}
		from, until := c.end.Add(slack), c.end.Add(c.reset)
		for _, o := range calls {
			if o.start.After(c.end) && !o.start.After(from) {
				latest = max(latest, o.start.Sub(c.end))
			}
			if o.start.After(from) && o.start.Before(until) {
				violations++
				if violations <= 5 {
					t.Errorf("a request started %v after a 429 whose reset was %v", o.start.Sub(c.end), c.reset)
				}
			}
		}
	}
	t.Logf("requests already past the pause check when a 429 came back started up to %v after it (slack %v)", latest, slack)
	if limited != storm {
		t.Errorf("the client saw %d 429s, want %d", limited, storm)
	}
	if violations > 0 {
		t.Errorf("%d requests were sent during a rate-limit pause", violations)
	}
}

// TestUnauthorizedForAWhile: the API key is refused (401) for a few seconds
// while 300 contacts are selected. Sending pauses: only the first claim's
// requests (at most Concurrency) reach Brevo, then only read-only probes,
// several of them. Nobody is failed or charged. Once the key works again,
// every contact ends Complete, upserted once.
func TestUnauthorizedForAWhile(t *testing.T) {
	t.Parallel()
	timed(t, t.Name())
	const n, probes = 300, 4
	cfg := testConfig()
	cfg.Concurrency = 16
	b, emails := faultBundle(t, n, cfg, runOpts{}, func(b *testBundle, _ []string) {
		b.sim.SetAPIKey("revoked-" + apiKey)
	})
	// Wait for several probe cycles (GET /account; the syncer makes no
	// other non-upsert request).
	err := b.sim.WaitStats(t.Context(), func(st brevotest.Stats) bool { return st.Requests-st.Upserts >= probes })
	if err != nil {
		t.Fatal(err)
	}
	sentWhileRefused := b.sim.Stats().Upserts
	if sentWhileRefused == 0 || sentWhileRefused > cfg.Concurrency {
		t.Errorf("%d upserts sent while the key was refused; want the first claim's at most (%d), then a pause",
			sentWhileRefused, cfg.Concurrency)
	}
	for e, r := range b.rowsByEmail(t) {
		if r.Sync == "Error" || r.Sync == "Complete" || r.Retries != 0 {
			t.Errorf("while refused, row %s = %+v; want waiting, nobody failed or charged", e, r)
		}
	}
	for _, r := range b.sim.Requests() {
		if r.Method != http.MethodPost && (r.Method != http.MethodGet || r.Path != "/v3/account") {
			t.Errorf("while refused, the syncer sent %s %s; want only read-only probes of GET /v3/account", r.Method, r.Path)
		}
	}

	b.sim.SetAPIKey(apiKey)
	b.obs.completes(t, n)
	checkFinal(t, b, emails, zero, one, nil)
	st := b.sim.Stats()
	if st.ByStatus[401] != sentWhileRefused || st.Upserts != n+sentWhileRefused {
		t.Errorf("Brevo: %d upserts, %d refused; want %d, %d", st.Upserts, st.ByStatus[401], n+sentWhileRefused, sentWhileRefused)
	}
	t.Logf("%d upserts refused before sending paused; %d requests in all", sentWhileRefused, st.Requests)
}
