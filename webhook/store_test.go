package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/brevosync/brevosync/sql/schematest"
)

// counts is the JSON answer to a delivery.
type counts struct {
	Events, Stored, Duplicates int
}

func answerCounts(t *testing.T, r response) counts {
	t.Helper()
	var c counts
	if err := json.Unmarshal([]byte(r.body), &c); err != nil {
		t.Fatalf("answer %q: %v", r.body, err)
	}
	return c
}

// manyContactsEvent is a contact_updated whose content[] names the given
// emails; those at the indexes in black carry "emailBlacklist": true.
func manyContactsEvent(ts int, emails []string, black func(i int) bool) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `{"id":10,"event":"contact_updated","date":"2021-10-18 05:53:51","ts":%d,"content":[`, ts)
	for i, e := range emails {
		if i > 0 {
			buf.WriteByte(',')
		}
		if black(i) {
			fmt.Fprintf(&buf, `{"email":%q,"emailBlacklist":true}`, e)
		} else {
			fmt.Fprintf(&buf, `{"email":%q,"attributes":{"FIRSTNAME":"N%d"}}`, e, i)
		}
	}
	buf.WriteString(`]}`)
	return buf.Bytes()
}

// compactEvent is a contact_updated naming n contacts <prefix>0@x.io …
// with nothing else in its items.
func compactEvent(ts int, prefix string, n int) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `{"event":"contact_updated","ts":%d,"content":[`, ts)
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"email":"%s%d@x.io"}`, prefix, i)
	}
	buf.WriteString(`]}`)
	return buf.Bytes()
}

// One contact_updated naming 5,000 contacts (and a few unknown emails) is
// stored as one row holding every email, applied to every contact in one
// statement, and a redelivery is a duplicate that changes nothing. Before,
// it was stored as 5,000 rows each holding the whole event, answered 429
// after 15 s and never stored.
func TestEventNamingManyContacts(t *testing.T) {
	t.Parallel()
	const n = 5000
	b := setup(t)
	exec(t, b.pool, `INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status, brevo_contact_id)
		SELECT 'Many' || i || '@Example.com', 'Complete', 'Complete', '42' FROM generate_series(0, $1 - 1) i`, n)
	var emails []string
	for i := range n {
		emails = append(emails, fmt.Sprintf("many%d@EXAMPLE.com", i))
	}
	emails = append(emails, "nobody1@example.com", "nobody2@example.com")
	black := func(i int) bool { return i%10 == 3 }
	body := manyContactsEvent(1, emails, black)

	start := time.Now()
	r := b.mustPost(t, body)
	t.Logf("an event naming %d contacts (%d KB) stored in %v", len(emails), len(body)>>10, time.Since(start).Round(time.Millisecond))
	if got, want := answerCounts(t, r), (counts{1, 1, 0}); got != want {
		t.Errorf("answer %+v, want %+v", got, want)
	}

	var rows, named int
	var first, effect string
	err := b.pool.QueryRow(t.Context(), `SELECT count(*), max(cardinality(emails)), max(email), max(effect)
		FROM brevosync_webhook_events`).Scan(&rows, &named, &first, &effect)
	if err != nil {
		t.Fatal(err)
	}
	if rows != 1 || named != len(emails) || first != "many0@example.com" || effect != EffectUnsubscribed {
		t.Errorf("stored %d rows, naming %d emails, first %q, effect %s; want 1, %d, many0@example.com, unsubscribed",
			rows, named, first, effect, len(emails))
	}

	type state struct{ Confirmed, Unsubscribed int }
	read := func() (state, state, time.Time) {
		var plain, blocked state
		var at time.Time
		err := b.pool.QueryRow(t.Context(), `SELECT
			count(*) FILTER (WHERE brevo_confirmed_at IS NOT NULL AND split_part(email, '@', 1) NOT SIMILAR TO 'Many[0-9]*3'),
			count(*) FILTER (WHERE brevo_unsubscribed_at IS NOT NULL AND split_part(email, '@', 1) NOT SIMILAR TO 'Many[0-9]*3'),
			count(*) FILTER (WHERE brevo_confirmed_at IS NOT NULL AND split_part(email, '@', 1) SIMILAR TO 'Many[0-9]*3'),
			count(*) FILTER (WHERE brevo_unsubscribed_at IS NOT NULL AND split_part(email, '@', 1) SIMILAR TO 'Many[0-9]*3'),
			min(brevo_confirmed_at)
			FROM contacts`).Scan(&plain.Confirmed, &plain.Unsubscribed, &blocked.Confirmed, &blocked.Unsubscribed, &at)
		if err != nil {
			t.Fatal(err)
		}
		return plain, blocked, at
	}
	// The blacklisted items are the indexes ending in 3: 500 of them.
	plain, blocked, confirmedAt := read()
	if want := (state{n - n/10, 0}); plain != want {
		t.Errorf("plain contacts (confirmed, unsubscribed) = %+v, want %+v", plain, want)
	}
	if want := (state{n / 10, n / 10}); blocked != want {
		t.Errorf("blacklisted contacts (confirmed, unsubscribed) = %+v, want %+v", blocked, want)
	}

	// Brevo redelivers it: stored once, nothing moves.
	r = b.mustPost(t, body)
	if got, want := answerCounts(t, r), (counts{1, 0, 1}); got != want {
		t.Errorf("redelivery answered %+v, want %+v", got, want)
	}
	p2, b2, at2 := read()
	if p2 != plain || b2 != blocked || !at2.Equal(confirmedAt) {
		t.Errorf("redelivery changed contacts: %+v %+v %v, were %+v %+v %v", p2, b2, at2, plain, blocked, confirmedAt)
	}
	if got := len(storedEvents(t, b.pool)); got != 1 {
		t.Errorf("stored %d rows after the redelivery, want 1", got)
	}
}

// A full Brevo batch of 500 events, each naming 20 contacts, is stored as
// 500 rows with every contact's effect; its redelivery as none.
func TestBatchOf500EventsNamingManyContacts(t *testing.T) {
	t.Parallel()
	const events, per = 500, 20
	b := setup(t)
	exec(t, b.pool, `INSERT INTO contacts (email) SELECT 'b' || i || '@example.com' FROM generate_series(0, $1 - 1) i`, events*per)
	var parts [][]byte
	for e := range events {
		var emails []string
		for j := range per {
			emails = append(emails, fmt.Sprintf("B%d@Example.com", e*per+j))
		}
		parts = append(parts, manyContactsEvent(e, emails, func(j int) bool { return j == 0 }))
	}
	body := append(append([]byte("["), bytes.Join(parts, []byte(","))...), ']')

	start := time.Now()
	r := b.mustPost(t, body)
	t.Logf("%d events naming %d contacts (%d KB) stored in %v", events, events*per, len(body)>>10, time.Since(start).Round(time.Millisecond))
	if got, want := answerCounts(t, r), (counts{events, events, 0}); got != want {
		t.Errorf("answer %+v, want %+v", got, want)
	}
	var rows, unsubscribedRows, confirmed, unsubscribed int
	err := b.pool.QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM brevosync_webhook_events),
		(SELECT count(*) FROM brevosync_webhook_events WHERE effect = 'unsubscribed' AND cardinality(emails) = $1),
		(SELECT count(*) FROM contacts WHERE brevo_confirmed_at IS NOT NULL),
		(SELECT count(*) FROM contacts WHERE brevo_unsubscribed_at IS NOT NULL)`, per).
		Scan(&rows, &unsubscribedRows, &confirmed, &unsubscribed)
	if err != nil {
		t.Fatal(err)
	}
	if rows != events || unsubscribedRows != events || confirmed != events*per || unsubscribed != events {
		t.Errorf("rows %d (unsubscribed, naming %d: %d), contacts confirmed %d, unsubscribed %d; want %d (%d), %d, %d",
			rows, per, unsubscribedRows, confirmed, unsubscribed, events, events, events*per, events)
	}

	r = b.mustPost(t, body)
	if got, want := answerCounts(t, r), (counts{events, 0, events}); got != want {
		t.Errorf("redelivery answered %+v, want %+v", got, want)
	}
	if got := len(storedEvents(t, b.pool)); got != events {
		t.Errorf("stored %d rows after the redelivery, want %d", got, events)
	}
}

// Emails match by the one normalization, schema.EmailKey: trimmed, A-Z
// lowered, other letters as they are, whatever the database's locale.
func TestNonASCIIEmails(t *testing.T) {
	t.Parallel()
	b := setup(t)
	same := insertContact(t, b.pool, "Élise@exemple.fr")
	other := insertContact(t, b.pool, "élise@exemple.fr") // another address: É is not É lowered
	b.mustPost(t, []byte(`{"event":"contact_updated","content":[{"email":" ÉLISE@Exemple.FR ","emailBlacklist":true}],"ts":1}`))

	if c := getContact(t, b.pool, same); c.ConfirmedAt == nil || c.UnsubscribedAt == nil {
		t.Errorf("Élise@exemple.fr: confirmed %v, unsubscribed %v; want both set", c.ConfirmedAt, c.UnsubscribedAt)
	}
	if c := getContact(t, b.pool, other); c.ConfirmedAt != nil || c.UnsubscribedAt != nil {
		t.Errorf("élise@exemple.fr: confirmed %v, unsubscribed %v; want untouched", c.ConfirmedAt, c.UnsubscribedAt)
	}
	want := []storedEvent{{"contact_updated", 0, ptr("Élise@exemple.fr"), []string{"Élise@exemple.fr"}, EffectUnsubscribed}}
	if diff := cmp.Diff(want, storedEvents(t, b.pool)); diff != "" {
		t.Errorf("stored events (-want +got):\n%s", diff)
	}
}

// A delivery over a cap is refused with 413, which Brevo does not retry,
// and nothing of it is stored; one at the cap is stored.
func TestDeliveryCaps(t *testing.T) {
	t.Parallel()
	t.Run("configured", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.MaxEvents, c.MaxEmails = 3, 5 })
		insertContact(t, b.pool, "a@example.com")
		ev := func(ts int, emails ...string) string {
			var items []string
			for _, e := range emails {
				items = append(items, fmt.Sprintf(`{"email":%q}`, e))
			}
			return fmt.Sprintf(`{"event":"contact_updated","ts":%d,"content":[%s]}`, ts, strings.Join(items, ","))
		}
		tests := []struct {
			name string
			body string
			want int
			msg  string
		}{
			{"four events", "[" + strings.Join([]string{ev(1), ev(2), ev(3), ev(4)}, ",") + "]", 413, "too many events in one delivery"},
			{"six emails", "[" + ev(5, "a@example.com", "b@x.io", "c@x.io") + "," + ev(6, "d@x.io", "e@x.io", "f@x.io") + "]", 413,
				"too many contacts named in one delivery"},
			{"six emails in one event", ev(7, "a@example.com", "b@x.io", "c@x.io", "d@x.io", "e@x.io", "f@x.io"), 413,
				"too many contacts named in one delivery"},
			{"at both caps", "[" + ev(8, "a@example.com", "b@x.io") + "," + ev(9, "c@x.io", "d@x.io") + "," + ev(10, "e@x.io") + "]", 200, ""},
		}
		for _, tt := range tests {
			r := b.post(t, []byte(tt.body))
			if tt.want == 200 {
				if r.code != 200 {
					t.Errorf("%s: %d %s, want 200", tt.name, r.code, r.body)
				}
				continue
			}
			wantError(t, tt.name, r, tt.want)
			if !strings.Contains(r.body, tt.msg) {
				t.Errorf("%s: body %s, want %q", tt.name, r.body, tt.msg)
			}
			if r.header.Get("Retry-After") != "" {
				t.Errorf("%s: Retry-After %q, want none (Brevo must not retry)", tt.name, r.header.Get("Retry-After"))
			}
		}
		if got := len(storedEvents(t, b.pool)); got != 3 {
			t.Errorf("stored %d rows, want 3 (the delivery at the caps)", got)
		}
		scrape := b.do(t, http.MethodGet, "/metrics", nil, nil).body
		if want := `brevosync_webhook_events_total{event="contact_updated",result="rejected"} 7`; !strings.Contains(scrape, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		var evs []string
		for i := range DefaultMaxEvents + 1 {
			evs = append(evs, fmt.Sprintf(`{"event":"spam","ts":%d}`, i))
		}
		wantError(t, "1,001 events", b.post(t, []byte("["+strings.Join(evs, ",")+"]")), 413)
		body := compactEvent(1, "c", DefaultMaxEmails+1)
		if len(body) > DefaultMaxBodyBytes {
			t.Fatalf("test body %d bytes, over the body limit", len(body))
		}
		wantError(t, "20,001 emails", b.post(t, body), 413)
		if got := len(storedEvents(t, b.pool)); got != 0 {
			t.Errorf("stored %d rows, want 0", got)
		}
	})
}

// Every effect statement finds the contacts through
// contacts_brevo_email_key_idx, never by scanning the table.
func TestEffectsUseEmailKeyIndex(t *testing.T) {
	t.Parallel()
	pool := schematest.NewPool(t)
	tx, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(t.Context()) }()
	if _, err := tx.Exec(t.Context(), `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{EventListAddition, EventContactUpdated, EventContactDeleted, EventUnsubscribed} {
		events, err := ParseEvents(fmt.Appendf(nil, `{"event":%q,"email":"a@b.c","content":[{"email":"d@e.f","emailBlacklist":true}]}`, name))
		if err != nil {
			t.Fatal(err)
		}
		q, args := statement(&events[0])
		rows, err := tx.Query(t.Context(), "EXPLAIN "+q, args...)
		if err != nil {
			t.Fatalf("EXPLAIN the %s statement: %v", name, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		if !strings.Contains(plan, "contacts_brevo_email_key_idx") || strings.Contains(plan, "Seq Scan on contacts") {
			t.Errorf("the %s statement does not find contacts through contacts_brevo_email_key_idx:\n%s", name, plan)
		}
	}
}

// Readiness does not queue behind webhook work: while another session
// holds the store's lock and many deliveries wait for it, the deliveries
// hold at most one of the pool's connections and /readyz (a ping through
// the same pool) answers 200 at once. Before, every connection of the pool
// was held by a delivery waiting for the lock and /readyz answered 503.
func TestReadyWhileDeliveriesWaitForTheStore(t *testing.T) {
	t.Parallel()
	const deliveries = 20 // more than the pool's 8 connections
	waiting := make(chan struct{}, deliveries)
	b := setup(t, func(c *Config) {
		pool := c.Pool
		c.Ready = func(ctx context.Context) error { return pool.Ping(ctx) }
		c.storeWaitHook = func() { waiting <- struct{}{} }
	})
	holder, err := pgx.Connect(t.Context(), b.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(context.Background())
	if _, err := holder.Exec(t.Context(), `SELECT pg_advisory_lock($1)`, storeLockKey); err != nil {
		t.Fatal(err)
	}

	codes := make([]int, deliveries)
	var wg sync.WaitGroup
	for i := range deliveries {
		wg.Go(func() {
			body := fmt.Appendf(nil, `{"event":"list_addition","email":"r%d@example.com","ts":%d}`, i, i)
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, b.srv.URL+"/webhooks/brevo", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testToken)
			codes[i] = send(t, b.srv.Client(), req).code
		})
	}
	timeout := time.After(30 * time.Second)
	for range deliveries {
		select {
		case <-waiting:
		case <-timeout:
			t.Fatal("the deliveries did not all reach the store")
		}
	}

	start := time.Now()
	r := b.do(t, http.MethodGet, "/readyz", nil, nil)
	if took := time.Since(start); r.code != 200 || took > 2*time.Second {
		t.Errorf("GET /readyz while %d deliveries wait = %d %s in %v, want 200 at once", deliveries, r.code, r.body, took)
	}
	if n := b.pool.Stat().AcquiredConns(); n > 1 {
		t.Errorf("deliveries hold %d pool connections, want at most 1", n)
	}

	if _, err := holder.Exec(t.Context(), `SELECT pg_advisory_unlock($1)`, storeLockKey); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("delivery %d: %d, want 200 once the lock is free", i, c)
		}
	}
	if got := len(storedEvents(t, b.pool)); got != deliveries {
		t.Errorf("stored %d rows, want %d", got, deliveries)
	}
}
