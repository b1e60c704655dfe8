package console_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brevosync/brevosync/syncer/operator"
	"github.com/brevosync/brevosync/webhook/console"
)

// routes are every route of the API and the page, with a valid request.
var routes = []struct{ method, path, body string }{
	{"GET", "/api/v1/status", ""},
	{"POST", "/api/v1/select", `{"emails": ["nobody@example.com"]}`},
	{"POST", "/api/v1/unselect", `{"emails": ["nobody@example.com"]}`},
	{"POST", "/api/v1/retry", `{"all": true}`},
	{"GET", "/api/v1/failures", ""},
	{"GET", "/api/v1/contacts/00000000-0000-4000-8000-000000000000", ""},
	{"POST", "/api/v1/credentials/test", `{}`},
	{"GET", "/api/v1/config", ""},
	{"GET", "/ui/", ""},
	{"GET", "/ui/app.js", ""},
	{"GET", "/api/v1/nothing-here", ""},
}

func TestAuth(t *testing.T) {
	t.Parallel()
	b := newBundle(t, bundleOpts{})
	basic := func(user, pw string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
	}
	refused := []struct{ name, auth string }{
		{"none", ""},
		{"wrong bearer", "Bearer not-the-token"},
		{"wrong basic", basic("operator", "not-the-token")},
		{"token as basic user", basic(token, "")},
		{"token prefix", "Bearer " + token[:len(token)-1]},
		{"bearer without token", "Bearer "},
		{"other scheme", "Token " + token},
		{"no scheme", token},
	}
	for _, r := range routes {
		for _, a := range refused {
			got := b.do(t, r.method, r.path, a.auth, "application/json", r.body)
			if got.code != http.StatusUnauthorized || got.header.Get("WWW-Authenticate") != `Basic realm="brevosync console", charset="UTF-8"` ||
				!strings.Contains(got.str("error"), "unauthorized") {
				t.Errorf("%s %s with %s credentials: %d %q %s; want 401 with a Basic challenge", r.method, r.path, a.name,
					got.code, got.header.Get("WWW-Authenticate"), got.body)
			}
		}
		for _, auth := range []string{"bearer", "basic", basic("", token), "bearer " + token} {
			got := b.do(t, r.method, r.path, auth, "application/json", r.body)
			want := http.StatusOK
			switch {
			case strings.Contains(r.path, "nothing-here"), strings.Contains(r.path, "/contacts/"):
				want = http.StatusNotFound
			}
			if got.code != want {
				t.Errorf("%s %s with %s: %d %s, want %d", r.method, r.path, auth, got.code, got.body, want)
			}
		}
	}
	// The token is never taken from the URL.
	if got := b.do(t, "GET", "/api/v1/status?token="+token, "", "", ""); got.code != http.StatusUnauthorized {
		t.Errorf("token in the query: %d, want 401", got.code)
	}
	// Unknown routes are 404 JSON once authenticated, methods 405 JSON.
	if got := b.get(t, "/api/v1/nothing-here"); got.str("error") != "not found" {
		t.Errorf("unknown route: %d %s", got.code, got.body)
	}
	if got := b.do(t, "DELETE", "/api/v1/status", "bearer", "", ""); got.code != http.StatusMethodNotAllowed || got.str("error") == "" {
		t.Errorf("DELETE status: %d %s, want 405 JSON", got.code, got.body)
	}
	// GET / redirects to the console, without credentials.
	if got := b.do(t, "GET", "/", "", "", ""); got.code != http.StatusFound || got.header.Get("Location") != "/ui/" {
		t.Errorf("GET /: %d %q, want 302 to /ui/", got.code, got.header.Get("Location"))
	}
}

func TestDisabledWithoutToken(t *testing.T) {
	t.Parallel()
	b := newBundle(t, bundleOpts{token: "-"})
	for _, r := range routes {
		for _, auth := range []string{"", "Bearer ", "basic"} {
			got := b.do(t, r.method, r.path, auth, "application/json", r.body)
			if got.code != http.StatusServiceUnavailable || !strings.Contains(got.str("error"), "set BREVO_SYNC_ADMIN_TOKEN") {
				t.Errorf("%s %s with no token configured: %d %s; want 503 saying how to enable it", r.method, r.path, got.code, got.body)
			}
		}
	}
}

func TestPostNeedsJSON(t *testing.T) {
	t.Parallel()
	b := newBundle(t, bundleOpts{})
	id := b.insert(t, "ada@example.com", "New", "", "")
	for _, r := range routes {
		if r.method != "POST" {
			continue
		}
		for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
			got := b.do(t, "POST", r.path, "bearer", ct, r.body)
			if got.code != http.StatusUnsupportedMediaType || got.str("field") != "Content-Type" {
				t.Errorf("POST %s as %q: %d %s, want 415 naming Content-Type", r.path, ct, got.code, got.body)
			}
		}
		if got := b.do(t, "POST", r.path, "bearer", "application/json; charset=utf-8", r.body); got.code != http.StatusOK {
			t.Errorf("POST %s as application/json; charset=utf-8: %d %s", r.path, got.code, got.body)
		}
	}
	// A cross-site POST is refused even with credentials and JSON.
	req, _ := http.NewRequestWithContext(t.Context(), "POST", b.srv.URL+"/api/v1/select", strings.NewReader(`{"ids": ["`+id+`"]}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || b.state(t, id) != "New/NULL" {
		t.Errorf("cross-site POST: %s, contact %s; want 403 and nothing selected", res.Status, b.state(t, id))
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	b := newBundle(t, bundleOpts{})
	b.insert(t, "ada@example.com", "Selected", "Queued", "")
	b.insert(t, "bob@example.com", "Error", "Error", "rejected by Brevo: 400 invalid_parameter: Invalid phone number")
	got := b.get(t, "/api/v1/status")
	var ans struct {
		operator.Report
		Live *struct {
			ListenerConnected bool   `json:"listener_connected"`
			Paused            bool   `json:"paused"`
			PausedReason      string `json:"paused_reason"`
		} `json:"live"`
	}
	decode(t, got, &ans)
	counts := map[string]int64{}
	for _, s := range ans.States {
		counts[s.Name] += s.Count
	}
	if ans.Total != 2 || counts["Waiting"] != 1 || counts["Failed"] != 1 || len(ans.Errors) != 1 ||
		ans.Errors[0].Cause != "400 invalid_parameter: Invalid phone number" || !ans.Schema.Migrated {
		t.Errorf("status = %s", got.body)
	}
	if ans.Live == nil || !ans.Live.ListenerConnected || !ans.Live.Paused || ans.Live.PausedReason != "Brevo refuses the API key" {
		t.Errorf("status live = %+v, want the process's Live", ans.Live)
	}
	// Every member of `status --json` is there, and "live".
	for _, k := range []string{"generated_at", "schema", "total", "states", "oldest_waiting", "retries",
		"contacts_with_error", "errors", "webhooks", "replicas", "live"} {
		if _, ok := got.json[k]; !ok {
			t.Errorf("status lacks %q: %s", k, got.body)
		}
	}
	until := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	b.setLive(func(l *console.Live) {
		l.PausedReason, l.PausedUntil = "rate limited by Brevo", until
		l.Imports = []console.Import{{ID: "77", Contacts: 5000, Status: "in_process", StartedAt: until}}
	})
	live := b.get(t, "/api/v1/status").json["live"].(map[string]any)
	if live["paused_until"] != "2026-12-01T10:00:00Z" || len(live["imports"].([]any)) != 1 {
		t.Errorf("status live = %v, want the pause's end and the import", live)
	}
	if nb := newBundle(t, bundleOpts{noLive: true}); nb.get(t, "/api/v1/status").json["live"] != nil {
		t.Error("status without Config.Live: want live null")
	}
}

func TestSelectAndUnselect(t *testing.T) {
	t.Parallel()
	b := newBundle(t, bundleOpts{})
	ada := b.insert(t, "Ada@Example.com", "New", "", "")
	grace := b.insert(t, "grace@example.com", "Complete", "Complete", "")
	waiting := b.insert(t, "waiting@example.com", "Selected", "Queued", "")

	got := b.post(t, "/api/v1/select", fmt.Sprintf(`{"ids": [%q, %q], "emails": [" ADA@example.com", "nobody@example.com"]}`,
		strings.ToUpper(grace), waiting))
	want := map[string]any{"selected": 2.0, "already_waiting": 1.0, "unknown": []any{"nobody@example.com"}}
	if got.code != http.StatusOK || !cmp.Equal(want, got.json) {
		t.Errorf("select = %d %s, want %v", got.code, got.body, want)
	}
	for _, id := range []string{ada, grace, waiting} {
		if s := b.state(t, id); s != "Selected/Queued" {
			t.Errorf("contact %s = %s after select", id, s)
		}
	}
	got = b.post(t, "/api/v1/unselect", fmt.Sprintf(`{"ids": [%q], "emails": ["ada@example.com", "ghost@example.com"]}`, grace))
	want = map[string]any{"unselected": 2.0, "unknown": []any{"ghost@example.com"}}
	if got.code != http.StatusOK || !cmp.Equal(want, got.json) {
		t.Errorf("unselect = %d %s, want %v", got.code, got.body, want)
	}
	if s := b.state(t, ada) + " " + b.state(t, grace) + " " + b.state(t, waiting); s != "New/NULL New/NULL Selected/Queued" {
		t.Errorf("after unselect: %s", s)
	}
	got = b.post(t, "/api/v1/select", `{"emails": ["nobody@example.com"]}`)
	if got.code != http.StatusOK || fmt.Sprint(got.json["unknown"]) != "[nobody@example.com]" || got.json["selected"] != 0.0 {
		t.Errorf("select of nobody = %s", got.body)
	}
}

func TestBadInputNamesTheField(t *testing.T) {
	t.Parallel()
	b := newBundle(t, bundleOpts{})
	b.insert(t, "ada@example.com", "New", "", "")
	b.insert(t, "bob@example.com", "Error", "Error", "rejected by Brevo: 400")
	before := b.snapshot(t)
	tests := []struct {
		path, body, field, msg string
	}{
		{"select", `[]`, "", "one JSON object"},
		{"select", `{"ids": [`, "", "one JSON object"},
		{"select", `{} {}`, "", "nothing after it"},
		{"select", `{}`, "ids", `give {"ids": [...]} or {"emails": [...]}`},
		{"select", `{"ids": []}`, "ids", "is empty"},
		{"select", `{"contacts": ["ada@example.com"]}`, "contacts", "unknown field"},
		{"select", `{"ids": "4b3f0c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"}`, "ids", "must be an array of strings"},
		{"select", `{"emails": ["ada@example.com", 7]}`, "emails[1]", "must be a string"},
		{"select", `{"ids": ["ada@example.com"]}`, "ids[0]", "is not a contact id"},
		{"select", `{"emails": ["ada@example.com", "bob@example.com", "not an email"]}`, "emails[2]", "is not an email"},
		{"select", `{"emails": ["ada@example.com", "bad\u0000@example.com"]}`, "emails[1]", "contains a NUL byte"},
		{"unselect", `{"emails": ["ada@example.com", "x"], "ids": ["nope"]}`, "ids[0]", "and 1 more invalid item"},
		{"retry", `{}`, "ids", "say which contacts to retry"},
		{"retry", `{"all": "yes"}`, "all", "must be true or false"},
		{"retry", `{"all": true, "ids": []}`, "all", "not both"},
		{"retry", `{"ids": []}`, "ids", "is empty"},
		{"retry", `{"ids": ["00000000-0000-4000-8000-000000000000", "bob"]}`, "ids[1]", "is not a contact id"},
		{"retry", `{"emails": ["bob@example.com"]}`, "emails", "unknown field"},
		{"credentials/test", `{"key": "x"}`, "key", "unknown field"},
	}
	for _, tt := range tests {
		got := b.post(t, "/api/v1/"+tt.path, tt.body)
		if got.code != http.StatusBadRequest || got.str("field") != tt.field || !strings.Contains(got.str("error"), tt.msg) {
			t.Errorf("POST %s %s = %d %s; want 400 naming %q with %q", tt.path, tt.body, got.code, got.body, tt.field, tt.msg)
		}
	}
	// Every bad item is listed, with its field, value and reason.
	got := b.post(t, "/api/v1/select", `{"emails": ["ada@example.com", "x", "y"], "ids": ["z"]}`)
	var ans struct {
		Invalid []struct{ Field, Value, Reason string }
		Count   int `json:"invalid_count"`
	}
	decode(t, got, &ans)
	var fields []string
	for _, i := range ans.Invalid {
		fields = append(fields, i.Field+"="+i.Value)
	}
	if ans.Count != 3 || !slices.Equal(fields, []string{"ids[0]=z", "emails[1]=x", "emails[2]=y"}) {
		t.Errorf("select with three bad items: %s", got.body)
	}
	for _, q := range []string{"0", "-1", "abc", "10001", "1.5"} {
		got := b.get(t, "/api/v1/failures?limit="+q)
		if got.code != http.StatusBadRequest || got.str("field") != "limit" {
			t.Errorf("failures?limit=%s = %d %s, want 400 naming limit", q, got.code, got.body)
		}
	}
	if got := b.get(t, "/api/v1/contacts/not-a-uuid"); got.code != http.StatusBadRequest || got.str("field") != "id" {
		t.Errorf("contacts/not-a-uuid = %d %s, want 400 naming id", got.code, got.body)
	}
	big := `{"emails": ["` + strings.Repeat("a", 9<<20) + `@example.com"]}`
	if got := b.post(t, "/api/v1/select", big); got.code != http.StatusRequestEntityTooLarge {
		t.Errorf("select of 9 MiB = %d, want 413", got.code)
	}
	if after := b.snapshot(t); after != before {
		t.Errorf("bad input changed rows:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestRetry(t *testing.T) {
	t.Parallel()
	b := newBundle(t, bundleOpts{})
	f1 := b.insert(t, "f1@example.com", "Error", "Error", "rejected by Brevo: 400")
	f2 := b.insert(t, "f2@example.com", "Selected", "Error", "gave up after 4 attempts: 502")
	f3 := b.insert(t, "f3@example.com", "Error", "Error", "rejected by Brevo: 400")
	done := b.insert(t, "done@example.com", "Complete", "Complete", "")
	got := b.post(t, "/api/v1/retry", fmt.Sprintf(`{"ids": [%q, %q, "00000000-0000-4000-8000-000000000000"]}`, f1, done))
	if got.code != http.StatusOK || !cmp.Equal(map[string]any{"retried": 1.0}, got.json) {
		t.Errorf("retry ids = %d %s, want retried 1", got.code, got.body)
	}
	if b.state(t, f1) != "Selected/Queued" || b.state(t, done) != "Complete/Complete" {
		t.Errorf("after retry: %s, %s", b.state(t, f1), b.state(t, done))
	}
	got = b.post(t, "/api/v1/retry", `{"all": true}`)
	if got.code != http.StatusOK || got.json["retried"] != 2.0 || b.state(t, f2) != "Selected/Queued" || b.state(t, f3) != "Selected/Queued" {
		t.Errorf("retry all = %d %s", got.code, got.body)
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	b := newBundle(t, bundleOpts{})
	for i := range 3 {
		b.insert(t, fmt.Sprintf("phone%d@example.com", i), "Error", "Error", "rejected by Brevo: 400 invalid_parameter: Invalid phone number")
	}
	gone := b.insert(t, "gone@example.com", "Error", "Error", "gave up after 4 attempts: 502 Bad Gateway")
	b.insert(t, "later@example.com", "Queued", "Error", "attempt 1 failed, retrying: 502 Bad Gateway")

	var ans operator.FailuresResult
	decode(t, b.get(t, "/api/v1/failures"), &ans)
	if len(ans.Failures) != 4 || ans.More {
		t.Errorf("failures = %+v, want the 4 Failed", ans)
	}
	decode(t, b.get(t, "/api/v1/failures?cause="+strings.ReplaceAll("502 Bad Gateway", " ", "%20")), &ans)
	if len(ans.Failures) != 1 || ans.Failures[0].ID != gone || ans.Failures[0].Email != "gone@example.com" ||
		ans.Failures[0].Error != "gave up after 4 attempts: 502 Bad Gateway" || ans.Failures[0].Cause != "502 Bad Gateway" {
		t.Errorf("failures?cause=502 = %+v", ans)
	}
	got := b.get(t, "/api/v1/failures?limit=2")
	decode(t, got, &ans)
	if len(ans.Failures) != 2 || !ans.More {
		t.Errorf("failures?limit=2 = %s", got.body)
	}
	f := got.json["failures"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "email", "state", "sync_status", "processing_status", "error", "cause", "retry_count", "failed_at"} {
		if _, ok := f[k]; !ok {
			t.Errorf("a failure lacks %q: %v", k, f)
		}
	}
}

func TestContact(t *testing.T) {
	t.Parallel()
	b := newBundle(t, bundleOpts{})
	id := b.insert(t, "Ada@Example.com", "Complete", "Complete", "")
	b.exec(t, `UPDATE contacts SET brevo_contact_id = '42', brevo_synced_at = now() WHERE id = $1`, id)
	b.postEvent(t, `{"event": "list_addition", "email": "ada@example.com", "list_id": [3], "ts": 1700000000}`)
	b.postEvent(t, `{"event": "unsubscribed", "email": "ADA@example.com", "ts": 1700000100}`)

	got := b.get(t, "/api/v1/contacts/"+strings.ToUpper(id))
	if got.code != http.StatusOK || got.str("id") != id || got.str("email") != "Ada@Example.com" ||
		got.str("state") != "Complete (Complete/Complete)" {
		t.Fatalf("contact = %d %s", got.code, got.body)
	}
	cols := got.json["columns"].(map[string]any)
	if cols["brevo_contact_id"] != "42" || cols["brevo_synced_at"] == nil || cols["brevo_unsubscribed_at"] == nil {
		t.Errorf("contact columns = %v", cols)
	}
	for k := range cols {
		if !strings.HasPrefix(k, "brevo_") {
			t.Errorf("contact columns hold %s", k)
		}
	}
	events, _ := got.json["events"].([]any)
	if len(events) != 2 || events[0].(map[string]any)["event"] != "unsubscribed" || events[1].(map[string]any)["event"] != "list_addition" {
		t.Errorf("contact events = %v, want unsubscribed then list_addition", got.json["events"])
	}
	if got := b.get(t, "/api/v1/contacts/00000000-0000-4000-8000-000000000000"); got.code != http.StatusNotFound || got.str("field") != "id" {
		t.Errorf("unknown contact = %d %s", got.code, got.body)
	}
}

func TestCredentialsAndConfig(t *testing.T) {
	t.Parallel()
	b := newBundle(t, bundleOpts{})
	want := map[string]any{"ok": true, "account": "ops@example.com (Example Ltd)", "error": ""}
	if got := b.post(t, "/api/v1/credentials/test", ""); !cmp.Equal(want, got.json) {
		t.Errorf("credentials test = %s, want %v", got.body, want)
	}
	b.probeOK.Store(false)
	want = map[string]any{"ok": false, "account": "", "error": "brevo: 401 unauthorized: Key not found"}
	if got := b.post(t, "/api/v1/credentials/test", "{}"); !cmp.Equal(want, got.json) {
		t.Errorf("credentials test = %s, want %v", got.body, want)
	}
	got := b.get(t, "/api/v1/config")
	if !cmp.Equal(map[string]any{"BREVO_API_KEY": "[redacted]", "BREVO_SYNC_BATCH_SIZE": 100.0}, got.json) {
		t.Errorf("config = %s", got.body)
	}
}

func TestPageHeaders(t *testing.T) {
	t.Parallel()
	b := newBundle(t, bundleOpts{})
	for path, ctype := range map[string]string{"/ui/": "text/html", "/ui/app.js": "text/javascript", "/ui/style.css": "text/css"} {
		got := b.do(t, "GET", path, "basic", "", "")
		h := got.header
		if got.code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), ctype) {
			t.Errorf("GET %s = %d %s", path, got.code, h.Get("Content-Type"))
		}
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s headers: %v", path, h)
		}
	}
	page := string(b.do(t, "GET", "/ui/", "basic", "", "").body)
	if !strings.Contains(page, `<script src="app.js" defer></script>`) || strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Errorf("the page loads something from elsewhere, or no script:\n%s", page)
	}
	if got := b.do(t, "GET", "/ui/missing.js", "basic", "", ""); got.code != http.StatusNotFound {
		t.Errorf("GET /ui/missing.js = %d", got.code)
	}
	if got := b.do(t, "GET", "/ui", "basic", "", ""); got.code != http.StatusFound {
		t.Errorf("GET /ui = %d, want a redirect", got.code)
	}
}
