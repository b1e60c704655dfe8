package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// loadEvent is one distinct webhook event of the load test.
type loadEvent struct {
	body    string // as first delivered
	reshape string // the same event written differently (key order, spacing): a redelivery
}

// TestWebhooksUnderLoad delivers 10,000 distinct events in batches of up to
// 500, with 20% redelivered (half inside the batch that already holds the
// event, half in another batch, some of those written differently), from 4
// concurrent senders over real HTTP. Every delivery must be answered 2xx,
// every event stored exactly once, and the contacts must show the
// contract's effects.
func TestWebhooksUnderLoad(t *testing.T) {
	t.Parallel()
	webhookLoad(t, 4)
}

// TestWebhooksUnderLoadOneSender is TestWebhooksUnderLoad with the batches
// sent one after another: the same events, duplicates and checks, without
// concurrent deliveries.
func TestWebhooksUnderLoadOneSender(t *testing.T) {
	t.Parallel()
	webhookLoad(t, 1)
}

// webhookLoad runs the load test with the given number of concurrent
// senders.
//
// The contacts are in four groups, and each contact only ever gets events of
// its group's kind, so the final state does not depend on which concurrent
// batch is applied first:
//
//	confirmed     list_addition                     brevo_confirmed_at set
//	blocklisted   contact_updated, emailBlacklist   brevo_confirmed_at and brevo_unsubscribed_at set
//	unsubscribed  unsubscribed                      brevo_unsubscribed_at set
//	deleted       contact_deleted                   back to New, Brevo's id and confirmation cleared
//
// plus events with no effect (opened) and for emails no contact has.
func webhookLoad(t *testing.T, senders int) {
	const (
		contacts   = 2000 // 500 per group
		perContact = 4
		opened     = 1000 // "opened" events for known contacts: no effect
		unknown    = 1000 // list_addition for emails no contact has
		distinct   = contacts*perContact + opened + unknown
		redeliver  = distinct / 5
		batchSize  = 500
	)
	start := time.Now()
	b := setup(t)
	exec(t, b.pool, `INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status, brevo_contact_id, brevo_synced_at)
		SELECT 'Load' || i || '@Example.com', 'Complete', 'Complete', '42', now() - interval '1 hour'
		FROM generate_series(0, $1 - 1) AS i`, contacts)

	// The distinct events. Emails are sent lower-cased, the rows are mixed
	// case: matching is case-insensitive.
	var events []loadEvent
	ts := 1700000000
	for i := range contacts {
		email := fmt.Sprintf("load%d@example.com", i)
		for range perContact {
			ts++
			var body, reshape string
			switch i % 4 {
			case 0:
				body = fmt.Sprintf(`{"id":1,"email":%q,"event":"list_addition","key":"k","list_id":[7],"date":"2024-01-01 00:00:00","ts":%d}`, email, ts)
				reshape = fmt.Sprintf(`{ "ts": %d, "date": "2024-01-01 00:00:00", "list_id": [ 7 ], "key": "k", "event": "list_addition", "email": %q, "id": 1 }`, ts, email)
			case 1:
				body = fmt.Sprintf(`{"id":2,"event":"contact_updated","date":"2024-01-01 00:00:00","ts":%d,"content":[{"email":%q,"emailBlacklist":true}]}`, ts, email)
				reshape = fmt.Sprintf(`{"content":[{"emailBlacklist":true,"email":%q}],"ts":%d,"date":"2024-01-01 00:00:00","event":"contact_updated","id":2}`, email, ts)
			case 2:
				body = fmt.Sprintf(`{"id":3,"camp_id":9,"email":%q,"event":"unsubscribed","list_id":[7],"ts":%d}`, email, ts)
				reshape = fmt.Sprintf(`{"ts":%d,"list_id":[7],"event":"unsubscribed","email":%q,"camp_id":9,"id":3}`, ts, email)
			case 3:
				body = fmt.Sprintf(`{"id":4,"email":%q,"event":"contact_deleted","key":"k","list_id":[7],"ts":%d}`, email, ts)
				reshape = fmt.Sprintf(`{"ts":%d,"list_id":[7],"key":"k","event":"contact_deleted","email":%q,"id":4}`, ts, email)
			}
			events = append(events, loadEvent{body, reshape})
		}
	}
	for i := range opened {
		ts++
		body := fmt.Sprintf(`{"id":5,"email":"load%d@example.com","event":"opened","message-id":"<m%d@x>","ts":%d}`, i%contacts, i, ts)
		events = append(events, loadEvent{body, body})
	}
	for i := range unknown {
		ts++
		body := fmt.Sprintf(`{"id":6,"email":"nobody%d@example.com","event":"list_addition","list_id":[7],"ts":%d}`, i, ts)
		events = append(events, loadEvent{body, body})
	}

	// Shuffle, cut into batches, then mix in the redeliveries: the first
	// half into the batch already holding the event, the second half into
	// another batch, every other one reshaped.
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	nBatches := (distinct + redeliver + 449) / 450 // leave room for the redeliveries' random spread
	batches := make([][]string, nBatches)
	home := make([]int, len(events))
	for i, ev := range events {
		home[i] = i % nBatches
		batches[home[i]] = append(batches[home[i]], ev.body)
	}
	for k, i := range rng.Perm(len(events))[:redeliver] {
		body := events[i].body
		if k%2 == 1 {
			body = events[i].reshape
		}
		target := home[i]
		if k >= redeliver/2 {
			target = (target + 1 + rng.IntN(nBatches-1)) % nBatches
		}
		batches[target] = append(batches[target], body)
	}
	for _, batch := range batches {
		rng.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
		if len(batch) > batchSize {
			t.Fatalf("a batch of %d events, over Brevo's %d", len(batch), batchSize)
		}
	}

	// Deliver from concurrent senders.
	type answer struct {
		code                      int
		body                      string
		events, stored, duplicate int
	}
	answers := make([]answer, len(batches))
	work := make(chan int)
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for i := range work {
				body := []byte("[" + strings.Join(batches[i], ",") + "]")
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, b.srv.URL+"/webhooks/brevo", bytes.NewReader(body))
				if err != nil {
					t.Error(err)
					continue
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+testToken)
				resp, err := b.srv.Client().Do(req)
				if err != nil {
					t.Errorf("batch %d: %v", i, err)
					continue
				}
				rb, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				a := answer{code: resp.StatusCode, body: string(rb)}
				var counts map[string]int
				if json.Unmarshal(rb, &counts) == nil {
					a.events, a.stored, a.duplicate = counts["events"], counts["stored"], counts["duplicates"]
				}
				answers[i] = a
			}
		})
	}
	sendStart := time.Now()
	for i := range batches {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Logf("%d events (%d distinct) in %d batches from %d senders delivered in %v",
		distinct+redeliver, distinct, len(batches), senders, time.Since(sendStart).Round(time.Millisecond))

	var sent, stored, duplicates int
	for i, a := range answers {
		if a.code < 200 || a.code > 299 {
			t.Errorf("batch %d answered %d %s, want 2xx", i, a.code, a.body)
		}
		if a.events != len(batches[i]) {
			t.Errorf("batch %d: answer counts %d events, sent %d", i, a.events, len(batches[i]))
		}
		sent += len(batches[i])
		stored += a.stored
		duplicates += a.duplicate
	}
	if sent != distinct+redeliver || stored != distinct || duplicates != redeliver {
		t.Errorf("sent %d events: answers say %d stored, %d duplicates; want %d and %d", sent, stored, duplicates, distinct, redeliver)
	}

	// Stored once each, with the right effect.
	effects := map[string]int{}
	rows, err := b.pool.Query(t.Context(), `SELECT effect, count(*) FROM brevosync_webhook_events GROUP BY effect`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e string
		var n int
		if err := rows.Scan(&e, &n); err != nil {
			t.Fatal(err)
		}
		effects[e] = n
	}
	rows.Close()
	perGroup := contacts / 4 * perContact
	wantEffects := map[string]int{
		EffectConfirmed:    perGroup,
		EffectUnsubscribed: 2 * perGroup, // blocklisted and unsubscribed
		EffectDeleted:      perGroup,
		EffectNone:         opened,
		EffectUnknownEmail: unknown,
	}
	if diff := cmp.Diff(wantEffects, effects); diff != "" {
		t.Errorf("stored events by effect (-want +got):\n%s", diff)
	}

	// The contacts, by group: (status, processing, Brevo id, synced,
	// confirmed, unsubscribed) → count.
	type state struct {
		Group                          int
		Status, Processing, BrevoID    string
		Synced, Confirmed, Unsubscribe bool
	}
	got := map[state]int{}
	rows, err = b.pool.Query(t.Context(), `SELECT substr(split_part(email, '@', 1), 5)::int % 4,
		brevo_sync_status::text, coalesce(brevo_processing_status::text, '-'), coalesce(brevo_contact_id, '-'),
		brevo_synced_at IS NOT NULL, brevo_confirmed_at IS NOT NULL, brevo_unsubscribed_at IS NOT NULL, count(*)
		FROM contacts GROUP BY 1, 2, 3, 4, 5, 6, 7`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s state
		var n int
		if err := rows.Scan(&s.Group, &s.Status, &s.Processing, &s.BrevoID, &s.Synced, &s.Confirmed, &s.Unsubscribe, &n); err != nil {
			t.Fatal(err)
		}
		got[s] = n
	}
	rows.Close()
	want := map[state]int{
		{0, "Complete", "Complete", "42", true, true, false}: contacts / 4, // confirmed
		{1, "Complete", "Complete", "42", true, true, true}:  contacts / 4, // blocklisted
		{2, "Complete", "Complete", "42", true, false, true}: contacts / 4, // unsubscribed
		{3, "New", "-", "-", true, false, false}:             contacts / 4, // deleted; synced_at kept as history
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("contacts by group (-want +got):\n%s", diff)
	}
	t.Logf("test took %v", time.Since(start).Round(time.Millisecond))
}
