package brevotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"
)

// Webhook delivery limits.
const (
	webhookQueueSize = 10_000
	webhookBatchSize = 500 // Brevo's batch maximum
	webhookAttempts  = 4
	webhookBackoff   = 50 * time.Millisecond // doubled after each failed attempt
	webhookTimeout   = 5 * time.Second
	webhookID        = 1           // Brevo's "id": the webhook's id
	webhookKeyName   = "brevosync" // "api_key_name": the API key behind the change
)

// webhookEvent is a queued event, rendered to JSON at delivery.
type webhookEvent struct {
	kind  string // "list_addition" or "contact_updated"
	email string
	lists []int64
	attrs map[string]any
	at    time.Time
}

// enqueueLocked queues ev for delivery when a webhook URL is set, or counts
// it dropped when the queue is full.
func (s *Server) enqueueLocked(ev webhookEvent) {
	if s.hookURL == "" {
		return
	}
	ev.at = time.Now()
	select {
	case s.queue <- ev:
		s.stats.WebhooksPending++
	default:
		s.stats.WebhooksDropped++
	}
}

// WebhookStats returns how many webhook events were delivered (answered 2xx)
// and dropped (queue full, or delivery failed after a few retries); the
// same as Stats().WebhooksDelivered and WebhooksDropped.
func (s *Server) WebhookStats() (delivered, dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.WebhooksDelivered, s.stats.WebhooksDropped
}

// sendWebhooks delivers queued events, as JSON arrays of up to 500, until
// the server closes.
func (s *Server) sendWebhooks() {
	defer s.wg.Done()
	hc := &http.Client{Timeout: webhookTimeout}
	for {
		var batch []webhookEvent
		select {
		case <-s.ctx.Done():
			return
		case ev := <-s.queue:
			batch = append(batch, ev)
		}
	fill:
		for len(batch) < webhookBatchSize {
			select {
			case ev := <-s.queue:
				batch = append(batch, ev)
			default:
				break fill
			}
		}
		ok := s.deliver(hc, batch)
		s.mu.Lock()
		if ok {
			s.stats.WebhooksDelivered += len(batch)
		} else {
			s.stats.WebhooksDropped += len(batch)
		}
		s.stats.WebhooksPending = max(0, s.stats.WebhooksPending-len(batch))
		s.broadcastLocked()
		s.mu.Unlock()
	}
}

// deliver POSTs batch, retrying failures with a short backoff.
func (s *Server) deliver(hc *http.Client, batch []webhookEvent) bool {
	body, err := json.Marshal(renderEvents(batch))
	if err != nil {
		return false
	}
	backoff := webhookBackoff
	for attempt := range webhookAttempts {
		if attempt > 0 {
			if !s.wait(backoff) {
				return false
			}
			backoff *= 2
		}
		s.mu.Lock()
		url, token := s.hookURL, s.hookToken
		s.mu.Unlock()
		if url == "" {
			return false
		}
		if post(s.ctx, hc, url, token, body) {
			return true
		}
	}
	return false
}

// post sends one delivery and reports whether it was answered 2xx.
func post(ctx context.Context, hc *http.Client, url, token string, body []byte) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "brevotest-webhook")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode <= 299
}

// listAddition is Brevo's "Contact added to list" event.
type listAddition struct {
	ID         int     `json:"id"`
	Email      string  `json:"email"`
	Event      string  `json:"event"`
	Key        string  `json:"key"`
	ListID     []int64 `json:"list_id"`
	Date       string  `json:"date"`
	TS         int64   `json:"ts"`
	APIKeyName string  `json:"api_key_name"`
}

// contactUpdated is Brevo's "Contact updated" event as observed in practice:
// no top-level email, the changes in content[].
type contactUpdated struct {
	ID         int              `json:"id"`
	Event      string           `json:"event"`
	Date       string           `json:"date"`
	TS         int64            `json:"ts"`
	Content    []updatedContact `json:"content"`
	APIKeyName string           `json:"api_key_name"`
}

type updatedContact struct {
	Email      string         `json:"email"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

func renderEvents(batch []webhookEvent) []any {
	out := make([]any, 0, len(batch))
	for _, ev := range batch {
		switch ev.kind {
		case "list_addition":
			out = append(out, listAddition{
				ID: webhookID, Email: ev.email, Event: ev.kind, Key: randomKey(),
				ListID: ev.lists, Date: ev.at.In(brevoZone()).Format(time.DateTime),
				TS: ev.at.Unix(), APIKeyName: webhookKeyName,
			})
		case "contact_updated":
			out = append(out, contactUpdated{
				ID: webhookID, Event: ev.kind, Date: ev.at.UTC().Format("2006-01-02T15:04:05.000Z"),
				TS: ev.at.Unix(), APIKeyName: webhookKeyName,
				Content: []updatedContact{{Email: ev.email, Attributes: ev.attrs}},
			})
		}
	}
	return out
}

func randomKey() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// brevoZone is the zone of Brevo's "date" fields (CET/CEST), or fixed CET
// when the machine has no zone database.
var brevoZone = sync.OnceValue(func() *time.Location {
	if loc, err := time.LoadLocation("Europe/Paris"); err == nil {
		return loc
	}
	return time.FixedZone("CET", 3600)
})
