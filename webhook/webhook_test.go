package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/brevosync/brevosync/sql/schematest"
)

const testToken = "s3cret-token"

// testBundle is one handler over real HTTP on its own database.
type testBundle struct {
	pool *pgxpool.Pool
	srv  *httptest.Server
	reg  *prometheus.Registry
}

// setup starts a handler on a fresh migrated database. Options adjust the
// Config; a nil Pool in an option's result is replaced by the test's pool
// unless noPool is set.
func setup(t *testing.T, opts ...func(*Config)) *testBundle {
	t.Helper()
	b := &testBundle{pool: schematest.NewPool(t), reg: prometheus.NewRegistry()}
	cfg := Config{
		Pool:       b.pool,
		Logger:     slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Token:      testToken,
		Registerer: b.reg,
		Metrics:    promhttp.HandlerFor(b.reg, promhttp.HandlerOpts{}),
	}
	for _, o := range opts {
		o(&cfg)
	}
	b.srv = httptest.NewServer(NewHandler(cfg))
	t.Cleanup(b.srv.Close)
	return b
}

type response struct {
	code   int
	header http.Header
	body   string
}

// do sends a request; header values override, an empty value deletes.
func (b *testBundle) do(t *testing.T, method, path string, body []byte, header map[string]string) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, b.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return send(t, b.srv.Client(), req)
}

func send(t *testing.T, c *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(rb)}
}

// post delivers a webhook body with the right token.
func (b *testBundle) post(t *testing.T, body []byte) response {
	t.Helper()
	return b.do(t, http.MethodPost, "/webhooks/brevo", body, nil)
}

// mustPost delivers a body and requires 200.
func (b *testBundle) mustPost(t *testing.T, body []byte) response {
	t.Helper()
	r := b.post(t, body)
	if r.code != http.StatusOK {
		t.Fatalf("POST /webhooks/brevo = %d %s, want 200", r.code, r.body)
	}
	return r
}

// wantError checks a status and the short JSON error body.
func wantError(t *testing.T, what string, r response, code int) {
	t.Helper()
	if r.code != code {
		t.Errorf("%s: status %d (%s), want %d", what, r.code, r.body, code)
		return
	}
	var e map[string]string
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || e["error"] == "" || len(r.body) > 100 {
		t.Errorf("%s: body %q, want a short {\"error\": …}", what, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
}

// contact is the state of a contacts row the webhook touches.
type contact struct {
	SyncStatus     string
	Processing     *string
	ContactID      *string
	SyncedAt       *time.Time
	ConfirmedAt    *time.Time
	UnsubscribedAt *time.Time
}

// insertContact adds a contact that Brevo has (Complete, contact id 42,
// synced an hour ago) and returns its id.
func insertContact(t *testing.T, pool *pgxpool.Pool, email string) string {
	t.Helper()
	var id string
	err := pool.QueryRow(t.Context(), `
		INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status, brevo_contact_id, brevo_synced_at)
		VALUES ($1, 'Complete', 'Complete', '42', now() - interval '1 hour') RETURNING id`, email).Scan(&id)
	if err != nil {
		t.Fatalf("insert contact %s: %v", email, err)
	}
	return id
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func getContact(t *testing.T, pool *pgxpool.Pool, id string) contact {
	t.Helper()
	var c contact
	err := pool.QueryRow(t.Context(), `
		SELECT brevo_sync_status::text, brevo_processing_status::text, brevo_contact_id,
		       brevo_synced_at, brevo_confirmed_at, brevo_unsubscribed_at
		FROM contacts WHERE id = $1`, id).
		Scan(&c.SyncStatus, &c.Processing, &c.ContactID, &c.SyncedAt, &c.ConfirmedAt, &c.UnsubscribedAt)
	if err != nil {
		t.Fatalf("read contact %s: %v", id, err)
	}
	return c
}

// storedEvent is a brevosync_webhook_events row without its timestamps
// and payload.
type storedEvent struct {
	Event  string
	Item   int
	Email  *string
	Emails []string
	Effect string
}

func storedEvents(t *testing.T, pool *pgxpool.Pool) []storedEvent {
	t.Helper()
	rows, err := pool.Query(t.Context(),
		`SELECT event, item, email, emails, effect FROM brevosync_webhook_events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := []storedEvent{}
	for rows.Next() {
		var e storedEvent
		if err := rows.Scan(&e.Event, &e.Item, &e.Email, &e.Emails, &e.Effect); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func TestAuth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := readFixture(t, "spam.json")
	basic := func(user, pw string) string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(user, pw)
		return req.Header.Get("Authorization")
	}
	tests := []struct {
		name  string
		auth  string
		want  int
		extra map[string]string
	}{
		{"bearer", "Bearer " + testToken, 200, nil},
		{"bearer lower-case scheme", "bearer " + testToken, 200, nil},
		{"basic with a user name", basic("brevo", testToken), 200, nil},
		{"basic with another user name", basic("anything-at-all", testToken), 200, nil},
		{"basic with no user name", basic("", testToken), 200, nil},
		{"missing", "", 401, nil},
		{"wrong bearer token", "Bearer wrong-token", 401, nil},
		{"bearer token prefix", "Bearer " + testToken[:5], 401, nil},
		{"bearer token with suffix", "Bearer " + testToken + "x", 401, nil},
		{"empty bearer", "Bearer ", 401, nil},
		{"wrong basic password", basic("brevo", "wrong"), 401, nil},
		{"token as basic user name", basic(testToken, ""), 401, nil},
		{"malformed basic", "Basic !!!not-base64", 401, nil},
		{"wrong scheme", "Token " + testToken, 401, nil},
		{"bare token", testToken, 401, nil},
		{"token in another header", "", 401, map[string]string{"X-Api-Key": testToken}},
	}
	for _, tt := range tests {
		hdr := map[string]string{"Authorization": tt.auth}
		for k, v := range tt.extra {
			hdr[k] = v
		}
		r := b.do(t, http.MethodPost, "/webhooks/brevo", body, hdr)
		if tt.want == 200 {
			if r.code != 200 {
				t.Errorf("%s: status %d (%s), want 200", tt.name, r.code, r.body)
			}
			continue
		}
		wantError(t, tt.name, r, tt.want)
		if got := r.header.Get("WWW-Authenticate"); got != `Basic realm="brevosync"` {
			t.Errorf("%s: WWW-Authenticate %q", tt.name, got)
		}
	}

	// Brevo's "credentials in the webhook URL": the client sends them as
	// Basic auth.
	u, _ := url.Parse(b.srv.URL + "/webhooks/brevo")
	u.User = url.UserPassword("brevo", testToken)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, u.String(), bytes.NewReader(body))
	if r := send(t, b.srv.Client(), req); r.code != 200 {
		t.Errorf("credentials in URL: status %d (%s), want 200", r.code, r.body)
	}

	// Only authorized deliveries were stored (once: same body).
	if got := len(storedEvents(t, b.pool)); got != 1 {
		t.Errorf("stored %d event rows, want 1", got)
	}
}

func TestTokenUnset(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Token = "" })
	for _, auth := range []string{"Bearer ", "Bearer " + testToken, ""} {
		r := b.do(t, http.MethodPost, "/webhooks/brevo", readFixture(t, "spam.json"),
			map[string]string{"Authorization": auth})
		wantError(t, fmt.Sprintf("no token configured, Authorization %q", auth), r, 503)
	}
	if r := b.do(t, http.MethodGet, "/healthz", nil, nil); r.code != 200 {
		t.Errorf("GET /healthz = %d, want 200 without a token", r.code)
	}
	if got := len(storedEvents(t, b.pool)); got != 0 {
		t.Errorf("stored %d event rows, want 0", got)
	}
}

func TestSourceAllowlist(t *testing.T) {
	t.Parallel()
	brevo := []netip.Prefix{netip.MustParsePrefix("1.179.112.0/20"), netip.MustParsePrefix("172.246.240.0/20")}
	local := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	proxies := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name    string
		allowed []netip.Prefix
		trusted []netip.Prefix
		xff     string
		token   string
		want    int
	}{
		{"no allowlist", nil, nil, "", testToken, 200},
		{"peer allowed", local, nil, "", testToken, 200},
		{"peer refused", brevo, nil, "", testToken, 403},
		{"refused before auth", brevo, nil, "", "wrong", 403},
		{"allowed, then auth", local, nil, "", "wrong", 401},
		{"forwarded for ignored without a trusted proxy", brevo, nil, "1.179.112.5", testToken, 403},
		{"trusted proxy forwards Brevo", brevo, proxies, "1.179.112.5", testToken, 200},
		{"trusted proxy forwards Brevo, port given", brevo, proxies, "172.246.255.1:443", testToken, 200},
		{"trusted proxy forwards an outsider", brevo, proxies, "9.9.9.9", testToken, 403},
		{"two trusted proxies", brevo, proxies, "1.179.112.5, 10.1.2.3", testToken, 200},
		{"client-written entry not believed", brevo, proxies, "1.179.112.5, 9.9.9.9", testToken, 403},
		{"spoofed left-most entry", brevo, proxies, "9.9.9.9, 1.179.112.5", testToken, 200},
		{"trusted proxy without forwarded for", brevo, proxies, "", testToken, 403},
		{"garbage forwarded for", brevo, proxies, "unknown", testToken, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(c *Config) { c.AllowedCIDRs, c.TrustedProxies = tt.allowed, tt.trusted })
			r := b.do(t, http.MethodPost, "/webhooks/brevo", readFixture(t, "spam.json"), map[string]string{
				"X-Forwarded-For": tt.xff, "Authorization": "Bearer " + tt.token,
			})
			if tt.want == 200 {
				if r.code != 200 {
					t.Errorf("status %d (%s), want 200", r.code, r.body)
				}
				return
			}
			wantError(t, tt.name, r, tt.want)
		})
	}
}

func TestSourceAddr(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		peer string
		xff  []string
		want string // "" means an error
	}{
		{"203.0.113.7:5555", []string{"1.2.3.4"}, "203.0.113.7"},
		{"[::ffff:203.0.113.7]:5555", nil, "203.0.113.7"},
		{"10.0.0.1:5555", nil, "10.0.0.1"},
		{"10.0.0.1:5555", []string{"1.2.3.4"}, "1.2.3.4"},
		{"10.0.0.1:5555", []string{"1.2.3.4, 10.9.9.9"}, "1.2.3.4"},
		{"10.0.0.1:5555", []string{"5.5.5.5, 1.2.3.4", "10.9.9.9"}, "1.2.3.4"},
		{"10.0.0.1:5555", []string{"10.2.2.2, 10.3.3.3"}, "10.2.2.2"},
		{"10.0.0.1:5555", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"[fd00::1]:5555", []string{"2001:db8::2"}, "2001:db8::2"},
		{"10.0.0.1:5555", []string{"garbage"}, ""},
		{"10.0.0.1:5555", []string{"garbage, 1.2.3.4"}, "1.2.3.4"},
		{"10.0.0.1:5555", []string{""}, ""},
		{"not-an-address", nil, ""},
	}
	for _, tt := range tests {
		got, err := sourceAddr(tt.peer, tt.xff, trusted)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("sourceAddr(%q, %q) = %s, want an error", tt.peer, tt.xff, got)
		case tt.want != "" && (err != nil || got.String() != tt.want):
			t.Errorf("sourceAddr(%q, %q) = %s, %v; want %s", tt.peer, tt.xff, got, err, tt.want)
		}
	}
}

func TestEffects(t *testing.T) {
	t.Parallel()
	const ex, gm = "example@domain.com", "test@gmail.com"
	tests := []struct {
		file      string
		email     string // the contact the fixture names
		confirmed bool
		unsub     bool
		deleted   bool
		effect    string
	}{
		{"list_addition.json", ex, true, false, false, EffectConfirmed},
		{"contact_updated_documented.json", ex, true, false, false, EffectConfirmed},
		{"contact_updated_observed.json", gm, true, false, false, EffectConfirmed},
		{"contact_updated_blacklist.json", gm, true, true, false, EffectUnsubscribed},
		{"unsubscribed.json", ex, false, true, false, EffectUnsubscribed},
		{"contact_deleted.json", ex, false, false, true, EffectDeleted},
		{"spam.json", ex, false, false, false, EffectNone},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			// Two rows with the email in another case: all matching rows
			// change. One unrelated row does not.
			mixed := strings.ToUpper(tt.email[:1]) + tt.email[1:4] + strings.ToUpper(tt.email[4:])
			ids := []string{insertContact(t, b.pool, mixed), insertContact(t, b.pool, tt.email)}
			other := insertContact(t, b.pool, "other@domain.com")
			exec(t, b.pool, `UPDATE contacts SET brevo_confirmed_at = '2020-01-01Z', brevo_unsubscribed_at = '2020-01-02Z' WHERE id = $1`, other)
			before := time.Now()
			wantOther := getContact(t, b.pool, other)

			b.mustPost(t, readFixture(t, tt.file))

			for _, id := range ids {
				c := getContact(t, b.pool, id)
				if got := c.ConfirmedAt != nil; got != tt.confirmed {
					t.Errorf("contact %s: brevo_confirmed_at = %v, want set: %v", id, c.ConfirmedAt, tt.confirmed)
				}
				if got := c.UnsubscribedAt != nil; got != tt.unsub {
					t.Errorf("contact %s: brevo_unsubscribed_at = %v, want set: %v", id, c.UnsubscribedAt, tt.unsub)
				}
				for _, ts := range []*time.Time{c.ConfirmedAt, c.UnsubscribedAt} {
					if ts != nil && ts.Before(before.Add(-time.Minute)) {
						t.Errorf("contact %s: timestamp %v, want about now", id, ts)
					}
				}
				want := "Complete"
				if tt.deleted {
					want = "New"
					if c.Processing != nil || c.ContactID != nil || c.SyncedAt == nil {
						t.Errorf("deleted contact %s: processing %v, contact id %v, synced_at %v; want NULL, NULL, kept",
							id, c.Processing, c.ContactID, c.SyncedAt)
					}
				} else if c.ContactID == nil || *c.ContactID != "42" || c.Processing == nil {
					t.Errorf("contact %s: contact id %v, processing %v; want unchanged", id, c.ContactID, c.Processing)
				}
				if c.SyncStatus != want {
					t.Errorf("contact %s: brevo_sync_status = %s, want %s", id, c.SyncStatus, want)
				}
			}
			if diff := cmp.Diff(wantOther, getContact(t, b.pool, other)); diff != "" {
				t.Errorf("unrelated contact changed (-before +after):\n%s", diff)
			}
			want := []storedEvent{{Event: eventName(t, tt.file), Email: ptr(tt.email), Emails: []string{tt.email}, Effect: tt.effect}}
			if diff := cmp.Diff(want, storedEvents(t, b.pool)); diff != "" {
				t.Errorf("stored events (-want +got):\n%s", diff)
			}
		})
	}
}

// eventName returns a fixture's "event".
func eventName(t *testing.T, file string) string {
	t.Helper()
	events, err := ParseEvents(readFixture(t, file))
	if err != nil || len(events) != 1 {
		t.Fatalf("parse %s: %v", file, err)
	}
	return events[0].Name
}

func TestContactDeletedKeepsPendingRequest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	done := insertContact(t, b.pool, "example@domain.com")
	pending := insertContact(t, b.pool, "example@domain.com")
	failed := insertContact(t, b.pool, "Example@domain.com")
	exec(t, b.pool, `UPDATE contacts SET brevo_sync_status = 'Selected', brevo_processing_status = 'Queued' WHERE id = $1`, pending)
	exec(t, b.pool, `UPDATE contacts SET brevo_sync_status = 'Error', brevo_processing_status = 'Error',
		brevo_confirmed_at = now(), brevo_unsubscribed_at = now() WHERE id = $1`, failed)

	b.mustPost(t, readFixture(t, "contact_deleted.json"))

	for id, want := range map[string]string{done: "New", failed: "New", pending: "Selected"} {
		c := getContact(t, b.pool, id)
		if c.SyncStatus != want || c.ContactID != nil || c.ConfirmedAt != nil {
			t.Errorf("contact %s: status %s, contact id %v, confirmed %v; want %s, NULL, NULL",
				id, c.SyncStatus, c.ContactID, c.ConfirmedAt, want)
		}
	}
	if c := getContact(t, b.pool, pending); c.Processing == nil || *c.Processing != "Queued" {
		t.Errorf("pending contact: processing %v, want Queued (request kept)", c.Processing)
	}
	if c := getContact(t, b.pool, failed); c.Processing != nil || c.UnsubscribedAt == nil {
		t.Errorf("failed contact: processing %v, unsubscribed %v; want NULL, kept", c.Processing, c.UnsubscribedAt)
	}
}

// On the existing application's database email is varchar and old
// timestamps are without time zone.
func TestLegacyColumnTypes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// The mirror's trigger names email in its condition; Postgres refuses
	// to change the type of such a column while the trigger exists.
	exec(t, b.pool, `DROP TRIGGER brevosync_mirror_update ON contacts`)
	exec(t, b.pool, `ALTER TABLE contacts ALTER COLUMN email TYPE varchar(255),
		ALTER COLUMN created_at TYPE timestamp, ALTER COLUMN updated_at TYPE timestamp`)
	id := insertContact(t, b.pool, "Test@Gmail.com")
	b.mustPost(t, readFixture(t, "contact_updated_blacklist.json"))
	if c := getContact(t, b.pool, id); c.ConfirmedAt == nil || c.UnsubscribedAt == nil {
		t.Errorf("confirmed %v, unsubscribed %v; want both set", c.ConfirmedAt, c.UnsubscribedAt)
	}
}

func TestBatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := map[string]string{}
	for _, n := range []string{"one", "two", "three", "four", "five"} {
		ids[n] = insertContact(t, b.pool, "batch."+n+"@example.com")
	}

	r := b.mustPost(t, readFixture(t, "batch.json"))
	var got map[string]int
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatalf("response %q: %v", r.body, err)
	}
	if diff := cmp.Diff(map[string]int{"events": 6, "stored": 6, "duplicates": 0}, got); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}

	type state struct{ Status, Confirmed, Unsub bool }
	wantState := map[string]state{
		"one":   {false, true, false}, // list_addition (and an opened event: nothing)
		"two":   {false, true, true},  // contact_updated, emailBlacklist
		"three": {false, true, false}, // contact_updated
		"four":  {false, false, true}, // unsubscribed
		"five":  {true, false, false}, // contact_deleted
	}
	for n, want := range wantState {
		c := getContact(t, b.pool, ids[n])
		got := state{c.SyncStatus == "New", c.ConfirmedAt != nil, c.UnsubscribedAt != nil}
		if got != want {
			t.Errorf("batch.%s: (deleted, confirmed, unsubscribed) = %+v, want %+v", n, got, want)
		}
	}
	// One row per event; the contact_updated naming two contacts records
	// that it unsubscribed one of them.
	wantEvents := []storedEvent{
		{"list_addition", 0, ptr("batch.one@example.com"), []string{"batch.one@example.com"}, EffectConfirmed},
		{"contact_updated", 0, ptr("batch.two@example.com"), []string{"batch.two@example.com", "batch.three@example.com"}, EffectUnsubscribed},
		{"unsubscribed", 0, ptr("batch.four@example.com"), []string{"batch.four@example.com"}, EffectUnsubscribed},
		{"contact_deleted", 0, ptr("batch.five@example.com"), []string{"batch.five@example.com"}, EffectDeleted},
		{"opened", 0, ptr("batch.one@example.com"), []string{"batch.one@example.com"}, EffectNone},
		{"list_addition", 0, ptr("nobody@example.com"), []string{"nobody@example.com"}, EffectUnknownEmail},
	}
	if diff := cmp.Diff(wantEvents, storedEvents(t, b.pool)); diff != "" {
		t.Errorf("stored events (-want +got):\n%s", diff)
	}

	// The stored payload is the event as sent, dates included.
	var date string
	err := b.pool.QueryRow(t.Context(), `SELECT payload->>'date' FROM brevosync_webhook_events
		WHERE event = 'contact_updated'`).Scan(&date)
	if err != nil || date != "2021-10-18T05:53:51.000Z" {
		t.Errorf("stored payload date = %q, %v", date, err)
	}
}

// A batch's events apply in the order sent.
func TestBatchOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := insertContact(t, b.pool, "a@example.com")
	add := `{"event":"list_addition","email":"a@example.com","ts":1}`
	del := `{"event":"contact_deleted","email":"a@example.com","ts":2}`

	b.mustPost(t, []byte("["+del+","+add+"]"))
	if c := getContact(t, b.pool, id); c.SyncStatus != "New" || c.ConfirmedAt == nil {
		t.Errorf("delete then add: status %s, confirmed %v; want New, set", c.SyncStatus, c.ConfirmedAt)
	}
	add2 := `{"event":"list_addition","email":"a@example.com","ts":3}`
	del2 := `{"event":"contact_deleted","email":"a@example.com","ts":4}`
	b.mustPost(t, []byte("["+add2+","+del2+"]"))
	if c := getContact(t, b.pool, id); c.ConfirmedAt != nil {
		t.Errorf("add then delete: confirmed %v, want NULL", c.ConfirmedAt)
	}
}

func TestDuplicate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := insertContact(t, b.pool, "example@domain.com")
	body := readFixture(t, "list_addition.json")

	b.mustPost(t, body)
	first := getContact(t, b.pool, id)
	if first.ConfirmedAt == nil {
		t.Fatal("brevo_confirmed_at not set by the first delivery")
	}

	// Redelivered as sent, reformatted, and inside a batch.
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		t.Fatal(err)
	}
	compact, _ := json.Marshal(obj)
	for _, again := range [][]byte{body, compact, []byte("[" + string(body) + "," + string(compact) + "]")} {
		r := b.mustPost(t, again)
		if !strings.Contains(r.body, `"stored":0`) {
			t.Errorf("redelivery answered %s, want nothing stored", r.body)
		}
	}
	if got := getContact(t, b.pool, id); !got.ConfirmedAt.Equal(*first.ConfirmedAt) {
		t.Errorf("brevo_confirmed_at moved on redelivery: %v, was %v", got.ConfirmedAt, first.ConfirmedAt)
	}
	if got := len(storedEvents(t, b.pool)); got != 1 {
		t.Errorf("stored %d event rows, want 1", got)
	}

	// A different event (later ts) for the same contact is new.
	b.mustPost(t, bytes.Replace(body, []byte("1604937111"), []byte("1604937999"), 1))
	if got := len(storedEvents(t, b.pool)); got != 2 {
		t.Errorf("stored %d event rows after a new event, want 2", got)
	}
}

// Concurrent deliveries of one event store it once.
func TestDuplicateConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	insertContact(t, b.pool, "example@domain.com")
	body := readFixture(t, "unsubscribed.json")
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, b.srv.URL+"/webhooks/brevo", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testToken)
			resp, err := b.srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("delivery %d: status %d, want 200", i, c)
		}
	}
	if got := len(storedEvents(t, b.pool)); got != 1 {
		t.Errorf("stored %d event rows, want 1", got)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.MaxBodyBytes = 1024 })
	id := insertContact(t, b.pool, "good@example.com")
	big := []byte(`{"event":"spam","pad":"` + strings.Repeat("x", 1100) + `"}`)
	tests := []struct {
		name   string
		method string
		path   string
		body   []byte
		header map[string]string
		want   int
	}{
		{"malformed JSON", "POST", "/webhooks/brevo", []byte(`{"event":`), nil, 400},
		{"empty body", "POST", "/webhooks/brevo", []byte{}, nil, 400},
		{"not JSON", "POST", "/webhooks/brevo", []byte("event=spam"), nil, 400},
		{"JSON string", "POST", "/webhooks/brevo", []byte(`"spam"`), nil, 400},
		{"JSON null", "POST", "/webhooks/brevo", []byte(`null`), nil, 400},
		{"array of numbers", "POST", "/webhooks/brevo", []byte(`[1,2,3]`), nil, 400},
		{"event without name", "POST", "/webhooks/brevo", []byte(`{"email":"good@example.com"}`), nil, 400},
		{"batch with one bad event", "POST", "/webhooks/brevo",
			[]byte(`[{"event":"list_addition","email":"good@example.com"},{"event":7}]`), nil, 400},
		{"NUL character", "POST", "/webhooks/brevo", []byte(`{"event":"list_addition","email":"good@example.com","x":"\u0000"}`), nil, 400},
		{"number Postgres refuses", "POST", "/webhooks/brevo",
			[]byte(`{"event":"list_addition","email":"good@example.com","id":1e999999}`), nil, 400},
		{"lone surrogate Postgres refuses", "POST", "/webhooks/brevo",
			[]byte(`{"event":"list_addition","email":"good@example.com","x":"\ud800"}`), nil, 400},
		{"too large", "POST", "/webhooks/brevo", big, nil, 413},
		{"wrong method GET", "GET", "/webhooks/brevo", nil, nil, 405},
		{"wrong method PUT", "PUT", "/webhooks/brevo", []byte(`{"event":"spam"}`), nil, 405},
		{"no credentials", "POST", "/webhooks/brevo", []byte(`{"event":"spam"}`), map[string]string{"Authorization": ""}, 401},
		{"unknown path", "POST", "/webhooks/other", []byte(`{"event":"spam"}`), nil, 404},
	}
	for i, tt := range tests {
		r := b.do(t, tt.method, tt.path, tt.body, tt.header)
		wantError(t, tt.name, r, tt.want)
		if tt.want == 405 && r.header.Get("Allow") != "POST" {
			t.Errorf("%s: Allow %q, want POST", tt.name, r.header.Get("Allow"))
		}
		// The service keeps serving: a good delivery succeeds afterwards.
		good := fmt.Appendf(nil, `{"event":"list_addition","email":"good@example.com","ts":%d}`, i)
		if r := b.post(t, good); r.code != 200 {
			t.Errorf("after %s: good delivery got %d %s", tt.name, r.code, r.body)
		}
	}
	// Only the good deliveries were stored.
	if got := len(storedEvents(t, b.pool)); got != len(tests) {
		t.Errorf("stored %d event rows, want %d (the good ones)", got, len(tests))
	}
	if c := getContact(t, b.pool, id); c.ConfirmedAt == nil {
		t.Error("good deliveries did not confirm the contact")
	}

	// A body with no Content-Length over the limit is refused while read.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, b.srv.URL+"/webhooks/brevo",
		io.MultiReader(bytes.NewReader(big))) // unknown length: chunked
	req.Header.Set("Authorization", "Bearer "+testToken)
	wantError(t, "chunked too large", send(t, b.srv.Client(), req), 413)
}

// The default limit is 1 MiB: a full Brevo batch of 500 events fits, and
// is one cheap transaction.
func TestDefaultBodyLimitAnd500Events(t *testing.T) {
	t.Parallel()
	b := setup(t)
	exec(t, b.pool, `INSERT INTO contacts (email) SELECT 'c' || i || '@example.com' FROM generate_series(0, 499) i`)

	over := append([]byte(`{"event":"spam","pad":"`), bytes.Repeat([]byte("x"), DefaultMaxBodyBytes)...)
	over = append(over, `"}`...)
	wantError(t, "1 MiB + 1", b.post(t, over), 413)

	body := batchOf(500)
	if len(body) > DefaultMaxBodyBytes {
		t.Fatalf("500-event batch is %d bytes, over the default limit", len(body))
	}
	start := time.Now()
	b.mustPost(t, body)
	t.Logf("500 events stored in %v", time.Since(start))

	var confirmed, rows int
	err := b.pool.QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM contacts WHERE brevo_confirmed_at IS NOT NULL),
		(SELECT count(*) FROM brevosync_webhook_events WHERE effect = 'confirmed')`).Scan(&confirmed, &rows)
	if err != nil || confirmed != 500 || rows != 500 {
		t.Errorf("confirmed contacts %d, confirmed events %d (%v); want 500, 500", confirmed, rows, err)
	}
}

// batchOf returns a batch of n list_addition events for c0@example.com ….
func batchOf(n int) []byte {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"id":123456,"email":"C%d@Example.com","event":"list_addition","key":"xxxxxxxxxxxxxxxxxx",`+
			`"list_id":[34,12],"date":"2020-10-09 00:00:00","ts":%d,"api_key_name":""}`, i, 1604937111+i)
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

func TestDatabaseUnavailable(t *testing.T) {
	t.Parallel()
	body := readFixture(t, "list_addition.json")

	t.Run("unreachable server", func(t *testing.T) {
		t.Parallel()
		pool, err := pgxpool.New(t.Context(), "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=5")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		b := setup(t, func(c *Config) { c.Pool = pool })
		r := b.post(t, body)
		wantError(t, "unreachable database", r, 429)
		if got := r.header.Get("Retry-After"); got != "60" {
			t.Errorf("Retry-After %q, want 60", got)
		}
		if r := b.do(t, http.MethodGet, "/healthz", nil, nil); r.code != 200 {
			t.Errorf("GET /healthz = %d, want 200", r.code)
		}
	})

	t.Run("closed pool", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		id := insertContact(t, b.pool, "example@domain.com")
		b.pool.Close()
		r := b.post(t, body)
		wantError(t, "closed pool", r, 429)
		if got := r.header.Get("Retry-After"); got != "60" {
			t.Errorf("Retry-After %q, want 60", got)
		}
		check := schematest.Pool(t, b.pool.Config().ConnString())
		var n int
		if err := check.QueryRow(t.Context(), `SELECT count(*) FROM brevosync_webhook_events`).Scan(&n); err != nil || n != 0 {
			t.Errorf("event rows %d (%v), want 0", n, err)
		}
		if c := getContact(t, check, id); c.ConfirmedAt != nil {
			t.Errorf("contact confirmed %v, want NULL", c.ConfirmedAt)
		}
	})

	// The database fails in the middle of a batch: nothing is half-applied,
	// and the redelivery after recovery applies everything.
	t.Run("failure mid-batch", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		first := insertContact(t, b.pool, "first@example.com")
		insertContact(t, b.pool, "boom@example.com")
		exec(t, b.pool, `CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF NEW.email = 'boom@example.com' THEN
					RAISE EXCEPTION 'canceling statement due to statement timeout' USING ERRCODE = 'query_canceled';
				END IF;
				RETURN NEW;
			END $$`)
		exec(t, b.pool, `CREATE TRIGGER boom BEFORE INSERT ON brevosync_webhook_events FOR EACH ROW EXECUTE FUNCTION boom()`)
		batch := []byte(`[{"event":"list_addition","email":"first@example.com","ts":1},
			{"event":"unsubscribed","email":"first@example.com","ts":2},
			{"event":"list_addition","email":"boom@example.com","ts":3}]`)

		r := b.post(t, batch)
		wantError(t, "failure mid-batch", r, 429)
		if got := r.header.Get("Retry-After"); got != "60" {
			t.Errorf("Retry-After %q, want 60", got)
		}
		if got := storedEvents(t, b.pool); len(got) != 0 {
			t.Errorf("stored %v, want nothing", got)
		}
		if c := getContact(t, b.pool, first); c.ConfirmedAt != nil || c.UnsubscribedAt != nil {
			t.Errorf("first contact half-applied: confirmed %v, unsubscribed %v", c.ConfirmedAt, c.UnsubscribedAt)
		}

		exec(t, b.pool, `DROP TRIGGER boom ON brevosync_webhook_events`)
		b.mustPost(t, batch) // Brevo's redelivery
		if c := getContact(t, b.pool, first); c.ConfirmedAt == nil || c.UnsubscribedAt == nil {
			t.Errorf("after redelivery: confirmed %v, unsubscribed %v; want both set", c.ConfirmedAt, c.UnsubscribedAt)
		}
		if got := len(storedEvents(t, b.pool)); got != 3 {
			t.Errorf("stored %d rows after redelivery, want 3", got)
		}
		scrape := b.do(t, http.MethodGet, "/metrics", nil, nil).body
		for _, want := range []string{
			`brevosync_webhook_events_total{event="list_addition",result="failed"} 2`,
			`brevosync_webhook_requests_total{code="429"} 1`,
		} {
			if !strings.Contains(scrape, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

func TestProbes(t *testing.T) {
	t.Parallel()
	var readyErr error
	var mu sync.Mutex
	b := setup(t, func(c *Config) {
		c.Ready = func(ctx context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			return readyErr
		}
	})
	if r := b.do(t, http.MethodGet, "/healthz", nil, nil); r.code != 200 || strings.TrimSpace(r.body) != "ok" {
		t.Errorf("GET /healthz = %d %q, want 200 ok", r.code, r.body)
	}
	if r := b.do(t, http.MethodGet, "/readyz", nil, nil); r.code != 200 {
		t.Errorf("GET /readyz = %d %q, want 200", r.code, r.body)
	}
	mu.Lock()
	readyErr = errors.New("listener not connected")
	mu.Unlock()
	r := b.do(t, http.MethodGet, "/readyz", nil, nil)
	if r.code != 503 || !strings.Contains(r.body, `"error":"listener not connected"`) {
		t.Errorf("GET /readyz = %d %q, want 503 with the reason", r.code, r.body)
	}
	wantError(t, "POST /healthz", b.do(t, http.MethodPost, "/healthz", nil, nil), 405)
	if r := b.do(t, http.MethodHead, "/healthz", nil, nil); r.code != 200 {
		t.Errorf("HEAD /healthz = %d, want 200", r.code)
	}

	noMetrics := setup(t, func(c *Config) { c.Metrics, c.Ready = nil, nil })
	wantError(t, "GET /metrics without a handler", noMetrics.do(t, http.MethodGet, "/metrics", nil, nil), 404)
	if r := noMetrics.do(t, http.MethodGet, "/readyz", nil, nil); r.code != 200 {
		t.Errorf("GET /readyz without Ready = %d, want 200", r.code)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t)
	insertContact(t, b.pool, "example@domain.com")
	b.mustPost(t, readFixture(t, "list_addition.json"))
	b.mustPost(t, readFixture(t, "list_addition.json"))
	b.mustPost(t, readFixture(t, "spam.json"))
	b.mustPost(t, []byte(`{"event":"list_addition","email":"nobody@example.com"}`))
	b.mustPost(t, []byte(`{"event":"some_new_event","email":"nobody@example.com"}`))
	b.post(t, []byte(`{`))

	r := b.do(t, http.MethodGet, "/metrics", nil, nil)
	if r.code != 200 {
		t.Fatalf("GET /metrics = %d", r.code)
	}
	for _, want := range []string{
		`brevosync_webhook_events_total{event="list_addition",result="stored"} 1`,
		`brevosync_webhook_events_total{event="list_addition",result="duplicate"} 1`,
		`brevosync_webhook_events_total{event="list_addition",result="unknown_email"} 1`,
		`brevosync_webhook_events_total{event="spam",result="stored"} 1`,
		`brevosync_webhook_events_total{event="other",result="stored"} 1`,
		`brevosync_webhook_requests_total{code="200"} 5`,
		`brevosync_webhook_requests_total{code="400"} 1`,
		`brevosync_webhook_request_duration_seconds_count 6`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Building another handler on the same registry reuses the collectors.
	NewHandler(Config{Registerer: b.reg})
}

func TestAccessLogAndPanic(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(NewHandler(Config{
		Logger: logger,
		Token:  testToken,
		Ready:  func(context.Context) error { panic("boom in ready") },
	}))
	t.Cleanup(srv.Close)

	get := func(path string) response {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		req.Header.Set("X-Request-Id", "req-"+strings.Trim(path, "/"))
		return send(t, srv.Client(), req)
	}
	if r := get("/readyz"); r.code != 500 {
		t.Errorf("GET /readyz with a panicking Ready = %d, want 500", r.code)
	}
	if r := get("/healthz"); r.code != 200 || r.header.Get("X-Request-Id") != "req-healthz" {
		t.Errorf("GET /healthz after a panic = %d (X-Request-Id %q), want 200", r.code, r.header.Get("X-Request-Id"))
	}
	get("/nowhere")

	type record struct {
		Level     string  `json:"level"`
		Msg       string  `json:"msg"`
		Method    string  `json:"method"`
		Path      string  `json:"path"`
		Status    int     `json:"status"`
		Bytes     *int    `json:"bytes"`
		Duration  *int64  `json:"duration"`
		RequestID string  `json:"request_id"`
		Panic     string  `json:"panic"`
		Stack     *string `json:"stack"`
	}
	var access []record
	var panics []record
	for line := range strings.Lines(buf.String()) {
		var r record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		switch r.Msg {
		case "http request":
			access = append(access, r)
		case "panic serving request":
			panics = append(panics, r)
		}
	}
	if len(panics) != 1 || panics[0].Panic != "boom in ready" || panics[0].Stack == nil || panics[0].RequestID != "req-readyz" {
		t.Errorf("panic log records %+v, want one with panic, stack and request id", panics)
	}
	wantLevels := map[string]string{"/readyz": "DEBUG", "/healthz": "DEBUG", "/nowhere": "INFO"}
	if len(access) != 3 {
		t.Fatalf("access log records %+v, want 3", access)
	}
	for _, r := range access {
		if r.Level != wantLevels[r.Path] || r.Method != "GET" || r.Status == 0 || r.Bytes == nil ||
			r.Duration == nil || r.RequestID != "req"+strings.ReplaceAll(r.Path, "/", "-") {
			t.Errorf("access log record %+v: want level %s and every field", r, wantLevels[r.Path])
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestNewServer(t *testing.T) {
	t.Parallel()
	h := http.NotFoundHandler()
	s := NewServer(":8080", h)
	got := []any{s.Addr, s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout, s.MaxHeaderBytes}
	want := []any{":8080", 5 * time.Second, 30 * time.Second, 30 * time.Second, DefaultIdleTimeout, 64 << 10}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewServer (-want +got):\n%s", diff)
	}
	if s.Handler == nil {
		t.Error("NewServer: nil Handler")
	}
	if s.ConnState == nil {
		t.Error("NewServer: no connection cap (ConnState nil)")
	}
}

func BenchmarkStore500(b *testing.B) {
	pool := schematest.NewPool(b)
	if _, err := pool.Exec(b.Context(), `INSERT INTO contacts (email) SELECT 'c' || i || '@example.com' FROM generate_series(0, 499) i`); err != nil {
		b.Fatal(err)
	}
	body := batchOf(500)
	for b.Loop() {
		b.StopTimer()
		if _, err := pool.Exec(b.Context(), `TRUNCATE brevosync_webhook_events`); err != nil {
			b.Fatal(err)
		}
		events, err := ParseEvents(body)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := newEventStore(pool, nil).save(b.Context(), events); err != nil {
			b.Fatal(err)
		}
	}
}
