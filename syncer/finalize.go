package syncer

import (
	"context"
	"log/slog"
	"time"

	"github.com/sethvargo/go-retry"
)

// The finalizer: outcomes written in batches, each row guarded by its claim
// token.

// finalizeLinger is how long the finalizer waits for more outcomes while
// contacts are in flight.
const finalizeLinger = 2 * time.Millisecond

// finalizeLoop writes outcomes as they come, batching whatever has queued up
// while the previous statement ran. It returns when results is closed and
// drained.
func (s *Syncer) finalizeLoop(ctx context.Context) {
	const maxBatch = 1000
	batch := make([]outcome, 0, maxBatch)
	for o := range s.results {
		batch = append(batch[:0], o)
		// While other contacts are in flight their outcomes are due any
		// moment: linger briefly for them, so that a busy syncer writes
		// outcomes in tens rather than ones. A lone contact is written at
		// once.
		var linger <-chan time.Time
		if s.inflight.Load() > 0 {
			linger = time.After(finalizeLinger)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case o, ok := <-s.results:
				if !ok {
					break more
				}
				batch = append(batch, o)
				continue
			default:
			}
			if linger == nil {
				break
			}
			select {
			case o, ok := <-s.results:
				if !ok {
					break more
				}
				batch = append(batch, o)
			case <-linger:
				break more
			}
		}
		s.write(ctx, batch)
	}
}

// write finalizes a batch, retrying while the database is unreachable for
// up to half a lease; after that the claims expire and the rows are sent
// again (at least once). It reports whether the batch was written.
func (s *Syncer) write(ctx context.Context, batch []outcome) bool {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.Lease/2)
	defer cancel()
	var written map[string]bool
	err := retry.Do(wctx, dbBackoff(), func(ctx context.Context) error {
		var err error
		start := time.Now()
		written, err = finalize(ctx, s.db, batch, s.touchUpdatedAt)
		s.metrics.statement("finalize", start)
		return retry.RetryableError(err)
	})
	if err != nil {
		s.log.ErrorContext(ctx, "could not write outcomes; their claims will expire and the contacts be sent again",
			slog.Int("count", len(batch)), slog.Any("err", err))
		return false
	}
	s.reportMu.Lock()
	defer s.reportMu.Unlock()
	lost, scheduled := 0, false
	for _, o := range batch {
		if !written[o.id] {
			lost++
			s.log.DebugContext(ctx, "claim no longer held; outcome dropped",
				slog.String("contact_id", o.id), slog.String("result", string(o.result)))
			continue
		}
		scheduled = scheduled || o.result == ResultRetry || o.result == ResultReleased
		s.metrics.synced(o)
		if s.cfg.OnOutcome != nil {
			s.cfg.OnOutcome(Outcome{ContactID: o.id, Result: o.result,
				Attempt: o.contact.RetryCount + 1, Error: o.err, BrevoID: o.brevoID})
		}
		s.log.DebugContext(ctx, "contact "+string(o.result),
			slog.String("contact_id", o.id), slog.Int("attempt", o.contact.RetryCount+1),
			slog.String("brevo_id", o.brevoID), slog.String("error", o.err))
	}
	s.metrics.lost(lost)
	if scheduled {
		s.rearmTimer()
		s.imports.retriesScheduled()
	}
	return true
}
