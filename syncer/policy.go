package syncer

import (
	"math/rand/v2"
	"time"
)

// RetryPolicy decides what a failed attempt does to a contact (contract §2):
// a Rejected failure, or one after MaxRetries retries, is Failed; any other
// is retried after Delay(n). It is the one place the retry rules live.
type RetryPolicy struct {
	// MaxRetries is the attempts after the first before a contact is
	// Failed. Zero means none.
	MaxRetries int
	// Base is the delay before the first retry; default DefaultRetryDelay.
	Base time.Duration
	// Linear makes the delay before retry n Base·(n+1) instead of Base·2^n.
	Linear bool
	// Jitter is the largest fraction of the delay added at random, so that
	// a burst of failures does not come back at once; default 0.1.
	Jitter float64
}

// DefaultJitter is the default for RetryPolicy.Jitter.
const DefaultJitter = 0.1

// withDefaults fills the zero fields.
func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Base <= 0 {
		p.Base = DefaultRetryDelay
	}
	if p.Jitter <= 0 {
		p.Jitter = DefaultJitter
	}
	return p
}

// GivesUp reports whether a contact that failed its attempt number
// attempt (1 for the first) is Failed rather than retried.
func (p RetryPolicy) GivesUp(attempt int, kind ErrorKind) bool {
	return kind == Rejected || attempt > p.MaxRetries
}

// Delay is the wait before retry n (n = 0, 1, 2, …): Base·2^n, or
// Base·(n+1) when Linear, plus at most Jitter of it.
func (p RetryPolicy) Delay(n int) time.Duration {
	d := p.Base
	if p.Linear {
		d = p.Base * time.Duration(n+1)
	} else {
		for i := 0; i < n && d < 365*24*time.Hour; i++ {
			d *= 2
		}
	}
	if j := int64(float64(d) * p.Jitter); j > 0 {
		d += time.Duration(rand.Int64N(j + 1))
	}
	return d
}
