package syncer

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"time"
)

// The claim loop: when to claim, how much, and handing each claimed contact
// to its own sender.

// capacity is how many claimed contacts this process holds at most: the
// requests that may be in flight (Concurrency, or with a rate limit about two
// seconds' worth of this replica's share, so that a claimed row never waits
// long for its turn), plus a quarter more waiting for a free request slot, so
// that claiming in batches never leaves a slot idle.
func (s *Syncer) capacity() int64 {
	c := int64(s.cfg.Concurrency)
	if rate := s.budget.perSecond(); rate > 0 {
		c = min(c, max(1, int64(math.Ceil(2*rate))))
	}
	return c + c/4
}

// dispatch is the claim loop. It runs a claim pass at start (the catch-up),
// on every wake-up, and when the earliest due retry or lease expiry comes.
func (s *Syncer) dispatch(ctx, reqCtx context.Context, work *sync.WaitGroup) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	contended := 0
	for {
		rescue := false
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-s.rearm:
			// Outcomes were written with new due times after the timer was
			// set: set it again from the database.
			if s.armTimer(ctx, timer) {
				continue
			}
		case <-timer.C:
			rescue = true // a lease may have expired
		}
		if rescue {
			if n, err := rescueExpired(ctx, s.db); err != nil {
				s.logUnlessDone(ctx, "take back expired claims", err)
			} else if n > 0 {
				s.log.InfoContext(ctx, "took back expired claims", slog.Int64("count", n))
			}
		}
		claimed, ok := s.drain(ctx, reqCtx, work)
		if !ok {
			return
		}
		s.drainDeleted(ctx, reqCtx)
		if claimed > 0 {
			contended = 0
		}
		if !s.armTimer(ctx, timer) {
			// Due now, yet nothing claimable by us was left: another replica
			// is claiming those rows right now (SKIP LOCKED), a transaction
			// holds them locked, or a lease expired. Look again soon, backing
			// off from 10ms to 1s while that lasts.
			timer.Reset(min(time.Second, 10*time.Millisecond<<contended))
			contended = min(contended+1, 7)
		}
	}
}

// armTimer sets timer to the next due time in the database. It reports false
// (and leaves timer alone) when something is due already.
func (s *Syncer) armTimer(ctx context.Context, timer *time.Timer) bool {
	start := time.Now()
	wait, ok, err := nextDue(ctx, s.db)
	s.metrics.statement("next_due", start)
	switch {
	case err != nil:
		s.logUnlessDone(ctx, "schedule next claim", err)
		wait = time.Second
	case !ok:
		wait = s.cfg.SweepInterval
	case wait <= 0:
		return false
	default:
		wait += 2 * time.Millisecond
	}
	timer.Reset(wait)
	return true
}

// rearmTimer tells the claim loop that due times changed.
func (s *Syncer) rearmTimer() {
	select {
	case s.rearm <- struct{}{}:
	default:
	}
}

// drain claims and starts work until nothing due is left or ctx ends. It
// reports false when ctx ended.
func (s *Syncer) drain(ctx, reqCtx context.Context, work *sync.WaitGroup) (claimed int, ok bool) {
	backoff := dbBackoff()
	backlog := false // the last claim was full: more is waiting
	floor := s.claimFloor(ctx)
	for {
		if err := s.budget.waitOpen(ctx); err != nil {
			return claimed, false
		}
		capacity := s.capacity()
		free := capacity - s.inflight.Load()
		// Through a backlog, claim in batches rather than a row per freed
		// slot: one round trip then serves many contacts.
		if free <= 0 || (backlog && free < max(1, min(int64(s.cfg.BatchSize), capacity/5))) {
			select {
			case <-ctx.Done():
				return claimed, false
			case <-s.slotFree:
				continue
			}
		}
		n := int(min(free, int64(s.cfg.BatchSize)))
		start := time.Now()
		token, contacts, err := s.claim(ctx, n, floor)
		s.metrics.statement("claim", start)
		if err != nil {
			if ctx.Err() != nil {
				return claimed, false
			}
			d, _ := backoff.Next()
			s.log.WarnContext(ctx, "claim failed; retrying", slog.Any("err", err), slog.Duration("retry_in", d))
			select {
			case <-ctx.Done():
				return claimed, false
			case <-time.After(d):
			case <-s.wake:
			}
			continue
		}
		backoff = dbBackoff()
		s.metrics.claimed()
		s.inflight.Add(int64(len(contacts)))
		var removals, sends []Contact
		for _, c := range contacts {
			if c.Kind == KindRemoval {
				removals = append(removals, c)
			} else {
				sends = append(sends, c)
			}
		}
		for _, family := range families(sends) {
			work.Go(func() { s.process(ctx, reqCtx, token, family) })
		}
		s.startRemovals(ctx, reqCtx, token, removals, work)
		claimed += len(contacts)
		if len(contacts) < n {
			return claimed, true
		}
		if !backlog && floor.IsZero() {
			// A backlog came during this pass: is it the bulk path's?
			floor = s.claimFloor(ctx)
		}
		backlog = true
	}
}

// claim runs the claim statement shielded from ctx's cancellation: a claim
// cancelled in flight may still commit on the server, and rows claimed
// unseen would wait for their lease to expire. Once ctx is done, the claimed
// contacts are handed back at once by attempt.
func (s *Syncer) claim(ctx context.Context, n int, floor time.Time) (string, []Contact, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return claim(cctx, s.db, n, s.cfg.Lease, floor)
}

// claimFloor is the due time at or before which the per-contact path leaves
// due contacts to the bulk path (zero: none). Once at least the import
// threshold is due, what was due then is the bulk path's, which claims all
// of it within moments; until the due count falls below the threshold, the
// per-contact path takes only requests made since, so that a single
// selection never waits behind the head of a backlog in the rate limit; for
// ImportConfig.Handover at most. Only the claim loop calls it.
func (s *Syncer) claimFloor(ctx context.Context) time.Time {
	now, handover, ok := s.imports.backlog(ctx)
	switch {
	case !ok:
		s.backlog = backlogMark{}
		return time.Time{}
	case s.backlog.seen.IsZero():
		s.backlog = backlogMark{seen: time.Now(), floor: now}
	case time.Since(s.backlog.seen) > handover:
		return time.Time{}
	}
	return s.backlog.floor
}

// backlogMark is the backlog the claim loop leaves to the bulk path.
type backlogMark struct {
	seen  time.Time // when the claim loop first saw it; zero: no backlog
	floor time.Time // the database's clock then: what was due is the bulk path's
}
