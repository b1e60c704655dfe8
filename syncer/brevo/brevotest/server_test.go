package brevotest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

const testKey = "test-key"

// reply is a read answer.
type reply struct {
	status int
	header http.Header
	body   string
}

// call sends method path (relative to s.URL()) with api-key key (none when
// empty) and body (none when empty), and reads the answer.
func call(t *testing.T, s *brevotest.Server, method, path, key, body string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("api-key", key)
	}
	if body != "" {
		req.Header.Set("content-type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// upsert posts body to /contacts with the test key.
func upsert(t *testing.T, s *brevotest.Server, body string) reply {
	t.Helper()
	return call(t, s, http.MethodPost, "/contacts", testKey, body)
}

// post upserts body with the test key and returns the status, or -1 on a
// transport error. Unlike upsert it may be called from any goroutine.
func post(s *brevotest.Server, body string) int {
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/contacts", strings.NewReader(body))
	if err != nil {
		return -1
	}
	req.Header.Set("api-key", testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// wantError checks r is a Brevo error with status and code.
func wantError(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d (%s), want %d", r.status, r.body, status)
	}
	var e struct{ Code, Message string }
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if e.Code != code || e.Message == "" {
		t.Errorf("error body = %s, want code %q and a message", r.body, code)
	}
}

// waitCtx is a context for waiting on the server, bounded so a broken test
// fails instead of hanging.
func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestAuth(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{APIKey: testKey})
	for _, path := range []string{"/account", "/contacts/attributes", "/contacts/a@example.com"} {
		wantError(t, call(t, s, http.MethodGet, path, "", ""), 401, "unauthorized")
		wantError(t, call(t, s, http.MethodGet, path, "wrong", ""), 401, "unauthorized")
	}
	wantError(t, call(t, s, http.MethodPost, "/contacts", "wrong", `{"email":"a@example.com"}`), 401, "unauthorized")
	wantError(t, call(t, s, http.MethodPost, "/contacts/attributes/normal/X", "", `{"type":"text"}`), 401, "unauthorized")

	r := call(t, s, http.MethodGet, "/account", testKey, "")
	if r.status != 200 || !strings.Contains(r.body, `"email":"sim@example.com"`) {
		t.Errorf("GET /account = %d %s, want 200 with the account", r.status, r.body)
	}

	s.SetAPIKey("new-key")
	wantError(t, call(t, s, http.MethodGet, "/account", testKey, ""), 401, "unauthorized")
	if r := call(t, s, http.MethodGet, "/account", "new-key", ""); r.status != 200 {
		t.Errorf("GET /account with the rotated key = %d, want 200", r.status)
	}
	if got := len(s.Contacts()); got != 0 {
		t.Errorf("unauthorized upsert created %d contacts", got)
	}

	s.SetAPIKey("")
	if r := call(t, s, http.MethodGet, "/account", "anything", ""); r.status != 200 {
		t.Errorf("GET /account with any key when none is configured = %d, want 200", r.status)
	}
	wantError(t, call(t, s, http.MethodGet, "/account", "", ""), 401, "unauthorized")
}

func TestUnknownRoute(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	wantError(t, call(t, s, http.MethodGet, "/nothing", testKey, ""), 404, "document_not_found")
	wantError(t, call(t, s, http.MethodGet, "/nothing", "", ""), 404, "document_not_found")
	wantError(t, call(t, s, http.MethodDelete, "/contacts", testKey, ""), 404, "document_not_found")
}

func TestRequestLog(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	upsert(t, s, `{"email":" Ann@Example.com ","updateEnabled":true}`)
	upsert(t, s, `{"email":"bob@example.com","updateEnabled":true}`)
	call(t, s, http.MethodGet, "/account", testKey, "")
	upsert(t, s, `{"email":"ann@example.com","updateEnabled":true}`)

	type entry struct {
		Method, Path, Email string
		Status              int
	}
	var got []entry
	for _, r := range s.Requests() {
		got = append(got, entry{r.Method, r.Path, r.Email, r.Status})
		if r.At.IsZero() || r.Header.Get("api-key") != testKey {
			t.Errorf("request %s %s: At = %v, api-key = %q", r.Method, r.Path, r.At, r.Header.Get("api-key"))
		}
	}
	want := []entry{
		{"POST", "/v3/contacts", "ann@example.com", 201},
		{"POST", "/v3/contacts", "bob@example.com", 201},
		{"GET", "/v3/account", "", 200},
		{"POST", "/v3/contacts", "ann@example.com", 204},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Requests mismatch (-want +got):\n%s", diff)
	}
	if got := len(s.Upserts()); got != 3 {
		t.Errorf("len(Upserts()) = %d, want 3", got)
	}
	ann := s.UpsertsFor("ANN@example.com")
	if len(ann) != 2 || string(ann[1].Body) != `{"email":"ann@example.com","updateEnabled":true}` {
		t.Fatalf("UpsertsFor(ann) = %+v, want 2 requests with their bodies", ann)
	}

	// Returned requests are copies.
	ann[0].Body[0] = 'X'
	ann[0].Header.Set("api-key", "changed")
	if again := s.UpsertsFor("ann@example.com"); again[0].Body[0] != '{' || again[0].Header.Get("api-key") != testKey {
		t.Error("changing a returned Request changed the log")
	}

	st := s.Stats()
	if st.Requests != 4 || st.Upserts != 3 || st.Answered != 3 || st.Created != 2 || st.Updated != 1 {
		t.Errorf("Stats = %+v, want 4 requests, 3 upserts answered, 2 created, 1 updated", st)
	}
	s.Reset()
	if got := len(s.Requests()); got != 0 {
		t.Errorf("after Reset, %d requests logged", got)
	}
	if diff := cmp.Diff(brevotest.Stats{ByStatus: map[int]int{}}, s.Stats()); diff != "" {
		t.Errorf("after Reset, Stats mismatch (-want +got):\n%s", diff)
	}
	if _, ok := s.Contact("ann@example.com"); !ok {
		t.Error("Reset removed contacts")
	}
}

func TestNoRequestLog(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{NoRequestLog: true})
	upsert(t, s, `{"email":"a@example.com","updateEnabled":true}`)
	if got := len(s.Requests()); got != 0 {
		t.Errorf("with NoRequestLog, %d requests logged", got)
	}
	if err := s.WaitUpserts(waitCtx(t), 1); err != nil {
		t.Errorf("WaitUpserts: %v", err)
	}
	if st := s.Stats(); st.Created != 1 {
		t.Errorf("Stats = %+v, want 1 created", st)
	}
}

func TestWaitUpserts(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	// Upserts are counted on arrival: one held by the hook still counts.
	held := make(chan struct{})
	release := sync.OnceFunc(func() { close(held) })
	t.Cleanup(release)
	s.OnUpsert(func(brevotest.Request) { <-held })
	statuses := make(chan int, 3)
	for i := range 3 {
		go func() {
			statuses <- post(s, fmt.Sprintf(`{"email":"u%d@example.com","updateEnabled":true}`, i))
		}()
	}
	if err := s.WaitUpserts(waitCtx(t), 3); err != nil {
		t.Fatalf("WaitUpserts(3): %v", err)
	}
	if st := s.Stats(); st.Answered != 0 {
		t.Errorf("Answered = %d while the hook holds every upsert, want 0", st.Answered)
	}
	release()
	for range 3 {
		if got := <-statuses; got != 201 {
			t.Errorf("upsert = %d, want 201", got)
		}
	}
	if err := s.WaitStats(waitCtx(t), func(st brevotest.Stats) bool { return st.Answered == 3 }); err != nil {
		t.Errorf("WaitStats(Answered == 3): %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := s.WaitUpserts(ctx, 4); err != context.DeadlineExceeded {
		t.Errorf("WaitUpserts(4) with nothing coming = %v, want DeadlineExceeded", err)
	}
}

func TestOnUpsert(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	got := make(chan brevotest.Request, 1)
	s.OnUpsert(func(r brevotest.Request) { got <- r })
	upsert(t, s, `{"email":"Hook@Example.com","updateEnabled":true}`)
	if r := <-got; r.Email != "hook@example.com" || r.Method != http.MethodPost {
		t.Errorf("hook got %+v, want the upsert of hook@example.com", r)
	}
	s.OnUpsert(nil)
	upsert(t, s, `{"email":"hook@example.com","updateEnabled":true}`)
	if len(got) != 0 {
		t.Error("hook called after OnUpsert(nil)")
	}
}
