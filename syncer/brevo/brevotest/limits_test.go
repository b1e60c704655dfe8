package brevotest_test

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// contactEndpoints are a request to every endpoint under /v3/contacts.
var contactEndpoints = []struct{ method, path, body string }{
	{http.MethodPost, "/contacts", `{"email":"x@example.com","updateEnabled":true}`},
	{http.MethodGet, "/contacts/a@example.com", ""},
	{http.MethodGet, "/contacts", ""},
	{http.MethodPut, "/contacts/a@example.com", `{"attributes":{"FIRSTNAME":"A"}}`},
	{http.MethodPost, "/contacts/import", `{"listIds":[1],"jsonBody":[{"email":"i@example.com"}]}`},
	{http.MethodPost, "/contacts/lists/1/contacts/add", `{"emails":["a@example.com"]}`},
	{http.MethodPost, "/contacts/lists/1/contacts/remove", `{"emails":["a@example.com"]}`},
	{http.MethodGet, "/contacts/attributes", ""},
	{http.MethodPost, "/contacts/attributes/normal/X", `{"type":"text"}`},
}

func hasRateHeaders(r reply) bool {
	return r.header.Get("x-sib-ratelimit-limit") != "" && r.header.Get("x-sib-ratelimit-remaining") != "" &&
		r.header.Get("x-sib-ratelimit-reset") != ""
}

func TestSharedRateLimit(t *testing.T) {
	t.Parallel()
	// One token, the next in 100 s: everything after the first request is
	// refused however slow the machine.
	s := brevotest.New(t, brevotest.Config{RateLimit: 0.01})
	if r := upsert(t, s, `{"email":"a@example.com","updateEnabled":true}`); r.status != 201 {
		t.Fatalf("first upsert = %d, want 201", r.status)
	}
	for _, e := range contactEndpoints {
		r := call(t, s, e.method, e.path, testKey, e.body)
		wantError(t, r, 429, "too_many_requests")
		if !hasRateHeaders(r) || r.header.Get("x-sib-ratelimit-reset") != "100" || r.header.Get("x-sib-ratelimit-limit") != "1" {
			t.Errorf("%s %s: 429 headers %v, want limit 1 and reset 100", e.method, e.path, r.header)
		}
	}
	// Unauthorized requests are not charged, and still carry the headers.
	if r := call(t, s, http.MethodGet, "/contacts/a@example.com", "", ""); r.status != 401 || !hasRateHeaders(r) {
		t.Errorf("GET without a key = %d with headers %v, want 401 with rate-limit headers", r.status, r.header)
	}
	// Other endpoints are not under this limit.
	if r := call(t, s, http.MethodGet, "/account", testKey, ""); r.status != 200 {
		t.Errorf("GET /account = %d, want 200", r.status)
	}
	if r := call(t, s, http.MethodGet, "/processes", testKey, ""); r.status != 200 {
		t.Errorf("GET /processes = %d, want 200", r.status)
	}
	st := s.Stats()
	if st.RateLimited != len(contactEndpoints) || st.Upserts != 2 || st.ByStatus[429] != 1 {
		t.Errorf("Stats = %+v, want %d rate limited, 1 of them an upsert", st, len(contactEndpoints))
	}
	if got := len(s.Contacts()); got != 1 {
		t.Errorf("%d contacts, want 1: refused requests change nothing", got)
	}
	if got := len(s.Processes()); got != 0 {
		t.Errorf("%d imports accepted, want 0", got)
	}
	for _, r := range s.Requests()[1 : 1+len(contactEndpoints)] {
		if r.Status != 429 {
			t.Errorf("logged %s %s status %d, want 429", r.Method, r.Path, r.Status)
		}
	}
}

func TestRateHeadersEverywhere(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	upsert(t, s, `{"email":"a@example.com","updateEnabled":true}`)
	for _, e := range contactEndpoints {
		r := call(t, s, e.method, e.path, testKey, e.body)
		if r.status >= 300 || !hasRateHeaders(r) || r.header.Get("x-sib-ratelimit-limit") != "1000000" {
			t.Errorf("%s %s = %d with headers %v, want success with rate-limit headers", e.method, e.path, r.status, r.header)
		}
	}
	// Errors carry them too.
	for _, r := range []reply{
		call(t, s, http.MethodGet, "/contacts/nobody@example.com", testKey, ""),
		call(t, s, http.MethodPut, "/contacts/nobody@example.com", testKey, `{}`),
		call(t, s, http.MethodPost, "/contacts/import", testKey, `{"fileUrl":"https://example.com/a.csv","listIds":[1]}`),
		call(t, s, http.MethodGet, "/contacts?limit=5000", testKey, ""),
	} {
		if r.status < 400 || !hasRateHeaders(r) {
			t.Errorf("error answer %d %s has headers %v, want the rate-limit headers", r.status, r.body, r.header)
		}
	}
}

func TestByRoute(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	upsert(t, s, `{"email":"a@example.com","updateEnabled":true}`)
	upsert(t, s, `{"email":"a@example.com","updateEnabled":true}`)
	call(t, s, http.MethodGet, "/contacts/1", testKey, "")
	call(t, s, http.MethodGet, "/contacts/2", "", "") // 401: counted all the same
	call(t, s, http.MethodGet, "/processes/1", testKey, "")
	call(t, s, http.MethodGet, "/account", testKey, "")
	call(t, s, http.MethodGet, "/nothing", testKey, "")
	want := map[string]int{
		"POST /v3/contacts":             2,
		"GET /v3/contacts/{identifier}": 2,
		"GET /v3/processes/{id}":        1,
		"GET /v3/account":               1,
	}
	st := s.Stats()
	if diff := cmp.Diff(want, st.ByRoute); diff != "" {
		t.Errorf("ByRoute mismatch (-want +got):\n%s", diff)
	}
	if st.Requests != 7 || st.ProcessRequests != 1 {
		t.Errorf("Stats = %+v, want 7 requests, 1 to processes", st)
	}
}

func TestProcessesPerHour(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{ProcessesPerHour: 2})
	for i, p := range []string{"/processes", "/processes/1"} {
		r := call(t, s, http.MethodGet, p, testKey, "")
		if r.status == 429 || r.header.Get("x-sib-ratelimit-limit") != "2" || r.header.Get("x-sib-ratelimit-remaining") != []string{"1", "0"}[i] {
			t.Errorf("GET %s = %d with headers %v, want answered, limit 2, remaining %d", p, r.status, r.header, 1-i)
		}
	}
	r := call(t, s, http.MethodGet, "/processes/1", testKey, "")
	wantError(t, r, 429, "too_many_requests")
	if got := r.header.Get("x-sib-ratelimit-reset"); got != "1800" { // one token every 30 minutes
		t.Errorf("429 x-sib-ratelimit-reset = %q, want 1800", got)
	}
	// The contacts endpoints are not under this limit.
	if r := call(t, s, http.MethodGet, "/contacts", testKey, ""); r.status != 200 {
		t.Errorf("GET /contacts = %d, want 200", r.status)
	}
	if st := s.Stats(); st.ProcessRequests != 3 || st.RateLimited != 1 {
		t.Errorf("Stats = %+v, want 3 process requests, 1 rate limited", st)
	}
	s.SetProcessesPerHour(0)
	if r := call(t, s, http.MethodGet, "/processes", testKey, ""); r.status != 200 {
		t.Errorf("GET /processes with the limit off = %d, want 200", r.status)
	}
}
