package brevotest

import (
	"net/http"
	"strconv"
	"time"
)

// Fault makes one upsert misbehave. Faults apply only to POST /v3/contacts,
// after the key check and the rate limit; use SetAPIKey to make every API
// route answer 401. A faulted upsert does not change any contact.
type Fault struct {
	// Status is answered with a Brevo-style JSON error body (or Body).
	// A 2xx Status with a Body simulates a malformed success, e.g.
	// Fault{Status: 201, Body: "{"}.
	// 0 with Drop false: after Latency, the upsert is handled normally,
	// which is how to simulate a request that times out at the client but
	// still takes effect.
	Status int
	// Body replaces the error body, sent as is (it need not be JSON).
	Body string
	// Reset is sent as x-sib-ratelimit-reset, in (possibly fractional)
	// seconds, with a 429 Status. 0 leaves the header out.
	Reset time.Duration
	// Latency is waited before answering (or dropping), on top of
	// Config.Latency; use it to exceed a client's timeout.
	Latency time.Duration
	// Drop closes the connection without answering.
	Drop bool
}

// answers reports whether f replaces the normal answer.
func (f Fault) answers() bool { return f.Drop || f.Status != 0 }

// Script queues faults for upserts of email (compared lower-cased and
// trimmed): each upsert of that email consumes the next one, then upserts
// behave normally again. Calls append to the queue.
func (s *Server) Script(email string, faults ...Fault) {
	email = normalizeEmail(email)
	s.mu.Lock()
	s.scripts[email] = append(s.scripts[email], faults...)
	s.mu.Unlock()
}

// ScriptAll queues faults consumed in order by the next upserts of any email
// that has no Script fault pending. Calls append to the queue.
func (s *Server) ScriptAll(faults ...Fault) {
	s.mu.Lock()
	s.scriptAll = append(s.scriptAll, faults...)
	s.mu.Unlock()
}

// SetFault makes every upsert get f, ahead of and without consuming any
// scripted faults, until SetFault(nil).
func (s *Server) SetFault(f *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == nil {
		s.fault = nil
		return
	}
	c := *f
	s.fault = &c
}

// nextFaultLocked picks the fault for an upsert of email: the SetFault one,
// else the email's next scripted one, else the next ScriptAll one.
func (s *Server) nextFaultLocked(email string) (Fault, bool) {
	if s.fault != nil {
		return *s.fault, true
	}
	if q := s.scripts[email]; len(q) > 0 {
		if len(q) == 1 {
			delete(s.scripts, email)
		} else {
			s.scripts[email] = q[1:]
		}
		return q[0], true
	}
	if len(s.scriptAll) > 0 {
		f := s.scriptAll[0]
		s.scriptAll = s.scriptAll[1:]
		return f, true
	}
	return Fault{}, false
}

// writeFault answers f (which answers()), except for Drop, handled by the
// caller.
func writeFault(w http.ResponseWriter, f Fault) {
	if f.Status == http.StatusTooManyRequests {
		if f.Reset > 0 {
			w.Header().Set("X-Sib-Ratelimit-Reset", strconv.FormatFloat(f.Reset.Seconds(), 'f', -1, 64))
		} else {
			w.Header().Del("X-Sib-Ratelimit-Reset")
		}
	}
	if f.Body == "" {
		writeError(w, f.Status, errorCode(f.Status), http.StatusText(f.Status))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.Status)
	_, _ = w.Write([]byte(f.Body))
}
