package syncer

import (
	"context"
	"log/slog"
)

// The maintenance the syncer does besides claiming: the fallback sweep and
// the replica's heartbeat.

// Sweep runs one fallback sweep pass: the heavy part (take back expired
// claims, count what is due) on one replica at a time, then a claim pass on
// this one for missed requests and due retries.
func (s *Syncer) Sweep(ctx context.Context) (SweepReport, error) {
	r, err := sweepOnce(ctx, s.db, s.cfg.SweepTasks)
	s.metrics.sweep(r, err)
	if err != nil {
		return r, err
	}
	for name, t := range r.Tasks {
		switch {
		case t.Err != nil:
			s.logUnlessDone(ctx, "sweep task "+name, t.Err)
		case t.Count > 0:
			s.log.InfoContext(ctx, "sweep task done", slog.String("task", name), slog.Int64("count", t.Count))
		}
	}
	if !r.Skipped && (r.Rescued > 0 || r.Due > 0) {
		s.log.InfoContext(ctx, "sweep found work", slog.Int64("rescued", r.Rescued), slog.Int64("due", r.Due),
			slog.Bool("due_capped", r.Due >= SweepDueCap), slog.Duration("took", r.Duration))
	}
	s.Wake()
	return r, nil
}

// heartbeat keeps this replica registered and its rate share current; when
// it fails the replica keeps its last share (alone, at start).
func (s *Syncer) heartbeat(ctx context.Context) {
	n, err := heartbeat(ctx, s.db, s.node, s.host, 3*s.cfg.HeartbeatInterval)
	if err != nil {
		s.logUnlessDone(ctx, "heartbeat", err)
		return
	}
	if s.budget.setShare(n) && s.budget.total > 0 {
		s.log.Info("replicas share the rate limit", slog.Int("replicas", n),
			slog.Float64("per_replica", s.budget.total/float64(max(n, 1))))
	}
}
