// Package brevotest is a Brevo API simulator served over real HTTP on
// 127.0.0.1. Tests, `brevosync demo` and `brevosync bench` point a
// brevo.Client (or anything else) at [Server.URL].
//
// # Behaviour
//
// Like Brevo's API v3 as far as brevosync uses it:
//
//   - POST /v3/contacts upserts by lower-cased, trimmed email: 201 {"id": N}
//     for a new contact (ids count from 1), 204 for an existing one with
//     "updateEnabled": true (attributes merged, later values win; listIds
//     unioned), 400 duplicate_parameter without it. Invalid emails and
//     phone numbers (attributes.SMS) are 400 invalid_parameter, malformed
//     JSON is 400 bad_request. Every answer carries the x-sib-ratelimit-*
//     headers.
//   - GET /v3/contacts/{email or id}, GET /v3/account,
//     GET /v3/contacts/attributes and
//     POST /v3/contacts/attributes/{category}/{name}.
//   - A missing or wrong api-key header is 401 on every route; unknown
//     routes are 404.
//
// Unlike Brevo, attributes not defined in the account are kept, not dropped.
//
// # Control
//
// Every request is logged ([Server.Requests]) and counted ([Server.Stats]).
// Upserts can be rate limited ([Config.RateLimit]), slowed
// ([Config.Latency]) or made to fail ([Server.Script], [Server.ScriptAll],
// [Server.SetFault]); [Server.WaitUpserts] and [Server.WaitStats] block until
// requests arrive. With [Config.WebhookURL] set, upserts produce Brevo-shaped
// webhook events, delivered in batches by one background goroutine.
//
// A Server is safe for concurrent use and built for throughput: one mutex,
// no goroutine per request besides net/http's own.
package brevotest

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// maxBody caps how much of a request body is read.
const maxBody = 1 << 20

// Config configures a [Server]. The zero value accepts any api-key, answers
// at once and never rate limits.
type Config struct {
	// APIKey is the accepted api-key header. Empty: any non-empty key is
	// accepted (the header must still be present).
	APIKey string
	// Latency is added before answering each upsert that passes the key
	// check and the rate limit.
	Latency time.Duration
	// RateLimit is upserts per second across all callers; 0 turns rate
	// limiting off. The token bucket's burst is max(1, RateLimit); an
	// upsert without a token gets 429 with x-sib-ratelimit-reset set to the
	// whole seconds (at least 1) until a token is available.
	RateLimit float64
	// WebhookURL, when set, receives Brevo-shaped webhook events after
	// successful upserts (see [Server.SetWebhook]).
	WebhookURL string
	// WebhookToken is sent as "Authorization: Bearer <token>" with webhook
	// deliveries; empty sends no Authorization header.
	WebhookToken string
	// Attributes are the account's initial contact attributes. Nil: FIRSTNAME,
	// LASTNAME, EMAIL and SMS, all "normal" "text".
	Attributes []Attribute
	// NoRequestLog keeps the request log empty (counters, Stats and the Wait
	// methods still work). For long benchmarks, where the log would hold
	// every request body.
	NoRequestLog bool
}

// Server is a running Brevo simulator.
type Server struct {
	srv    *http.Server
	url    string
	mux    *http.ServeMux
	noLog  bool
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the webhook sender
	queue  chan webhookEvent

	mu        sync.Mutex
	apiKey    string
	latency   time.Duration
	bucket    bucket
	log       []Request
	logGen    int // incremented by Reset, so late answers don't touch a new log
	stats     Stats
	changed   chan struct{} // closed and cleared on every change while someone waits
	contacts  map[string]*contact
	byID      map[int64]*contact
	nextID    int64
	attrs     []Attribute
	scripts   map[string][]Fault
	scriptAll []Fault
	fault     *Fault
	onUpsert  func(Request)
	hookURL   string
	hookToken string
}

// NewServer starts a simulator on 127.0.0.1 on a free port. Close stops it.
// It panics if it cannot listen, which only happens on a broken machine.
func NewServer(cfg Config) *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("brevotest: listen: %v", err))
	}
	attrs := cfg.Attributes
	if attrs == nil {
		attrs = defaultAttributes()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		url:       "http://" + ln.Addr().String() + "/v3",
		noLog:     cfg.NoRequestLog,
		ctx:       ctx,
		cancel:    cancel,
		queue:     make(chan webhookEvent, webhookQueueSize),
		apiKey:    cfg.APIKey,
		latency:   cfg.Latency,
		bucket:    newBucket(cfg.RateLimit, time.Now()),
		stats:     Stats{ByStatus: map[int]int{}},
		contacts:  map[string]*contact{},
		byID:      map[int64]*contact{},
		attrs:     append([]Attribute(nil), attrs...),
		scripts:   map[string][]Fault{},
		hookURL:   cfg.WebhookURL,
		hookToken: cfg.WebhookToken,
	}
	s.mux = s.routes()
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		// Dropped connections and client timeouts are normal here.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	s.wg.Add(1)
	go s.sendWebhooks()
	go func() { _ = s.srv.Serve(ln) }()
	return s
}

// New is NewServer with Close registered as a cleanup of t.
func New(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := NewServer(cfg)
	t.Cleanup(s.Close)
	return s
}

// URL is the API root, ending in /v3: a brevo.Config.BaseURL.
func (s *Server) URL() string { return s.url }

// Close stops the server: it closes the listener and all connections,
// releases upserts waiting out a latency, and stops the webhook sender
// (undelivered events are lost). It is safe to call more than once.
func (s *Server) Close() {
	s.cancel()
	_ = s.srv.Close()
	s.wg.Wait()
}

// SetAPIKey changes the accepted api-key at runtime (empty: any key), e.g.
// to revoke a key and later restore it.
func (s *Server) SetAPIKey(key string) {
	s.mu.Lock()
	s.apiKey = key
	s.mu.Unlock()
}

// SetLatency changes Config.Latency for upserts that arrive from now on.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.latency = d
	s.mu.Unlock()
}

// SetRateLimit changes Config.RateLimit; the bucket starts full.
func (s *Server) SetRateLimit(perSecond float64) {
	s.mu.Lock()
	s.bucket = newBucket(perSecond, time.Now())
	s.mu.Unlock()
}

// SetWebhook changes Config.WebhookURL and Config.WebhookToken; an empty url
// stops producing events. Events already queued go to the new URL.
func (s *Server) SetWebhook(url, token string) {
	s.mu.Lock()
	s.hookURL, s.hookToken = url, token
	s.mu.Unlock()
}

// OnUpsert sets a hook called with each upsert request as it arrives, after
// it is logged and before it is answered, on the request's goroutine. The
// answer waits for the hook to return. Nil removes the hook.
func (s *Server) OnUpsert(fn func(Request)) {
	s.mu.Lock()
	s.onUpsert = fn
	s.mu.Unlock()
}

// authorizedLocked reports whether key is accepted.
func (s *Server) authorizedLocked(key string) bool {
	return key != "" && (s.apiKey == "" || key == s.apiKey)
}
