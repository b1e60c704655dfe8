package brevotest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

func TestUpsertCreatesThenUpdates(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{APIKey: testKey})

	r := upsert(t, s, `{"email":" Ann@Example.COM ","attributes":{"FIRSTNAME":"Ann","SMS":"+33612345678"},"listIds":[3],"updateEnabled":true}`)
	if r.status != 201 || r.body != `{"id":1}` {
		t.Fatalf("first upsert = %d %s, want 201 {\"id\":1}", r.status, r.body)
	}
	r = upsert(t, s, `{"email":"ann@example.com","attributes":{"FIRSTNAME":"Anna","HAS_GMAIL":true},"listIds":[3,5],"updateEnabled":true}`)
	if r.status != 204 || r.body != "" {
		t.Fatalf("second upsert = %d %q, want 204 with no body", r.status, r.body)
	}
	if r := upsert(t, s, `{"email":"bob@example.com","updateEnabled":true}`); r.body != `{"id":2}` {
		t.Fatalf("upsert of a second email = %d %s, want {\"id\":2}", r.status, r.body)
	}

	want := []brevotest.Contact{
		{
			ID: 1, Email: "ann@example.com", Upserts: 2, ListIDs: []int64{3, 5},
			Attributes: map[string]any{"FIRSTNAME": "Anna", "SMS": "+33612345678", "HAS_GMAIL": true},
		},
		{ID: 2, Email: "bob@example.com", Upserts: 1, Attributes: map[string]any{}},
	}
	if diff := cmp.Diff(want, s.Contacts()); diff != "" {
		t.Errorf("Contacts mismatch (-want +got):\n%s", diff)
	}
	got, ok := s.Contact("ANN@example.com")
	if !ok {
		t.Fatal("Contact(ANN@example.com) not found")
	}
	if diff := cmp.Diff(want[0], got); diff != "" {
		t.Errorf("Contact mismatch (-want +got):\n%s", diff)
	}
	got.Attributes["FIRSTNAME"] = "changed"
	if again, _ := s.Contact("ann@example.com"); again.Attributes["FIRSTNAME"] != "Anna" {
		t.Error("changing a returned Contact changed the server's")
	}
	if _, ok := s.Contact("nobody@example.com"); ok {
		t.Error("Contact(nobody) found")
	}

	wantError(t, upsert(t, s, `{"email":"ann@example.com"}`), 400, "duplicate_parameter")
}

func TestUpsertValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body string
		code string // "" for success
	}{
		{`{"email":"plain","updateEnabled":true}`, "invalid_parameter"},
		{`{"email":"a@b@example.com","updateEnabled":true}`, "invalid_parameter"},
		{`{"email":"@example.com","updateEnabled":true}`, "invalid_parameter"},
		{`{"email":"a@","updateEnabled":true}`, "invalid_parameter"},
		{`{"email":"a b@example.com","updateEnabled":true}`, "invalid_parameter"},
		{`{"email":"a@localhost","updateEnabled":true}`, "invalid_parameter"},
		{`{"email":"a@.example","updateEnabled":true}`, "invalid_parameter"},
		{`{"email":"","updateEnabled":true}`, "missing_parameter"},
		{`{"updateEnabled":true}`, "missing_parameter"},
		{`{"email":"a@example.com",`, "bad_request"},
		{`[]`, "bad_request"},
		{`{"email":"a@example.com","listIds":["x"]}`, "bad_request"},
		{`{"email":"s1@example.com","attributes":{"SMS":"12345"}}`, "invalid_parameter"},
		{`{"email":"s2@example.com","attributes":{"SMS":"+33 6 12 34 56 78"}}`, "invalid_parameter"},
		{`{"email":"s3@example.com","attributes":{"SMS":"phone"}}`, "invalid_parameter"},
		{`{"email":"s4@example.com","attributes":{"SMS":"123456789012345678"}}`, "invalid_parameter"},
		{`{"email":"s5@example.com","attributes":{"SMS":"++33612345678"}}`, "invalid_parameter"},
		{`{"email":"s6@example.com","attributes":{"SMS":true}}`, "invalid_parameter"},
		{`{"email":"ok1@example.com","attributes":{"SMS":"+33612345678"}}`, ""},
		{`{"email":"ok2@example.com","attributes":{"SMS":"123456"}}`, ""},
		{`{"email":"ok3@example.com","attributes":{"SMS":"12345678901234567"}}`, ""},
		{`{"email":"ok4@example.com","attributes":{"SMS":33612345679}}`, ""}, // not ok1's number: SMS is unique
		{`{"email":"ok5@example.com","attributes":{"SMS":null}}`, ""},
		{`{"email":"first.last+tag@mail.example.co.uk"}`, ""},
	}
	s := brevotest.New(t, brevotest.Config{})
	for _, tt := range tests {
		r := upsert(t, s, tt.body)
		if tt.code == "" {
			if r.status != 201 {
				t.Errorf("upsert %s = %d %s, want 201", tt.body, r.status, r.body)
			}
			continue
		}
		var e struct{ Code string }
		_ = json.Unmarshal([]byte(r.body), &e)
		if r.status != 400 || e.Code != tt.code {
			t.Errorf("upsert %s = %d %s, want 400 %s", tt.body, r.status, r.body, tt.code)
		}
	}
	if got, want := len(s.Contacts()), 6; got != want {
		t.Errorf("%d contacts created, want %d (rejected upserts create none)", got, want)
	}
}

func TestRateLimitHeaders(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	for _, r := range []reply{
		upsert(t, s, `{"email":"a@example.com","updateEnabled":true}`),
		upsert(t, s, `{"email":"bad"}`),
		call(t, s, http.MethodPost, "/contacts", "", `{"email":"a@example.com"}`),
	} {
		if r.header.Get("x-sib-ratelimit-limit") != "1000000" ||
			r.header.Get("x-sib-ratelimit-remaining") == "" ||
			r.header.Get("x-sib-ratelimit-reset") != "0" {
			t.Errorf("answer %d has rate-limit headers %v, want a large limit and reset 0", r.status, r.header)
		}
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{RateLimit: 1})
	first := upsert(t, s, `{"email":"a@example.com","updateEnabled":true}`)
	if first.status != 201 {
		t.Fatalf("first upsert = %d, want 201", first.status)
	}
	if got := first.header.Get("x-sib-ratelimit-limit") + "/" + first.header.Get("x-sib-ratelimit-remaining"); got != "1/0" {
		t.Errorf("first upsert limit/remaining = %s, want 1/0", got)
	}
	second := upsert(t, s, `{"email":"b@example.com","updateEnabled":true}`)
	wantError(t, second, 429, "too_many_requests")
	if got := second.header.Get("x-sib-ratelimit-reset"); got != "1" {
		t.Errorf("429 x-sib-ratelimit-reset = %q, want 1", got)
	}
	if _, ok := s.Contact("b@example.com"); ok {
		t.Error("a rate-limited upsert created its contact")
	}
	st := s.Stats()
	if st.RateLimited != 1 || st.ByStatus[429] != 1 {
		t.Errorf("Stats = %+v, want 1 rate limited", st)
	}
	if log := s.UpsertsFor("b@example.com"); len(log) != 1 || log[0].Status != 429 {
		t.Errorf("log for the limited upsert = %+v, want one 429", log)
	}

	s.SetRateLimit(0)
	if r := upsert(t, s, `{"email":"b@example.com","updateEnabled":true}`); r.status != 201 {
		t.Errorf("upsert with the limit off = %d, want 201", r.status)
	}
}

func TestGetContact(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	upsert(t, s, `{"email":"a+tag@example.com","attributes":{"FIRSTNAME":"A"},"listIds":[4],"updateEnabled":true}`)
	for _, ident := range []string{url.PathEscape("A+Tag@example.com"), "1"} {
		r := call(t, s, http.MethodGet, "/contacts/"+ident, testKey, "")
		if r.status != 200 {
			t.Fatalf("GET /contacts/%s = %d %s", ident, r.status, r.body)
		}
		var got struct {
			Email            string
			ID               int64
			EmailBlacklisted bool
			Attributes       map[string]any
			ListIDs          []int64
		}
		if err := json.Unmarshal([]byte(r.body), &got); err != nil {
			t.Fatal(err)
		}
		if got.Email != "a+tag@example.com" || got.ID != 1 || got.Attributes["FIRSTNAME"] != "A" || len(got.ListIDs) != 1 {
			t.Errorf("GET /contacts/%s = %s", ident, r.body)
		}
	}
	wantError(t, call(t, s, http.MethodGet, "/contacts/nobody@example.com", testKey, ""), 404, "document_not_found")
	wantError(t, call(t, s, http.MethodGet, "/contacts/99", testKey, ""), 404, "document_not_found")
}

func TestAttributes(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	if r := call(t, s, http.MethodPost, "/contacts/attributes/normal/has_gmail", testKey, `{"type":"boolean"}`); r.status != 201 {
		t.Fatalf("create attribute = %d %s, want 201", r.status, r.body)
	}
	wantError(t, call(t, s, http.MethodPost, "/contacts/attributes/normal/HAS_GMAIL", testKey, `{"type":"boolean"}`), 400, "duplicate_parameter")
	wantError(t, call(t, s, http.MethodPost, "/contacts/attributes/normal/X", testKey, `{"type":"colour"}`), 400, "invalid_parameter")
	wantError(t, call(t, s, http.MethodPost, "/contacts/attributes/bogus/X", testKey, `{"type":"text"}`), 400, "invalid_parameter")
	wantError(t, call(t, s, http.MethodPost, "/contacts/attributes/normal/X", testKey, `{`), 400, "bad_request")

	r := call(t, s, http.MethodGet, "/contacts/attributes", testKey, "")
	var got struct{ Attributes []brevotest.Attribute }
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatalf("GET /contacts/attributes = %d %s: %v", r.status, r.body, err)
	}
	want := []brevotest.Attribute{
		{Name: "FIRSTNAME", Category: "normal", Type: "text"},
		{Name: "LASTNAME", Category: "normal", Type: "text"},
		{Name: "EMAIL", Category: "normal", Type: "text"},
		{Name: "SMS", Category: "normal", Type: "text"},
		{Name: "HAS_GMAIL", Category: "normal", Type: "boolean"},
	}
	if diff := cmp.Diff(want, got.Attributes); diff != "" {
		t.Errorf("attributes mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, s.Attributes()); diff != "" {
		t.Errorf("Attributes() mismatch (-want +got):\n%s", diff)
	}

	custom := brevotest.New(t, brevotest.Config{Attributes: []brevotest.Attribute{{Name: "NOM", Category: "normal", Type: "text"}}})
	if got := custom.Attributes(); len(got) != 1 || got[0].Name != "NOM" {
		t.Errorf("Attributes() with Config.Attributes = %+v, want just NOM", got)
	}
}

func TestConcurrentUpserts(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	const workers, each = 8, 50
	var wg sync.WaitGroup
	failed := make(chan int, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				// Every worker upserts the same emails: creates and updates race.
				st := post(s, fmt.Sprintf(`{"email":"c%d@example.com","attributes":{"W":%d},"updateEnabled":true}`, i, w))
				if st != 201 && st != 204 {
					failed <- st
				}
			}
		})
	}
	wg.Wait()
	close(failed)
	for st := range failed {
		t.Errorf("concurrent upsert = %d, want 201 or 204", st)
	}
	st := s.Stats()
	if st.Upserts != workers*each || st.Created != each || st.Updated != workers*each-each {
		t.Errorf("Stats = %+v, want %d upserts, %d created", st, workers*each, each)
	}
	for i, c := range s.Contacts() {
		if c.ID != int64(i+1) || c.Upserts != workers {
			t.Errorf("contact %d = %+v, want id %d with %d upserts", i, c, i+1, workers)
		}
	}
}
