package brevotest

import (
	"bytes"
	"context"
	"maps"
	"net/http"
	"strings"
	"time"
)

// Request is one logged request.
type Request struct {
	// At is when the request arrived.
	At time.Time
	// Method and Path are the request's method and URL path.
	Method, Path string
	// Header is the request's header.
	Header http.Header
	// Body is the request body (at most 1 MiB; for imports, 10 MiB and one
	// byte).
	Body []byte
	// Email is the lower-cased, trimmed email of an upsert body, or of a
	// PUT's identifier when it is an email; empty for other requests and
	// unparsable bodies.
	Email string
	// Status is the status answered: 0 while unanswered, or when the
	// connection was dropped.
	Status int
}

// isUpsert reports whether r is POST /v3/contacts.
func (r Request) isUpsert() bool {
	return r.Method == http.MethodPost && r.Path == "/v3/contacts"
}

func (r Request) clone() Request {
	r.Header = r.Header.Clone()
	r.Body = bytes.Clone(r.Body)
	return r
}

// Stats counts requests since the server started or was Reset.
type Stats struct {
	// Requests counts all requests, upserts included.
	Requests int
	// Upserts counts POST /v3/contacts requests received.
	Upserts int
	// Answered counts upserts answered or dropped, counted just before the
	// answer is sent: a client holding its answer sees it counted.
	Answered int
	// Created and Updated count upserts answered 201 and 204.
	Created, Updated int
	// RateLimited counts requests refused by a rate limit, the /v3/contacts
	// one or the /v3/processes one (not 429 faults).
	RateLimited int
	// Faulted counts upserts answered by a Fault with a Status or Drop.
	Faulted int
	// ByStatus counts upsert answers by status; 0 counts dropped connections.
	ByStatus map[int]int
	// WebhooksDelivered counts webhook events answered 2xx by the receiver.
	WebhooksDelivered int
	// WebhooksDropped counts webhook events given up on: the queue was full
	// or every delivery attempt failed.
	WebhooksDropped int
	// WebhooksPending counts webhook events queued or being delivered.
	WebhooksPending int
	// ByRoute counts requests by route pattern, as received (refused ones
	// included), e.g. "POST /v3/contacts", "PUT /v3/contacts/{identifier}",
	// "POST /v3/contacts/import", "GET /v3/processes/{id}",
	// "GET /reports/{id}/{file}". Unknown routes are not counted. Nil until
	// a request is counted.
	ByRoute map[string]int
	// ProcessRequests counts requests to GET /v3/processes and
	// GET /v3/processes/{id}, refused ones included.
	ProcessRequests int
	// UpsertsWithBlacklistFlags counts upserts whose body set
	// emailBlacklisted or smsBlacklisted (true or false).
	UpsertsWithBlacklistFlags int
	// Resubscribed counts contacts whose email blocklisting was removed
	// through the API: by a PUT that changed the email without setting
	// emailBlacklisted (Brevo's documented side effect), or by an upsert or
	// PUT with "emailBlacklisted": false. SetBlacklisted is not counted.
	Resubscribed int
	// Imports counts imports accepted (answered 202).
	Imports int
	// ImportedRows counts import rows applied: a contact created, or
	// updated (attributes, lists, blocklisting). Rejected rows are not
	// counted.
	ImportedRows int
	// ImportsFinished counts imports that ended: completed, failed or
	// cancelled.
	ImportsFinished int
	// OverlappingImports counts imports accepted while another one was
	// queued or in process (Brevo warns that simultaneous imports get
	// stuck).
	OverlappingImports int
	// ImportsWithBlacklistFlags counts imports accepted with emailBlacklist,
	// smsBlacklist or emptyContactsAttributes true.
	ImportsWithBlacklistFlags int
	// ImportNotifications counts notifyUrl calls answered 2xx.
	ImportNotifications int
	// ImportNotificationsFailed counts notifyUrl calls given up on after
	// every attempt failed (see Process.NotifyError).
	ImportNotificationsFailed int
}

// logLocked appends r to the log and returns its index and the log's
// generation, for setStatusLocked. It wakes waiters.
func (s *Server) logLocked(r Request) (idx, gen int) {
	s.broadcastLocked()
	if s.noLog {
		return -1, s.logGen
	}
	s.log = append(s.log, r)
	return len(s.log) - 1, s.logGen
}

// setStatusLocked records the answer to the request logLocked returned
// idx and gen for.
func (s *Server) setStatusLocked(idx, gen, status int) {
	if idx >= 0 && gen == s.logGen && idx < len(s.log) {
		s.log[idx].Status = status
	}
}

// answeredLocked records the answer to an upsert and wakes waiters.
func (s *Server) answeredLocked(idx, gen, status int) {
	s.setStatusLocked(idx, gen, status)
	s.stats.Answered++
	s.stats.ByStatus[status]++
	s.broadcastLocked()
}

// countRouteLocked counts a request to the route pattern.
func (s *Server) countRouteLocked(pattern string) {
	if s.stats.ByRoute == nil {
		s.stats.ByRoute = map[string]int{}
	}
	s.stats.ByRoute[pattern]++
}

// broadcastLocked wakes everyone in WaitStats.
func (s *Server) broadcastLocked() {
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// Requests returns copies of all logged requests in arrival order.
func (s *Server) Requests() []Request {
	return s.filter(func(Request) bool { return true })
}

// Upserts returns copies of the logged POST /v3/contacts requests in
// arrival order, faulted and refused ones included.
func (s *Server) Upserts() []Request {
	return s.filter(Request.isUpsert)
}

// UpsertsFor returns the logged upserts whose body had email (compared
// lower-cased and trimmed).
func (s *Server) UpsertsFor(email string) []Request {
	email = normalizeEmail(email)
	return s.filter(func(r Request) bool { return r.isUpsert() && r.Email == email })
}

func (s *Server) filter(keep func(Request) bool) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.log {
		if keep(r) {
			out = append(out, r.clone())
		}
	}
	return out
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statsLocked()
}

func (s *Server) statsLocked() Stats {
	st := s.stats
	st.ByStatus = maps.Clone(s.stats.ByStatus)
	st.ByRoute = maps.Clone(s.stats.ByRoute)
	return st
}

// Reset empties the request log and zeroes the counters, webhook and
// import counters included. Contacts, attributes, processes (imports go on),
// faults, settings and queued webhook events are kept.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
	s.logGen++
	s.stats = Stats{ByStatus: map[int]int{}, WebhooksPending: s.stats.WebhooksPending} // queued events are kept
	s.broadcastLocked()
}

// WaitUpserts blocks until at least n upserts have been received (counted
// on arrival, before latency, faults or the answer), or ctx ends.
func (s *Server) WaitUpserts(ctx context.Context, n int) error {
	return s.WaitStats(ctx, func(st Stats) bool { return st.Upserts >= n })
}

// WaitStats blocks until cond, called with the counters after every change,
// returns true, or ctx ends (returning ctx's error). For example, to wait until three upserts have been answered:
//
//	err := s.WaitStats(ctx, func(st brevotest.Stats) bool { return st.Answered >= 3 })
func (s *Server) WaitStats(ctx context.Context, cond func(Stats) bool) error {
	for {
		s.mu.Lock()
		st := s.statsLocked()
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		changed := s.changed
		s.mu.Unlock()
		if cond(st) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// normalizeEmail is how contacts are keyed: lower-cased and trimmed.
func normalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}
