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
//     JSON is 400 bad_request. An attributes.SMS that another contact holds
//     (compared without a leading + or 00) is 400 duplicate_parameter
//     "Unable to create contact, SMS is already associated with another
//     Contact" ("Unable to update contact, …" for an update) with
//     metadata.duplicate_identifiers ["SMS"], as Brevo keeps SMS unique.
//     emailBlacklisted and smsBlacklisted, when present, are applied.
//   - GET /v3/contacts/{identifier} with optional
//     ?identifierType=email_id|contact_id (without it: an email, else a
//     numeric contact id): the contact with its real emailBlacklisted and
//     smsBlacklisted, or 404 document_not_found.
//   - GET /v3/contacts?limit=&offset=&modifiedSince=&sort=: {"contacts":
//     [...], "count": N}, contacts with modifiedAt at or after modifiedSince
//     (RFC 3339, e.g. 2026-01-02T15:04:05.000Z) sorted by modifiedAt, newest
//     first unless sort=asc; limit 50 by default, at most 1000. Bad
//     parameters are 400. Upserts, PUTs, imports and list changes update
//     modifiedAt.
//   - PUT /v3/contacts/{identifier} (identifier as for GET) with attributes
//     (merged; attributes.EMAIL changes the email, 400 duplicate_parameter
//     "Unable to update contact, email is already associated with another
//     Contact" if another contact has it), emailBlacklisted, smsBlacklisted,
//     listIds (added) and unlinkListIds (removed): 204, or 404
//     document_not_found. As Brevo documents, changing the email of an
//     email-blocklisted contact without setting emailBlacklisted removes
//     the blocklisting ([Stats.Resubscribed]).
//   - POST /v3/contacts/import with jsonBody (rows {"email", "attributes"}),
//     listIds, notifyUrl, updateExistingContacts (default true),
//     emailBlacklist, smsBlacklist, emptyContactsAttributes and
//     disableNotification: 202 {"processId": N} (process ids count from 1).
//     fileBody and fileUrl are 400 (only jsonBody is simulated), a body over
//     10 MB is 400 out_of_range. Imports run in the background one at a
//     time in arrival order, at [Config.ImportRowsPerSecond]: invalid
//     emails, emails repeated within the import (after the first) and SMS
//     numbers held by another contact are rejected into the process's
//     reports; other rows create contacts, or update them like an upsert
//     (unless updateExistingContacts is false), and join the listIds.
//     Blank or null attribute values are skipped, or erase the attribute
//     with emptyContactsAttributes; emailBlacklist and smsBlacklist
//     blocklist every imported contact; disableNotification has no effect.
//     When an import ends, its notifyUrl gets a POST with an empty body and
//     the URL as given, as from Brevo.
//   - GET /v3/processes/{id} and GET /v3/processes (limit 10 by default, at
//     most 50; offset; sort): {"id", "name": "IMPORTUSER", "status", "info"}
//     with status queued, in_process, completed, failed or cancelled, and
//     info.import's report URLs once completed (a URL only for a report
//     with rows). An unknown id is 404 invalid_parameter "processId is
//     invalid". Report URLs, outside /v3 and needing no api-key, serve a
//     CSV: a header line EMAIL, then one rejected email a line.
//   - POST /v3/contacts/lists/{listId}/contacts/add and …/remove with
//     exactly one of {"emails": [...]} and {"ids": [...]}, at most 150
//     (more is 400 out_of_range): 201 {"contacts": {"success": [...],
//     "failure": [...]}}. Adding succeeds for existing contacts not yet in
//     the list, removing for contacts in it. Every positive list id exists
//     unless [Config.Lists] is set; other lists are 404 document_not_found.
//   - GET /v3/account, GET /v3/contacts/attributes and
//     POST /v3/contacts/attributes/{category}/{name}.
//   - A missing or wrong api-key header is 401 on every route but the
//     report downloads; unknown routes are 404.
//
// Rate limits, as Brevo's: every endpoint under /v3/contacts shares one
// per-second limit ([Config.RateLimit]) and always answers with the
// x-sib-ratelimit-limit, -remaining and -reset headers; GET /v3/processes
// and GET /v3/processes/{id} share an hourly one ([Config.ProcessesPerHour]).
// A request over a limit is 429 too_many_requests with x-sib-ratelimit-reset
// the whole seconds until it would be admitted.
//
// Unlike Brevo, attributes not defined in the account are kept, not dropped,
// list ids given to upserts, PUTs and imports are not checked, contacts
// without an email cannot be created, and only the webhook events of
// upserts are produced.
//
// # Control
//
// Every request is logged ([Server.Requests]) and counted ([Server.Stats]).
// Upserts can be slowed ([Config.Latency]) or made to fail ([Server.Script],
// [Server.ScriptAll], [Server.SetFault]); imports can be slowed
// ([Server.SetImportSpeed]) or made to fail ([Server.FailNextImport]), and
// their reports broken ([Server.BreakReports]). [Server.WaitUpserts],
// [Server.WaitStats] and [Server.WaitProcess] block until something
// happens. With [Config.WebhookURL] set, upserts produce Brevo-shaped
// webhook events, delivered in batches by one background goroutine.
//
// A Server is safe for concurrent use and built for throughput: one mutex,
// no goroutine per request besides net/http's own. Background goroutines
// (webhooks; imports and their notifications while there are some) end at
// [Server.Close].
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

// maxBody caps how much of a request body is read, except for imports.
const maxBody = 1 << 20

// Config configures a [Server]. The zero value accepts any api-key, answers
// at once, never rate limits and imports 20,000 rows a second.
type Config struct {
	// APIKey is the accepted api-key header. Empty: any non-empty key is
	// accepted (the header must still be present).
	APIKey string
	// Latency is added before answering each upsert that passes the key
	// check and the rate limit.
	Latency time.Duration
	// RateLimit is requests per second across all callers to the endpoints
	// under /v3/contacts (upserts, contact reads and updates, imports,
	// lists, attributes); 0 turns rate limiting off. The token bucket's
	// burst is max(1, RateLimit); a request without a token gets 429 with
	// x-sib-ratelimit-reset set to the whole seconds (at least 1) until a
	// token is available.
	RateLimit float64
	// ProcessesPerHour is requests an hour to GET /v3/processes and
	// GET /v3/processes/{id} (Brevo's "all other endpoints" limit, 100 on
	// general plans); 0 turns it off. The bucket holds ProcessesPerHour
	// tokens and refills continuously; a request without a token gets 429
	// with x-sib-ratelimit-reset the whole seconds until the next token.
	ProcessesPerHour int
	// ImportRowsPerSecond is how fast imports are processed; 0 is 20,000
	// rows a second.
	ImportRowsPerSecond float64
	// Lists, when non-nil, are the account's only list ids for the list
	// endpoints; nil makes every positive id a list.
	Lists []int64
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
	url    string // the API root, ending in /v3
	base   string // scheme and host, for report URLs
	mux    *http.ServeMux
	class  map[string]routeClass // by route pattern
	noLog  bool
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // background goroutines
	queue  chan webhookEvent

	mu         sync.Mutex
	closed     bool // set by Close: start no more goroutines
	apiKey     string
	latency    time.Duration
	bucket     bucket // the /v3/contacts limit
	procBucket bucket // the /v3/processes limit
	log        []Request
	logGen     int // incremented by Reset, so late answers don't touch a new log
	stats      Stats
	changed    chan struct{} // closed and cleared on every change while someone waits
	contacts   map[string]*contact
	byID       map[int64]*contact
	bySMS      map[string]*contact // by smsKey
	nextID     int64
	lists      map[int64]bool // nil: every positive id
	attrs      []Attribute
	scripts    map[string][]Fault
	scriptAll  []Fault
	fault      *Fault
	onUpsert   func(Request)
	hookURL    string
	hookToken  string
	imports    importer
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
	var lists map[int64]bool
	if cfg.Lists != nil {
		lists = map[int64]bool{}
		for _, id := range cfg.Lists {
			lists[id] = true
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	now := time.Now()
	s := &Server{
		url:        "http://" + ln.Addr().String() + "/v3",
		base:       "http://" + ln.Addr().String(),
		noLog:      cfg.NoRequestLog,
		ctx:        ctx,
		cancel:     cancel,
		queue:      make(chan webhookEvent, webhookQueueSize),
		apiKey:     cfg.APIKey,
		latency:    cfg.Latency,
		bucket:     newBucket(cfg.RateLimit, now),
		procBucket: newHourlyBucket(cfg.ProcessesPerHour, now),
		stats:      Stats{ByStatus: map[int]int{}},
		contacts:   map[string]*contact{},
		byID:       map[int64]*contact{},
		bySMS:      map[string]*contact{},
		lists:      lists,
		attrs:      append([]Attribute(nil), attrs...),
		scripts:    map[string][]Fault{},
		hookURL:    cfg.WebhookURL,
		hookToken:  cfg.WebhookToken,
		imports:    newImporter(cfg.ImportRowsPerSecond),
	}
	s.mux, s.class = s.routes()
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
// (undelivered events are lost), the import processing (imports stay as
// they are) and import notifications. It is safe to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	_ = s.srv.Close()
	s.wg.Wait()
}

// goLocked runs fn on a background goroutine that Close waits for, unless
// the server is closing; it reports whether fn was started.
func (s *Server) goLocked(fn func()) bool {
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return true
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

// SetProcessesPerHour changes Config.ProcessesPerHour; the bucket starts
// full.
func (s *Server) SetProcessesPerHour(n int) {
	s.mu.Lock()
	s.procBucket = newHourlyBucket(n, time.Now())
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
