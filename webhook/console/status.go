package console

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brevosync/brevosync/syncer/operator"
)

// statusTTL is how long a status report is served again: every open page
// polls every 2 s, and each report is a pass over contacts, so the pages
// share one report a second whatever their number.
const statusTTL = time.Second

// statusCache shares status reports between concurrent and close
// requests: at most one report is read at a time, and one younger than the
// TTL is served again. A write through the API invalidates it, so the
// page that made the write sees it at once.
type statusCache struct {
	pool *pgxpool.Pool
	ttl  time.Duration

	mu      sync.Mutex
	rep     *operator.Report
	at      time.Time
	gen     uint64        // bumped by invalidate
	reading chan struct{} // closed when the read in flight ends; nil when none
}

func newStatusCache(pool *pgxpool.Pool, ttl time.Duration) *statusCache {
	return &statusCache{pool: pool, ttl: ttl}
}

// get returns a report no older than the TTL, nor older than the last
// invalidate.
func (s *statusCache) get(ctx context.Context) (*operator.Report, error) {
	for {
		s.mu.Lock()
		if s.rep != nil && time.Since(s.at) < s.ttl {
			rep := s.rep
			s.mu.Unlock()
			return rep, nil
		}
		if wait := s.reading; wait != nil {
			s.mu.Unlock()
			select {
			case <-wait:
				continue // the read ended: use its report, or read again
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		s.reading, s.rep = done, nil
		gen := s.gen
		s.mu.Unlock()

		rep, err := operator.Status(ctx, s.pool)

		s.mu.Lock()
		s.reading = nil
		if err == nil && gen == s.gen {
			s.rep, s.at = rep, time.Now()
		}
		s.mu.Unlock()
		close(done)
		return rep, err
	}
}

// invalidate drops the report: the next get reads a new one.
func (s *statusCache) invalidate() {
	s.mu.Lock()
	s.rep = nil
	s.gen++
	s.mu.Unlock()
}
