package brevotest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

const okBody = `{"email":"f@example.com","updateEnabled":true}`

func TestFaultAnswers(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})

	s.Script("f@example.com", brevotest.Fault{Status: 500})
	r := upsert(t, s, okBody)
	wantError(t, r, 500, "internal_error")
	if r.header.Get("x-sib-ratelimit-limit") == "" {
		t.Error("faulted answer has no rate-limit headers")
	}
	if _, ok := s.Contact("f@example.com"); ok {
		t.Error("a faulted upsert created its contact")
	}

	s.Script("f@example.com", brevotest.Fault{Status: 429, Reset: 1500 * time.Millisecond})
	r = upsert(t, s, okBody)
	wantError(t, r, 429, "too_many_requests")
	if got := r.header.Get("x-sib-ratelimit-reset"); got != "1.5" {
		t.Errorf("429 fault reset header = %q, want 1.5", got)
	}

	s.Script("f@example.com", brevotest.Fault{Status: 429})
	r = upsert(t, s, okBody)
	if _, ok := r.header["X-Sib-Ratelimit-Reset"]; ok || r.status != 429 {
		t.Errorf("429 fault without Reset = %d with reset header %q, want 429 without it", r.status, r.header.Get("x-sib-ratelimit-reset"))
	}

	s.Script("f@example.com", brevotest.Fault{Status: 502, Body: "<html>bad gateway</html>"})
	if r = upsert(t, s, okBody); r.status != 502 || r.body != "<html>bad gateway</html>" {
		t.Errorf("fault with Body = %d %q, want 502 with the body", r.status, r.body)
	}

	if r = upsert(t, s, okBody); r.status != 201 {
		t.Errorf("upsert after the script = %d, want 201", r.status)
	}
	st := s.Stats()
	if st.Faulted != 4 || st.RateLimited != 0 || st.ByStatus[429] != 2 || st.Created != 1 {
		t.Errorf("Stats = %+v, want 4 faulted (2 of them 429), none rate limited, 1 created", st)
	}
}

func TestFaultDrop(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	s.Script("f@example.com", brevotest.Fault{Drop: true})
	if got := post(s, okBody); got != -1 {
		t.Fatalf("dropped upsert = %d, want a transport error", got)
	}
	log := s.UpsertsFor("f@example.com")
	if len(log) != 1 || log[0].Status != 0 {
		t.Errorf("log = %+v, want one request with status 0", log)
	}
	if st := s.Stats(); st.ByStatus[0] != 1 || st.Faulted != 1 || st.Answered != 1 {
		t.Errorf("Stats = %+v, want 1 dropped", st)
	}
	if _, ok := s.Contact("f@example.com"); ok {
		t.Error("a dropped upsert created its contact")
	}
}

func TestFaultLatency(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})

	// Latency alone: slow, then handled normally.
	s.Script("f@example.com", brevotest.Fault{Latency: 30 * time.Millisecond})
	start := time.Now()
	if r := upsert(t, s, okBody); r.status != 201 {
		t.Errorf("slow upsert = %d, want 201", r.status)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("slow upsert took %v, want at least 30ms", d)
	}

	// Longer than the client waits: the client times out.
	s.Script("g@example.com", brevotest.Fault{Status: 500, Latency: time.Hour})
	hc := &http.Client{Timeout: 50 * time.Millisecond}
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/contacts", strings.NewReader(`{"email":"g@example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("api-key", testKey)
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("upsert with an hour of latency = %d, want a client timeout", resp.StatusCode)
	}
	// Close (in cleanup) releases the waiting handler.
}

func TestConfigLatency(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{Latency: 20 * time.Millisecond})
	start := time.Now()
	upsert(t, s, okBody)
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("upsert took %v, want at least Config.Latency 20ms", d)
	}
	s.SetLatency(0)
	if r := upsert(t, s, okBody); r.status != 204 {
		t.Errorf("upsert = %d, want 204", r.status)
	}
}

func TestScriptOrdering(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	s.Script("A@example.com", brevotest.Fault{Status: 500}, brevotest.Fault{Status: 503})
	s.Script("a@example.com", brevotest.Fault{Status: 400})
	s.ScriptAll(brevotest.Fault{Status: 502}, brevotest.Fault{Status: 504})

	a := `{"email":"a@example.com","updateEnabled":true}`
	b := `{"email":"b@example.com","updateEnabled":true}`
	steps := []struct {
		body string
		want int
	}{
		{b, 502}, // ScriptAll, in order
		{a, 500}, // per-email script first
		{a, 503},
		{a, 400},
		{a, 504}, // a's script is used up: the rest of ScriptAll
		{a, 201},
		{b, 201},
	}
	for i, st := range steps {
		if got := post(s, st.body); got != st.want {
			t.Errorf("step %d: upsert = %d, want %d", i, got, st.want)
		}
	}
}

func TestSetFault(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	s.Script("f@example.com", brevotest.Fault{Status: 500})
	f := &brevotest.Fault{Status: 401}
	s.SetFault(f)
	f.Status = 200 // SetFault copies
	for range 3 {
		wantError(t, upsert(t, s, okBody), 401, "unauthorized")
	}
	if r := call(t, s, http.MethodGet, "/account", testKey, ""); r.status != 200 {
		t.Errorf("GET /account during an upsert fault = %d, want 200", r.status)
	}
	s.SetFault(nil)
	// The script was not consumed while the fault was set.
	wantError(t, upsert(t, s, okBody), 500, "internal_error")
	if r := upsert(t, s, okBody); r.status != 201 {
		t.Errorf("upsert after SetFault(nil) = %d, want 201", r.status)
	}
}
