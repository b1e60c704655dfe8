package brevotest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// delivery is one webhook POST as the receiver saw it.
type delivery struct {
	auth, contentType string
	body              []byte
}

// receiver starts a webhook receiver answering the n-th delivery (from 1)
// with status(n), and sends every delivery on the returned channel.
func receiver(t *testing.T, status func(n int32) int) (*httptest.Server, <-chan delivery) {
	t.Helper()
	got := make(chan delivery, 100)
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Get("Authorization"), r.Header.Get("Content-Type"), b}
		w.WriteHeader(status(n.Add(1)))
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func always(status int) func(int32) int { return func(int32) int { return status } }

// events decodes every delivery received so far.
func events(t *testing.T, got <-chan delivery, token string) []map[string]any {
	t.Helper()
	var all []map[string]any
	for {
		select {
		case d := <-got:
			if d.auth != "Bearer "+token || d.contentType != "application/json" {
				t.Errorf("delivery headers: Authorization %q, Content-Type %q", d.auth, d.contentType)
			}
			var batch []map[string]any
			if err := json.Unmarshal(d.body, &batch); err != nil {
				t.Fatalf("delivery body %s is not a JSON array: %v", d.body, err)
			}
			all = append(all, batch...)
		default:
			return all
		}
	}
}

func TestWebhookEvents(t *testing.T) {
	t.Parallel()
	recv, got := receiver(t, always(200))
	s := brevotest.New(t, brevotest.Config{WebhookURL: recv.URL, WebhookToken: "tok"})

	start := time.Now().Unix()
	upsert(t, s, `{"email":"Ann@example.com","listIds":[3],"updateEnabled":true}`)
	upsert(t, s, `{"email":"ann@example.com","attributes":{"FIRSTNAME":"Ann"},"listIds":[3,8],"updateEnabled":true}`)
	upsert(t, s, `{"email":"nolist@example.com","updateEnabled":true}`) // created without lists: no event
	upsert(t, s, `{"email":"bad"}`)                                     // rejected: no event
	if err := s.WaitStats(waitCtx(t), func(st brevotest.Stats) bool { return st.WebhooksDelivered >= 3 }); err != nil {
		t.Fatalf("waiting for 3 delivered events: %v", err)
	}

	evs := events(t, got, "tok")
	want := []map[string]any{
		{"id": 1.0, "email": "ann@example.com", "event": "list_addition", "list_id": []any{3.0}, "api_key_name": "brevosync"},
		{"id": 1.0, "event": "contact_updated", "api_key_name": "brevosync",
			"content": []any{map[string]any{"email": "ann@example.com", "attributes": map[string]any{"FIRSTNAME": "Ann"}}}},
		{"id": 1.0, "email": "ann@example.com", "event": "list_addition", "list_id": []any{8.0}, "api_key_name": "brevosync"},
	}
	ignore := cmpopts.IgnoreMapEntries(func(k string, _ any) bool { return k == "key" || k == "date" || k == "ts" })
	if diff := cmp.Diff(want, evs, ignore); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
	listDate := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`)
	isoDate := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	for i, ev := range evs {
		date, _ := ev["date"].(string)
		ts, _ := ev["ts"].(float64)
		if int64(ts) < start || int64(ts) > time.Now().Unix() {
			t.Errorf("event %d ts = %v, want now", i, ev["ts"])
		}
		switch ev["event"] {
		case "list_addition":
			key, _ := ev["key"].(string)
			if !listDate.MatchString(date) || len(key) != 18 {
				t.Errorf("event %d: date %q, key %q; want YYYY-MM-DD hh:mm:ss and 18 hex digits", i, date, key)
			}
		case "contact_updated":
			if !isoDate.MatchString(date) {
				t.Errorf("event %d: date %q, want ISO 8601", i, date)
			}
		}
	}
	if delivered, dropped := s.WebhookStats(); delivered != 3 || dropped != 0 {
		t.Errorf("WebhookStats = %d, %d; want 3, 0", delivered, dropped)
	}
}

func TestWebhookRetry(t *testing.T) {
	t.Parallel()
	recv, got := receiver(t, func(n int32) int {
		if n == 1 {
			return 503
		}
		return 200
	})
	s := brevotest.New(t, brevotest.Config{WebhookURL: recv.URL})
	upsert(t, s, `{"email":"a@example.com","listIds":[1],"updateEnabled":true}`)
	if err := s.WaitStats(waitCtx(t), func(st brevotest.Stats) bool { return st.WebhooksDelivered == 1 }); err != nil {
		t.Fatalf("waiting for the retried delivery: %v", err)
	}
	first, second := <-got, <-got
	if string(first.body) != string(second.body) || first.auth != "" {
		t.Errorf("retry body %s differs from %s, or Authorization %q sent without a token", second.body, first.body, first.auth)
	}
}

func TestWebhookDropped(t *testing.T) {
	t.Parallel()
	recv, got := receiver(t, always(500))
	s := brevotest.New(t, brevotest.Config{WebhookURL: recv.URL})
	upsert(t, s, `{"email":"a@example.com","listIds":[1],"updateEnabled":true}`)
	if err := s.WaitStats(waitCtx(t), func(st brevotest.Stats) bool { return st.WebhooksDropped == 1 }); err != nil {
		t.Fatalf("waiting for the event to be dropped: %v", err)
	}
	if n := len(got); n != 4 {
		t.Errorf("%d delivery attempts, want 4", n)
	}
	if delivered, dropped := s.WebhookStats(); delivered != 0 || dropped != 1 {
		t.Errorf("WebhookStats = %d, %d; want 0, 1", delivered, dropped)
	}
}

func TestSetWebhook(t *testing.T) {
	t.Parallel()
	recv, got := receiver(t, always(204))
	s := brevotest.New(t, brevotest.Config{})
	upsert(t, s, `{"email":"a@example.com","listIds":[1],"updateEnabled":true}`) // no URL: no event
	s.SetWebhook(recv.URL, "t2")
	upsert(t, s, `{"email":"b@example.com","listIds":[1],"updateEnabled":true}`)
	if err := s.WaitStats(waitCtx(t), func(st brevotest.Stats) bool { return st.WebhooksDelivered == 1 }); err != nil {
		t.Fatalf("waiting for delivery: %v", err)
	}
	evs := events(t, got, "t2")
	if len(evs) != 1 || evs[0]["email"] != "b@example.com" {
		t.Errorf("events = %v, want one for b@example.com", evs)
	}
}
