package syncer

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/sethvargo/go-retry"

	schema "github.com/brevosync/brevosync/sql"
)

// The sender: one attempt of one claimed contact, paced by the budget, and
// the prober that resumes sending once the credentials work again.

// process makes one attempt for a family of claimed rows (one email, see
// claimSQL) and hands every row's outcome to the finalizer: the CRM is sent
// the most recently requested row's data, once.
func (s *Syncer) process(ctx, reqCtx context.Context, token string, family []Contact) {
	v := s.attempt(ctx, reqCtx, latest(family))
	for _, c := range family {
		s.inflight.Add(-1)
		select {
		case s.slotFree <- struct{}{}:
		default:
		}
		s.results <- v.outcome(s.cfg.Retry, s.crm.Name(), c, token)
	}
}

// latest is the most recently requested row of a family.
func latest(family []Contact) Contact {
	c := family[0]
	for _, o := range family[1:] {
		if o.RequestedAt.After(c.RequestedAt) {
			c = o
		}
	}
	return c
}

// families groups claimed rows by email key, in claim order.
func families(contacts []Contact) [][]Contact {
	idx := make(map[string]int, len(contacts))
	var out [][]Contact
	for _, c := range contacts {
		k := schema.NormalizeEmail(c.Email)
		if i, ok := idx[k]; ok {
			out[i] = append(out[i], c)
			continue
		}
		idx[k] = len(out)
		out = append(out, []Contact{c})
	}
	return out
}

// verdict is what one attempt decided, for every row of its family.
type verdict struct {
	sent      Sent
	sentEmail string        // the email the CRM now has ("" for a removal)
	err       error         // nil on success
	release   bool          // hand the claim back, uncharged
	wait      time.Duration // with release: due again after wait
}

// outcome applies the verdict to one row.
func (v verdict) outcome(p RetryPolicy, crm string, c Contact, token string) outcome {
	switch {
	case v.release:
		return release(c, token, v.wait)
	case v.err == nil:
		return complete(c, token, v.sent, v.sentEmail)
	}
	return failure(p, crm, c, token, v.err)
}

// maxHold is the longest a claimed contact waits in memory for a rate-limit
// pause to end; a longer pause hands the claim back instead.
const maxHold = 5 * time.Second

// handBack is the verdict that returns the claim uncharged.
func handBack(wait time.Duration) verdict { return verdict{release: true, wait: wait} }

// attempt sends one contact: upserted, or for the mirror's email change
// updated in place.
func (s *Syncer) attempt(ctx, reqCtx context.Context, c Contact) verdict {
	return s.paced(ctx, reqCtx, func(ctx context.Context) (Sent, error) {
		if m, ok := s.crm.(Mirror); ok && c.Kind == KindEmailChange {
			return m.ChangeEmail(ctx, c)
		}
		return s.crm.Upsert(ctx, c)
	}, schema.NormalizeEmail(c.Email))
}

// paced makes one CRM call in a request slot, paid for by the budget, and
// turns its answer into a verdict: success (the CRM now has sentEmail), a
// failure for the retry policy, or a claim handed back uncharged (shutdown,
// a 429, refused credentials).
func (s *Syncer) paced(ctx, reqCtx context.Context, call func(context.Context) (Sent, error), sentEmail string) verdict {
	// Not sent yet: at shutdown or while paused, hand the claim back at once.
	select {
	case s.sendSlots <- struct{}{}:
		defer func() { <-s.sendSlots }()
	case <-ctx.Done():
		return handBack(0)
	}
	// The token, and the last moment before sending: a 429 or a refused key
	// seen by another request while this one waited holds it back too.
	if err := s.budget.Wait(ctx); err != nil {
		if e, ok := errors.AsType[*Error](err); ok && e.Kind == RateLimited {
			return handBack(e.Wait)
		}
		return handBack(0)
	}
	if ctx.Err() != nil {
		return handBack(0)
	}

	start := time.Now()
	sent, err := call(reqCtx)
	status := sent.Status
	var crmErr *Error
	if errors.As(err, &crmErr) {
		status = crmErr.Status
	} else if err != nil {
		status = 0 // no answer
	}
	s.metrics.request(time.Since(start), status)

	switch {
	case err == nil:
		return verdict{sent: sent, sentEmail: sentEmail}
	case reqCtx.Err() != nil:
		// Shutdown cut the request short; it may or may not have reached
		// the CRM, and the upsert is idempotent, so it is simply sent again.
		return handBack(0)
	}
	switch KindOf(err) {
	case RateLimited:
		wait := crmErr.Wait
		if wait <= 0 {
			wait = time.Second
		}
		s.budget.rateLimited(wait)
		s.log.DebugContext(ctx, "rate limited by "+s.crm.Name()+"; waiting", slog.Duration("reset", wait))
		return handBack(wait)
	case Unauthorized:
		if s.budget.pauseAuth() {
			s.metrics.setPaused("unauthorized", true)
			s.log.ErrorContext(ctx, s.crm.Name()+" refuses the API key; sending is paused and no contact is failed for it. "+
				"Fix the key (see err); brevosync keeps probing and resumes by itself.", slog.Any("err", err))
			s.background.Go(func() { s.probeAuth(ctx) })
		}
		return handBack(0)
	}
	return verdict{err: err}
}

// probeAuth asks the CRM with a read-only call, backing off, until it accepts
// the credentials again, then resumes sending.
func (s *Syncer) probeAuth(ctx context.Context) {
	b := retry.WithCappedDuration(time.Minute,
		retry.WithJitterPercent(10, retry.NewExponential(s.cfg.AuthProbeInterval)))
	for {
		d, _ := b.Next()
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		err := s.crm.Probe(ctx)
		if err == nil {
			break
		}
		if KindOf(err) != Unauthorized {
			s.log.DebugContext(ctx, "auth probe failed", slog.Any("err", err))
		}
	}
	s.budget.resume()
	s.metrics.setPaused("unauthorized", false)
	s.log.InfoContext(ctx, s.crm.Name()+" accepts the API key again; sending resumed")
	s.Wake()
}
