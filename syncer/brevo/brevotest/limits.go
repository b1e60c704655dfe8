package brevotest

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// offLimit is the x-sib-ratelimit-limit reported when rate limiting is off.
const offLimit = 1_000_000

// bucket is a rate limit: a token bucket refilled at rate per second up to
// burst. The zero bucket is off.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newBucket(rate float64, now time.Time) bucket {
	if rate <= 0 {
		return bucket{}
	}
	burst := max(1, rate)
	return bucket{rate: rate, burst: burst, tokens: burst, last: now}
}

// newHourlyBucket is a bucket of perHour requests an hour, all of them
// available at once.
func newHourlyBucket(perHour int, now time.Time) bucket {
	if perHour <= 0 {
		return bucket{}
	}
	n := float64(perHour)
	return bucket{rate: n / 3600, burst: n, tokens: n, last: now}
}

// rateHeaders are the x-sib-ratelimit-* values of one answer.
type rateHeaders struct {
	limit, remaining, reset int
}

func (h rateHeaders) write(w http.Header) {
	w["X-Sib-Ratelimit-Limit"] = []string{strconv.Itoa(h.limit)}
	w["X-Sib-Ratelimit-Remaining"] = []string{strconv.Itoa(h.remaining)}
	w["X-Sib-Ratelimit-Reset"] = []string{strconv.Itoa(h.reset)}
}

func (b *bucket) refill(now time.Time) {
	if now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
}

// take spends a token if there is one. It returns the headers to answer
// with; when refused, reset is the whole seconds (≥ 1) until a token.
func (b *bucket) take(now time.Time) (rateHeaders, bool) {
	if b.rate == 0 {
		return rateHeaders{limit: offLimit, remaining: offLimit}, true
	}
	b.refill(now)
	if b.tokens < 1 {
		wait := math.Ceil((1 - b.tokens) / b.rate)
		return rateHeaders{limit: int(b.burst), reset: max(1, int(wait))}, false
	}
	b.tokens--
	return b.peekRefilled(), true
}

// peek returns the headers for an answer that spends no token.
func (b *bucket) peek(now time.Time) rateHeaders {
	if b.rate == 0 {
		return rateHeaders{limit: offLimit, remaining: offLimit}
	}
	b.refill(now)
	return b.peekRefilled()
}

func (b *bucket) peekRefilled() rateHeaders {
	return rateHeaders{
		limit:     int(b.burst),
		remaining: int(b.tokens),
		reset:     int(math.Ceil((b.burst - b.tokens) / b.rate)),
	}
}
