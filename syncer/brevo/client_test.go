package brevo_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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
		{Name: "GENDER", Category: "category", Type: "text", Enumeration: []brevo.EnumValue{{Value: 1, Label: "Men"}}},
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
