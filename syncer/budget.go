package syncer

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// budget paces the requests of this replica to the CRM: a token bucket of
// its share of the rate limit (replicas share the limit equally), and the
// pauses the CRM imposes: for a while after a 429, or until the
// credentials work again.
type budget struct {
	total   float64       // requests per second for all replicas; 0: no limit
	limiter *rate.Limiter // nil when total is 0
	share   atomic.Int64  // replicas sharing total

	mu     sync.Mutex
	until  time.Time     // rate-limited until
	authCh chan struct{} // non-nil while paused for credentials; closed on resume
}

func newBudget(perSecond float64) *budget {
	b := &budget{total: perSecond}
	b.share.Store(1)
	if perSecond > 0 {
		b.limiter = rate.NewLimiter(rate.Limit(perSecond), 1)
	}
	return b
}

// perSecond is this replica's share, 0 for no limit.
func (b *budget) perSecond() float64 {
	if b.limiter == nil {
		return 0
	}
	return float64(b.limiter.Limit())
}

// errPaused and errHeld explain a request the budget did not let go.
var (
	errPaused = errors.New("sending is paused: the CRM refuses the credentials")
	errHeld   = errors.New("sending is rate limited by the CRM for a while")
)

// Wait is the Pacer's: a token, then no pause in the way (see Pacer).
func (b *budget) Wait(ctx context.Context) error {
	if err := b.take(ctx); err != nil {
		return err
	}
	for {
		wait, paused := b.state()
		switch {
		case paused:
			return &Error{Kind: Unauthorized, Err: errPaused}
		case wait <= 0:
			return nil
		case wait > maxHold:
			return &Error{Kind: RateLimited, Wait: wait, Err: errHeld}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// take waits for a token.
func (b *budget) take(ctx context.Context) error {
	if b.limiter == nil {
		return nil
	}
	return b.limiter.Wait(ctx)
}

// setShare divides the limit among n live replicas; it reports whether the
// share changed.
func (b *budget) setShare(n int) bool {
	n = max(n, 1)
	if old := b.share.Swap(int64(n)); old == int64(n) {
		return false
	}
	if b.limiter != nil {
		b.limiter.SetLimit(rate.Limit(b.total / float64(n)))
	}
	return true
}

// state reports how long sending must wait for a rate limit, and whether it
// is paused for credentials.
func (b *budget) state() (wait time.Duration, paused bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return time.Until(b.until), b.authCh != nil
}

// waitOpen blocks while sending is paused or rate-limited.
func (b *budget) waitOpen(ctx context.Context) error {
	for {
		b.mu.Lock()
		wait, ch := time.Until(b.until), b.authCh
		b.mu.Unlock()
		switch {
		case ch != nil:
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-ch:
			}
		case wait > 0:
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		default:
			return ctx.Err()
		}
	}
}

// rateLimited holds sending back for d.
func (b *budget) rateLimited(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := time.Now().Add(d); t.After(b.until) {
		b.until = t
	}
}

// pauseAuth pauses sending for credentials; it reports whether this call
// started the pause.
func (b *budget) pauseAuth() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.authCh != nil {
		return false
	}
	b.authCh = make(chan struct{})
	return true
}

// resume ends a pause for credentials.
func (b *budget) resume() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.authCh != nil {
		close(b.authCh)
		b.authCh = nil
	}
}

// Pause is whether sending is paused right now, and why.
type Pause struct {
	// Paused: no request goes to the CRM now.
	Paused bool
	// Reason is "unauthorized" (the CRM refuses the credentials) or
	// "rate_limited" (waiting for a 429's reset).
	Reason string
	// Until is when a rate-limit pause ends; zero for unauthorized.
	Until time.Time
}

// pause reads the budget's pause.
func (b *budget) pause() Pause {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.authCh != nil:
		return Pause{Paused: true, Reason: "unauthorized"}
	case time.Now().Before(b.until):
		return Pause{Paused: true, Reason: "rate_limited", Until: b.until}
	}
	return Pause{}
}
