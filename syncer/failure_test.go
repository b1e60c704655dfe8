package syncer_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

func TestInvalidEmailFailsAtOnce(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	b.start(t, testConfig())
	id := b.insert(t, "not-an-email")
	b.selectContacts(t, id)
	b.obs.final(t, id, syncer.ResultFailed)

	got := b.row(t, id)
	if got.Sync != "Error" || got.Proc != "Error" || got.NextRetry || got.Retries != 1 {
		t.Errorf("row = %+v, want Error/Error, 1 failed attempt, no retry", got)
	}
	if got.Error == nil || !strings.Contains(*got.Error, "400") || !strings.Contains(*got.Error, "Invalid email address") {
		t.Errorf("error = %v, want Brevo's code and message", got.Error)
	}
	if n := len(b.sim.UpsertsFor("not-an-email")); n != 1 {
		t.Errorf("Brevo received %d requests, want 1", n)
	}
}

func TestServerErrorsAreRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	cfg := testConfig()
	cfg.Retry.Base = 200 * time.Millisecond
	b.start(t, cfg)
	b.sim.Script("flaky@example.com", brevotest.Fault{Status: 500}, brevotest.Fault{Status: 503})
	id := b.insert(t, "flaky@example.com")
	b.selectContacts(t, id)
	b.obs.final(t, id, syncer.ResultComplete)

	reqs := b.sim.UpsertsFor("flaky@example.com")
	var statuses []int
	for _, r := range reqs {
		statuses = append(statuses, r.Status)
	}
	if diff := cmp.Diff([]int{500, 503, 201}, statuses); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	// Retry n waits base·2^n: 200ms then 400ms (plus jitter, minus nothing).
	for i, want := range []time.Duration{200 * time.Millisecond, 400 * time.Millisecond} {
		if gap := reqs[i+1].At.Sub(reqs[i].At); gap < want {
			t.Errorf("gap before retry %d = %v, want at least %v", i, gap, want)
		}
	}
	got := b.row(t, id)
	if got.Sync != "Complete" || got.Error != nil || got.NextRetry {
		t.Errorf("row = %+v, want Complete with no error and no due time", got)
	}
}

func TestRetryScheduledState(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	cfg := testConfig()
	cfg.Retry.Base = time.Hour // stays scheduled while we look
	b.start(t, cfg)
	b.sim.Script("later@example.com", brevotest.Fault{Status: 502})
	id := b.insert(t, "later@example.com")
	b.selectContacts(t, id)
	b.obs.final(t, id, syncer.ResultRetry)

	got := b.row(t, id)
	if got.Sync != "Queued" || got.Proc != "Error" || got.Retries != 1 || !got.NextRetry || got.ClaimToken {
		t.Errorf("row = %+v, want Queued/Error, 1 failed attempt, due later, unclaimed", got)
	}
	var delay time.Duration
	err := b.pool.QueryRow(t.Context(), `SELECT brevo_next_retry_at - now() FROM contacts WHERE id=$1`, id).Scan(&delay)
	if err != nil {
		t.Fatal(err)
	}
	if delay < 55*time.Minute || delay > 67*time.Minute {
		t.Errorf("next retry in %v, want about 1h (+ up to 10%%)", delay)
	}
}

func TestRetriesExhaustedFail(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	cfg := testConfig()
	cfg.Retry.MaxRetries = 2
	cfg.Retry.Base = 20 * time.Millisecond
	b.start(t, cfg)
	b.sim.Script("down@example.com", brevotest.Fault{Status: 500}, brevotest.Fault{Status: 500},
		brevotest.Fault{Status: 500}, brevotest.Fault{Status: 500})
	id := b.insert(t, "down@example.com")
	b.selectContacts(t, id)
	b.obs.final(t, id, syncer.ResultFailed)

	if n := len(b.sim.UpsertsFor("down@example.com")); n != 1+cfg.Retry.MaxRetries {
		t.Errorf("Brevo received %d requests, want 1 + MaxRetries = %d", n, 1+cfg.Retry.MaxRetries)
	}
	got := b.row(t, id)
	if got.Sync != "Error" || got.Proc != "Error" || got.Retries != 3 || got.NextRetry {
		t.Errorf("row = %+v, want Error/Error after 3 failed attempts", got)
	}
	if got.Error == nil || !strings.Contains(*got.Error, "gave up after 3 attempts") {
		t.Errorf("error = %v", got.Error)
	}
}

func TestTimeoutsAndDroppedConnectionsAreRetried(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	b.start(t, testConfig())
	b.sim.Script("slow@example.com", brevotest.Fault{Latency: 10 * time.Second, Status: 500})
	b.sim.Script("dropped@example.com", brevotest.Fault{Drop: true})
	slow, dropped := b.insert(t, "slow@example.com"), b.insert(t, "dropped@example.com")
	b.selectContacts(t, slow, dropped)
	b.obs.final(t, dropped, syncer.ResultComplete)
	b.obs.final(t, slow, syncer.ResultComplete)
	for _, id := range []string{slow, dropped} {
		if got := b.row(t, id); got.Sync != "Complete" || got.Retries != 1 {
			t.Errorf("row = %+v, want Complete after 1 failed attempt", got)
		}
	}
}

func TestRateLimitWaitsAndIsNotCounted(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	b.start(t, testConfig())
	b.sim.Script("busy@example.com", brevotest.Fault{Status: 429, Reset: time.Second})
	id := b.insert(t, "busy@example.com")
	b.selectContacts(t, id)
	b.obs.final(t, id, syncer.ResultComplete)

	reqs := b.sim.UpsertsFor("busy@example.com")
	if len(reqs) != 2 || reqs[0].Status != 429 {
		t.Fatalf("requests = %d (first %d), want a 429 then a success", len(reqs), reqs[0].Status)
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < time.Second {
		t.Errorf("sent again after %v, before x-sib-ratelimit-reset (1s)", gap)
	}
	if got := b.row(t, id); got.Retries != 0 || got.Error != nil {
		t.Errorf("row = %+v, want the 429 not counted", got)
	}
}

func TestUnauthorizedPausesAndResumes(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	b.sim.SetAPIKey("revoked-" + apiKey) // our key no longer works
	b.start(t, testConfig())

	var ids []string
	for _, e := range []string{"p1@example.com", "p2@example.com", "p3@example.com"} {
		ids = append(ids, b.insert(t, e))
	}
	b.selectContacts(t, ids...)
	// Wait until Brevo has refused us and we have been probing for a while:
	// the third request after the refusal is a probe (GET /account).
	if err := b.sim.WaitUpserts(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	b.obs.wait(t, "the refused claim to be handed back", func(c map[syncer.Result]int, _ map[string][]syncer.Outcome) bool {
		return c[syncer.ResultReleased] >= 1
	})
	if n := b.sim.Stats().Upserts; n > 3 {
		t.Errorf("%d upserts sent while the key was refused; want sending paused", n)
	}
	for _, id := range ids {
		if got := b.row(t, id); got.Sync == "Error" || got.Retries != 0 {
			t.Errorf("while paused, row = %+v; want nobody failed or charged", got)
		}
	}

	b.sim.SetAPIKey(apiKey)
	for _, id := range ids {
		b.obs.final(t, id, syncer.ResultComplete)
	}
	for _, id := range ids {
		if got := b.row(t, id); got.Sync != "Complete" || got.Retries != 0 {
			t.Errorf("after the key works, row = %+v; want Complete, nothing charged", got)
		}
	}
}
