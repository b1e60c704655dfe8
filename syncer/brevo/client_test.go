package brevo_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brevosync/brevosync/syncer/brevo"
)

// captured is one request as a test server saw it.
type captured struct {
	method, path string
	header       http.Header
	body         []byte
}

// recordServer answers every request with handler and sends what it received
// on the returned channel (buffered; the test reads what it needs).
func recordServer(t *testing.T, handler http.HandlerFunc) (*httptest.Server, <-chan captured) {
	t.Helper()
	reqs := make(chan captured, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		reqs <- captured{r.Method, r.URL.EscapedPath(), r.Header.Clone(), b}
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, reqs
}

// answer returns a handler writing status, headers (pairs) and body.
func answer(status int, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func TestUpsertContactRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ct   brevo.Contact
		want map[string]any
	}{
		{
			name: "attributes and lists",
			ct: brevo.Contact{
				Email:      "ann@example.com",
				Attributes: map[string]any{"FIRSTNAME": "Ann", "HAS_GMAIL": true, "SCORE": 3},
				ListIDs:    []int64{7, 9},
			},
			want: map[string]any{
				"email":         "ann@example.com",
				"attributes":    map[string]any{"FIRSTNAME": "Ann", "HAS_GMAIL": true, "SCORE": 3.0},
				"listIds":       []any{7.0, 9.0},
				"updateEnabled": true,
			},
		},
		{
			name: "email only",
			ct:   brevo.Contact{Email: "bob@example.com"},
			want: map[string]any{"email": "bob@example.com", "updateEnabled": true},
		},
		{
			name: "empty attributes and lists",
			ct:   brevo.Contact{Email: "cy@example.com", Attributes: map[string]any{}, ListIDs: []int64{}},
			want: map[string]any{"email": "cy@example.com", "updateEnabled": true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, reqs := recordServer(t, answer(201, `{"id":1}`))
			c := brevo.NewClient(brevo.Config{BaseURL: srv.URL + "/v3", APIKey: "k1"})
			if _, err := c.UpsertContact(t.Context(), tt.ct); err != nil {
				t.Fatalf("UpsertContact: %v", err)
			}
			r := <-reqs
			if r.method != http.MethodPost || r.path != "/v3/contacts" {
				t.Errorf("request = %s %s, want POST /v3/contacts", r.method, r.path)
			}
			for key, want := range map[string]string{
				"api-key": "k1", "content-type": "application/json",
				"accept": "application/json", "user-agent": "brevosync",
			} {
				if got := r.header.Get(key); got != want {
					t.Errorf("header %s = %q, want %q", key, got, want)
				}
			}
			var got map[string]any
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("body %s: %v", r.body, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
			for _, key := range []string{"emailBlacklisted", "smsBlacklisted"} {
				if strings.Contains(string(r.body), key) {
					t.Errorf("body %s contains %s", r.body, key)
				}
			}
		})
	}
}

func TestUpsertContactResult(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    brevo.UpsertResult
	}{
		{"201 with id", answer(201, `{"id": 42}`), brevo.UpsertResult{ID: 42, Created: true}},
		{"201 empty body", answer(201, ``), brevo.UpsertResult{Created: true}},
		{"204", answer(204, ``), brevo.UpsertResult{}},
		{"200 with id", answer(200, `{"id": 7}`), brevo.UpsertResult{ID: 7}},
		{
			"rate-limit headers",
			answer(201, `{"id":1}`, "x-sib-ratelimit-limit", "10", "x-sib-ratelimit-remaining", "9", "x-sib-ratelimit-reset", "0.5"),
			brevo.UpsertResult{ID: 1, Created: true, RateLimit: brevo.RateLimit{Limit: 10, Remaining: 9, Reset: 500 * time.Millisecond, Known: true}},
		},
		{
			"integer reset",
			answer(204, ``, "x-sib-ratelimit-reset", "3"),
			brevo.UpsertResult{RateLimit: brevo.RateLimit{Reset: 3 * time.Second, Known: true}},
		},
		{
			"garbage headers",
			answer(204, ``, "x-sib-ratelimit-limit", "lots", "x-sib-ratelimit-reset", "soon"),
			brevo.UpsertResult{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := recordServer(t, tt.handler)
			c := brevo.NewClient(brevo.Config{BaseURL: srv.URL})
			got, err := c.UpsertContact(t.Context(), brevo.Contact{Email: "a@example.com"})
			if err != nil {
				t.Fatalf("UpsertContact: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("UpsertContact mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUpsertContactMalformedBody(t *testing.T) {
	t.Parallel()
	srv, _ := recordServer(t, answer(201, `{"id": "not a number"`))
	c := brevo.NewClient(brevo.Config{BaseURL: srv.URL})
	_, err := c.UpsertContact(t.Context(), brevo.Contact{Email: "a@example.com"})
	if err == nil {
		t.Fatal("UpsertContact = nil error, want a decode error")
	}
	if apiErr, ok := errors.AsType[*brevo.APIError](err); ok {
		t.Errorf("UpsertContact error = APIError %v, want a non-API error", apiErr)
	}
	if got := brevo.Classify(err); got != brevo.Temporary {
		t.Errorf("Classify(%v) = %v, want temporary", err, got)
	}
	if !strings.HasPrefix(err.Error(), "upsert contact: ") {
		t.Errorf("error %q does not name the operation", err)
	}
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	big := `{"code":"x","message":"` + strings.Repeat("a", 70<<10) + `"}`
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    brevo.APIError
		text    string
		class   brevo.Class
	}{
		{
			name:    "invalid email",
			handler: answer(400, `{"code":"invalid_parameter","message":"Invalid email address"}`, "sib-request-id", "req-1"),
			want:    brevo.APIError{StatusCode: 400, Code: "invalid_parameter", Message: "Invalid email address", RequestID: "req-1"},
			text:    "brevo: 400 invalid_parameter: Invalid email address",
			class:   brevo.Permanent,
		},
		{
			name:    "duplicate with metadata",
			handler: answer(400, `{"code":"duplicate_parameter","message":"SMS is already associated with another Contact","metadata":{"duplicate_identifiers":["SMS"]}}`),
			want:    brevo.APIError{StatusCode: 400, Code: "duplicate_parameter", Message: "SMS is already associated with another Contact"},
			text:    "brevo: 400 duplicate_parameter: SMS is already associated with another Contact",
			class:   brevo.Permanent,
		},
		{
			name:    "unauthorized",
			handler: answer(401, `{"message":"Key not found","code":"unauthorized"}`),
			want:    brevo.APIError{StatusCode: 401, Code: "unauthorized", Message: "Key not found"},
			text:    "brevo: 401 unauthorized: Key not found",
			class:   brevo.Unauthorized,
		},
		{
			name:    "429 with reset",
			handler: answer(429, `{"code":"too_many_requests","message":"slow down"}`, "x-sib-ratelimit-reset", "3"),
			want:    brevo.APIError{StatusCode: 429, Code: "too_many_requests", Message: "slow down", RateLimitReset: 3 * time.Second},
			text:    "brevo: 429 too_many_requests: slow down",
			class:   brevo.RateLimited,
		},
		{
			name:    "429 without reset",
			handler: answer(429, ``),
			want:    brevo.APIError{StatusCode: 429, Message: "Too Many Requests", RateLimitReset: time.Second},
			text:    "brevo: 429 Too Many Requests",
			class:   brevo.RateLimited,
		},
		{
			name:    "html 502",
			handler: answer(502, `<html><body>Bad gateway</body></html>`, "content-type", "text/html"),
			want:    brevo.APIError{StatusCode: 502, Message: "Bad Gateway"},
			text:    "brevo: 502 Bad Gateway",
			class:   brevo.Temporary,
		},
		{
			name:    "empty 503",
			handler: answer(503, ``),
			want:    brevo.APIError{StatusCode: 503, Message: "Service Unavailable"},
			text:    "brevo: 503 Service Unavailable",
			class:   brevo.Temporary,
		},
		{
			name:    "body over 64 KiB",
			handler: answer(500, big),
			want:    brevo.APIError{StatusCode: 500, Message: "Internal Server Error"},
			text:    "brevo: 500 Internal Server Error",
			class:   brevo.Temporary,
		},
		{
			name:    "json without code",
			handler: answer(404, `{"message":"Contact does not exist"}`),
			want:    brevo.APIError{StatusCode: 404, Message: "Contact does not exist"},
			text:    "brevo: 404 Contact does not exist",
			class:   brevo.Permanent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := recordServer(t, tt.handler)
			c := brevo.NewClient(brevo.Config{BaseURL: srv.URL})
			_, err := c.UpsertContact(t.Context(), brevo.Contact{Email: "a@example.com"})
			apiErr, ok := errors.AsType[*brevo.APIError](err)
			if !ok {
				t.Fatalf("UpsertContact error = %v, want *APIError", err)
			}
			if diff := cmp.Diff(tt.want, *apiErr); diff != "" {
				t.Errorf("APIError mismatch (-want +got):\n%s", diff)
			}
			if got := err.Error(); got != tt.text {
				t.Errorf("Error() = %q, want %q", got, tt.text)
			}
			if got := brevo.Classify(err); got != tt.class {
				t.Errorf("Classify = %v, want %v", got, tt.class)
			}
		})
	}
}

// TestConnectionReuse checks that bodies are drained and closed: successes
// and errors alike go over one connection.
func TestConnectionReuse(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	var n atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch n.Add(1) % 3 {
		case 0:
			answer(201, `{"id":1}`)(w, r)
		case 1:
			answer(400, `{"code":"invalid_parameter","message":"Invalid email address"}`)(w, r)
		default:
			answer(503, strings.Repeat("x", 10<<10))(w, r)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	c := brevo.NewClient(brevo.Config{BaseURL: srv.URL})
	for range 9 {
		_, _ = c.UpsertContact(t.Context(), brevo.Contact{Email: "a@example.com"})
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("9 sequential requests used %d connections, want 1", got)
	}
}

func TestTimeoutIsTemporary(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		// Reading the body lets net/http notice the client hanging up.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	c := brevo.NewClient(brevo.Config{BaseURL: srv.URL, Timeout: 50 * time.Millisecond})
	_, err := c.UpsertContact(t.Context(), brevo.Contact{Email: "a@example.com"})
	if err == nil {
		t.Fatal("UpsertContact = nil error, want a timeout")
	}
	if _, ok := errors.AsType[*brevo.APIError](err); ok {
		t.Errorf("UpsertContact error %v is an APIError, want a transport error", err)
	}
	if got := brevo.Classify(err); got != brevo.Temporary {
		t.Errorf("Classify(%v) = %v, want temporary", err, got)
	}
	if !strings.HasPrefix(err.Error(), "upsert contact: ") {
		t.Errorf("error %q does not name the operation", err)
	}
}

func TestDroppedConnectionIsTemporary(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		_ = conn.Close()
	}))
	t.Cleanup(srv.Close)
	c := brevo.NewClient(brevo.Config{BaseURL: srv.URL})
	_, err := c.UpsertContact(t.Context(), brevo.Contact{Email: "a@example.com"})
	if err == nil {
		t.Fatal("UpsertContact = nil error, want a connection error")
	}
	if got := brevo.Classify(err); got != brevo.Temporary {
		t.Errorf("Classify(%v) = %v, want temporary", err, got)
	}
}

func TestConnectionRefusedIsTemporary(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c := brevo.NewClient(brevo.Config{BaseURL: "http://" + addr + "/v3"})
	err = c.Account(t.Context())
	if err == nil {
		t.Fatal("Account = nil error, want connection refused")
	}
	if got := brevo.Classify(err); got != brevo.Temporary {
		t.Errorf("Classify(%v) = %v, want temporary", err, got)
	}
	if !strings.HasPrefix(err.Error(), "get account: ") {
		t.Errorf("error %q does not name the operation", err)
	}
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	srv, _ := recordServer(t, answer(204, ``))
	c := brevo.NewClient(brevo.Config{BaseURL: srv.URL})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.UpsertContact(ctx, brevo.Contact{Email: "a@example.com"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("UpsertContact error = %v, want context.Canceled", err)
	}
	if got := brevo.Classify(err); got != brevo.Temporary {
		t.Errorf("Classify(%v) = %v, want temporary", err, got)
	}
}

func TestBaseURLTrailingSlash(t *testing.T) {
	t.Parallel()
	srv, reqs := recordServer(t, answer(200, `{}`))
	c := brevo.NewClient(brevo.Config{BaseURL: srv.URL + "/v3/", UserAgent: "test-agent"})
	if err := c.Account(t.Context()); err != nil {
		t.Fatalf("Account: %v", err)
	}
	r := <-reqs
	if r.method != http.MethodGet || r.path != "/v3/account" {
		t.Errorf("request = %s %s, want GET /v3/account", r.method, r.path)
	}
	if got := r.header.Get("user-agent"); got != "test-agent" {
		t.Errorf("user-agent = %q, want test-agent", got)
	}
	if got := r.header.Get("content-type"); got != "" {
		t.Errorf("content-type = %q on a GET, want none", got)
	}
}

func TestAttributes(t *testing.T) {
	t.Parallel()
	srv, _ := recordServer(t, answer(200, `{"attributes":[
		{"name":"FIRSTNAME","category":"normal","type":"text"},
		{"name":"GENDER","category":"category","type":"text","enumeration":[{"value":1,"label":"Men"}]},
		{"name":"CALC","category":"calculated","calculatedValue":"x"}]}`))
	c := brevo.NewClient(brevo.Config{BaseURL: srv.URL})
	got, err := c.Attributes(t.Context())
	if err != nil {
		t.Fatalf("Attributes: %v", err)
	}
	want := []brevo.Attribute{
		{Name: "FIRSTNAME", Category: "normal", Type: "text"},
		{Name: "GENDER", Category: "category", Type: "text"},
		{Name: "CALC", Category: "calculated"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Attributes mismatch (-want +got):\n%s", diff)
	}
}

func TestCreateAttribute(t *testing.T) {
	t.Parallel()
	srv, reqs := recordServer(t, answer(201, ``))
	c := brevo.NewClient(brevo.Config{BaseURL: srv.URL + "/v3", APIKey: "k"})
	if err := c.CreateAttribute(t.Context(), "HAS_GMAIL", "boolean"); err != nil {
		t.Fatalf("CreateAttribute: %v", err)
	}
	r := <-reqs
	if r.method != http.MethodPost || r.path != "/v3/contacts/attributes/normal/HAS_GMAIL" {
		t.Errorf("request = %s %s, want POST /v3/contacts/attributes/normal/HAS_GMAIL", r.method, r.path)
	}
	if got, want := string(r.body), `{"type":"boolean"}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	if got := r.header.Get("content-type"); got != "application/json" {
		t.Errorf("content-type = %q, want application/json", got)
	}
}
