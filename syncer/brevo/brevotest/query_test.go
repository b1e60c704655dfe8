package brevotest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// listed is a contact of the GET /contacts answer.
type listed struct {
	ID               int64
	Email            string
	EmailBlacklisted bool
	SMSBlacklisted   bool
	CreatedAt        string
	ModifiedAt       string
	ListIDs          []int64
	Attributes       map[string]any
}

// listContacts sends GET /contacts?query and decodes a 200.
func listContacts(t *testing.T, s *brevotest.Server, query string) ([]listed, int) {
	t.Helper()
	r := call(t, s, http.MethodGet, "/contacts?"+query, testKey, "")
	if r.status != 200 {
		t.Fatalf("GET /contacts?%s = %d %s", query, r.status, r.body)
	}
	var out struct {
		Contacts []listed
		Count    int
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		t.Fatalf("GET /contacts body %s: %v", r.body, err)
	}
	return out.Contacts, out.Count
}

func emails(cs []listed) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Email
	}
	return out
}

func TestListContacts(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	if cs, n := listContacts(t, s, ""); len(cs) != 0 || n != 0 {
		t.Errorf("empty account lists %v, count %d", cs, n)
	}
	upsert(t, s, `{"email":"a@example.com","attributes":{"FIRSTNAME":"A"},"listIds":[2],"updateEnabled":true}`)
	upsert(t, s, `{"email":"b@example.com","smsBlacklisted":true,"updateEnabled":true}`)
	upsert(t, s, `{"email":"c@example.com","updateEnabled":true}`)
	put(t, s, "a@example.com", `{"attributes":{"LASTNAME":"Z"}}`) // a is now the most recent

	cs, n := listContacts(t, s, "")
	if diff := cmp.Diff([]string{"a@example.com", "c@example.com", "b@example.com"}, emails(cs)); diff != "" || n != 3 {
		t.Errorf("default order (newest first) mismatch, count %d (-want +got):\n%s", n, diff)
	}
	ms := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	a := cs[0]
	if a.ID != 1 || !ms.MatchString(a.CreatedAt) || !ms.MatchString(a.ModifiedAt) || a.ModifiedAt < a.CreatedAt ||
		len(a.ListIDs) != 1 || a.Attributes["FIRSTNAME"] != "A" || a.Attributes["LASTNAME"] != "Z" {
		t.Errorf("listed a = %+v", a)
	}
	if b := cs[2]; !b.SMSBlacklisted || b.EmailBlacklisted || b.ListIDs == nil {
		t.Errorf("listed b = %+v, want SMS blocklisted and an empty listIds", b)
	}

	cs, _ = listContacts(t, s, "sort=asc")
	if diff := cmp.Diff([]string{"b@example.com", "c@example.com", "a@example.com"}, emails(cs)); diff != "" {
		t.Errorf("sort=asc mismatch (-want +got):\n%s", diff)
	}
	cs, n = listContacts(t, s, "sort=asc&limit=1&offset=1")
	if diff := cmp.Diff([]string{"c@example.com"}, emails(cs)); diff != "" || n != 3 {
		t.Errorf("limit=1&offset=1 mismatch, count %d (-want +got):\n%s", n, diff)
	}
	if cs, n = listContacts(t, s, "offset=10"); len(cs) != 0 || n != 3 {
		t.Errorf("offset past the end = %v, count %d; want none of 3", emails(cs), n)
	}

	// modifiedSince keeps contacts modified at or after it: a's own
	// modifiedAt (milliseconds) includes a; a millisecond after it, only
	// what changes later.
	if cs, _ = listContacts(t, s, "modifiedSince="+url.QueryEscape(a.ModifiedAt)); len(cs) < 1 || cs[0].Email != "a@example.com" {
		t.Errorf("modifiedSince=a's modifiedAt = %v, want a included", emails(cs))
	}
	aAt, err := time.Parse(time.RFC3339Nano, a.ModifiedAt)
	if err != nil {
		t.Fatal(err)
	}
	cut := aAt.Add(time.Millisecond)
	for time.Now().Before(cut.Add(time.Millisecond)) { // let the clock pass cut
		runtime.Gosched()
	}
	put(t, s, "b@example.com", `{"listIds":[4]}`)
	cs, n = listContacts(t, s, "modifiedSince="+url.QueryEscape(cut.UTC().Format("2006-01-02T15:04:05.000Z")))
	if diff := cmp.Diff([]string{"b@example.com"}, emails(cs)); diff != "" || n != 1 {
		t.Errorf("modifiedSince after a's change mismatch, count %d (-want +got):\n%s", n, diff)
	}
}

func TestListContactsParameters(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	for i := range 60 {
		upsert(t, s, `{"email":"u`+string(rune('a'+i/26))+string(rune('a'+i%26))+`@example.com","updateEnabled":true}`)
	}
	if cs, n := listContacts(t, s, ""); len(cs) != 50 || n != 60 {
		t.Errorf("default page = %d contacts of %d, want 50 of 60", len(cs), n)
	}
	if cs, _ := listContacts(t, s, "limit=1000"); len(cs) != 60 {
		t.Errorf("limit=1000 = %d contacts, want 60", len(cs))
	}
	wantError(t, call(t, s, http.MethodGet, "/contacts?limit=1001", testKey, ""), 400, "out_of_range")
	for _, q := range []string{"limit=x", "limit=-1", "offset=-1", "sort=up", "modifiedSince=yesterday", "createdSince=2026-01-01T00:00:00.000Z"} {
		wantError(t, call(t, s, http.MethodGet, "/contacts?"+q, testKey, ""), 400, "invalid_parameter")
	}
}
