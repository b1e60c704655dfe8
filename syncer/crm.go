package syncer

import (
	"context"
	"errors"
	"time"
)

// CRM is the seam between the syncer and a destination: what the syncer
// needs from one. syncer/brevo implements it for Brevo; a second CRM
// implements the same two calls and sorts its failures into the same four
// kinds.
type CRM interface {
	// Name names the CRM in the error texts written on rows, e.g.
	// "rejected by Brevo: …".
	Name() string
	// Upsert creates c in the CRM or updates it, keyed by its email. It
	// must be idempotent: the syncer delivers at least once. A failure the
	// syncer should act on other than by retrying is an *Error. The syncer
	// has paid for one request from the rate limit; a CRM that needs more
	// for one contact waits on the Pacer it was given (see Paced) for each.
	Upsert(ctx context.Context, c Contact) (Sent, error)
	// Probe makes a read-only call that succeeds when the credentials
	// work; the syncer calls it while sending is paused for Unauthorized.
	Probe(ctx context.Context) error
}

// Mirror is implemented by a CRM that keeps contacts in step after their
// first sync (contract §8). Each call is one request paid for by the
// syncer; more wait on the Pacer.
type Mirror interface {
	// ChangeEmail updates in place the CRM's contact that c was synced as
	// (c.BrevoID, else c.SyncedEmail): its email becomes c.Email, with c's
	// other data, so the CRM never holds two contacts for one person. A
	// contact that unsubscribed (blocklisted in the CRM, or c.Unsubscribed)
	// stays unsubscribed.
	ChangeEmail(ctx context.Context, c Contact) (Sent, error)
	// Remove takes the contacts with these emails out of the lists every
	// synced contact joins; the CRM's contacts are kept. An email that is
	// not in a list is no error.
	Remove(ctx context.Context, emails []string) error
}

// Pacer spends the shared request budget: BREVO_SYNC_RATE_LIMIT, shared by
// the replicas, with the CRM's pauses (a 429's wait, refused credentials).
// Wait returns nil when a request may go; an *Error of kind RateLimited
// (with the wait) or Unauthorized when sending is paused for longer than a
// request should be held; or the context's error.
type Pacer interface {
	Wait(ctx context.Context) error
}

// Paced is implemented by a CRM whose extra requests must share the
// syncer's budget: New gives it the syncer's Pacer.
type Paced interface {
	SetPacer(Pacer)
}

// Sent is a successful upsert.
type Sent struct {
	// ID is the CRM's id of the contact when the CRM told it, else "".
	ID string
	// Status is the answer's HTTP status, for metrics (0 when unknown).
	Status int
	// Note, when set, says what the CRM did differently from what the row
	// asked (e.g. a phone number it refused); it is written on the row
	// (brevo_sync_note).
	Note string
}

// ErrorKind is what a failed CRM call means for the contact it was about.
type ErrorKind int

// The kinds the syncer acts on (contract §2, failure classes).
const (
	// Retryable: 5xx, timeouts, dropped connections, malformed answers.
	// Retried under the retry policy. Any error that is not an *Error is
	// Retryable.
	Retryable ErrorKind = iota
	// Rejected: the CRM refuses this contact (an invalid email or phone, a
	// duplicate identifier). Failed at once; retrying cannot help.
	Rejected
	// RateLimited: wait Error.Wait; not a failed attempt.
	RateLimited
	// Unauthorized: the service's own credentials or account are wrong.
	// Sending pauses until Probe succeeds; nobody is failed or charged.
	Unauthorized
)

// String returns "retryable", "rejected", "rate_limited" or "unauthorized".
func (k ErrorKind) String() string {
	switch k {
	case Retryable:
		return "retryable"
	case Rejected:
		return "rejected"
	case RateLimited:
		return "rate_limited"
	case Unauthorized:
		return "unauthorized"
	}
	return "unknown"
}

// Error is a failed CRM call, sorted into the kind the syncer acts on.
type Error struct {
	Kind ErrorKind
	// Wait is how long to wait before sending again (RateLimited).
	Wait time.Duration
	// Status is the answer's HTTP status, 0 when no answer came.
	Status int
	// Err is the CRM's own error.
	Err error
	// Text is the error as the row shows it ("400 invalid_parameter:
	// Invalid email address"); empty means Err's text.
	Text string
}

func (e *Error) Error() string {
	if e.Text != "" {
		return e.Text
	}
	return e.Err.Error()
}
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of err: an *Error's, else Retryable.
func KindOf(err error) ErrorKind {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind
	}
	return Retryable
}
