package bench

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

type throughputRun struct {
	SimLatencyMs int     `json:"simulator_latency_ms"`
	Concurrency  int     `json:"concurrency"`
	Contacts     int     `json:"contacts"`
	DrainSeconds float64 `json:"drain_seconds"`
	PerSecond    float64 `json:"contacts_per_second"`
	Upserts      int     `json:"brevo_upserts"`
	Target       string  `json:"target"`
}

type memoryResult struct {
	IdleRSSMB float64 `json:"idle_rss_mb"`
	PeakRSSMB float64 `json:"peak_rss_mb"`
}

// throughput selects N contacts in one statement against `brevosync serve`
// in its own process and measures the time until all are Complete.
func (b *bench) throughput(ctx context.Context) ([]throughputRun, *memoryResult, error) {
	var runs []throughputRun
	mem := &memoryResult{}
	for i, lat := range []time.Duration{0, 50 * time.Millisecond} {
		run, rss, peak, err := b.throughputRun(ctx, lat, i == 0)
		if err != nil {
			return nil, nil, err
		}
		if i == 0 {
			mem.IdleRSSMB = rss
		}
		mem.PeakRSSMB = max(mem.PeakRSSMB, peak)
		runs = append(runs, run)
	}
	return runs, mem, nil
}

func (b *bench) throughputRun(ctx context.Context, lat time.Duration, idle bool) (throughputRun, float64, float64, error) {
	n := b.opts.ThroughputN
	run := throughputRun{SimLatencyMs: int(lat.Milliseconds()), Concurrency: b.opts.Concurrency, Contacts: n}
	dsn, err := b.srv.newDatabase(ctx, "throughput")
	if err != nil {
		return run, 0, 0, err
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return run, 0, 0, err
	}
	defer pool.Close()
	if err := seed(ctx, pool, "t", n); err != nil {
		return run, 0, 0, err
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE contacts"); err != nil { // a table at rest, as in production
		return run, 0, 0, err
	}
	sim := brevotest.NewServer(brevotest.Config{APIKey: benchKey, Latency: lat, NoRequestLog: true})
	defer sim.Close()
	c, err := StartChild(ctx, b.opts.Exe, b.serviceVars(dsn, sim.URL()))
	if err != nil {
		return run, 0, 0, err
	}
	defer c.Stop()
	var idleRSS float64
	if idle {
		// Let start-up garbage be collected before reading idle memory.
		time.Sleep(3 * time.Second)
		if idleRSS, _, err = c.Memory(); err != nil {
			return run, 0, 0, err
		}
	}

	if _, err := pool.Exec(ctx, `UPDATE contacts SET `+schema.RequestSet); err != nil {
		return run, 0, 0, err
	}
	committed := time.Now()
	// Wait for Brevo to have every contact (a signal, costing the database
	// nothing), then for the last outcomes to be written.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := sim.WaitUpserts(wctx, n); err != nil {
		return run, 0, 0, fmt.Errorf("waiting for %d upserts: %w", n, err)
	}
	for {
		var done int
		if err := pool.QueryRow(wctx, `SELECT count(*) FROM contacts WHERE `+schema.Complete.Is()).Scan(&done); err != nil {
			return run, 0, 0, err
		}
		if done == n {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	drain := time.Since(committed)
	_, peak, err := c.Memory()
	if err != nil {
		return run, 0, 0, err
	}
	run.DrainSeconds = drain.Seconds()
	run.PerSecond = float64(n) / drain.Seconds()
	run.Upserts = sim.Stats().Upserts
	if lat == 0 {
		run.Target = fmt.Sprintf(">= 8000/s: %s", okMissed(run.PerSecond >= 8000))
	} else {
		ideal := float64(b.opts.Concurrency) / lat.Seconds()
		run.Target = fmt.Sprintf(">= 90%% of %.0f/s: %s (%.0f%%)", ideal, okMissed(run.PerSecond >= 0.9*ideal), 100*run.PerSecond/ideal)
	}
	return run, idleRSS, peak, nil
}

func okMissed(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

type rateLimitRun struct {
	Replicas          int     `json:"replicas"`
	Contacts          int     `json:"contacts"`
	AchievedPerSecond float64 `json:"achieved_per_second"`
	TooManyRequests   int     `json:"too_many_requests"`
}

// rateLimit runs BREVO_SYNC_RATE_LIMIT=10 against a simulator that
// enforces 10/s, with one and with two replicas sharing the budget.
func (b *bench) rateLimit(ctx context.Context) ([]rateLimitRun, error) {
	var runs []rateLimitRun
	for _, replicas := range []int{1, 2} {
		r, err := b.rateLimitRun(ctx, replicas)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return runs, nil
}

func (b *bench) rateLimitRun(ctx context.Context, replicas int) (rateLimitRun, error) {
	n := b.opts.RateN
	run := rateLimitRun{Replicas: replicas, Contacts: n}
	dsn, err := b.srv.newDatabase(ctx, "ratelimit")
	if err != nil {
		return run, err
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return run, err
	}
	defer pool.Close()
	if err := seed(ctx, pool, "r", n); err != nil {
		return run, err
	}
	sim := brevotest.NewServer(brevotest.Config{APIKey: benchKey, RateLimit: 10})
	defer sim.Close()
	vars := b.serviceVars(dsn, sim.URL(), "BREVO_SYNC_RATE_LIMIT", "10", "BREVO_SYNC_CONCURRENCY", "4", "LOG_LEVEL", "info")
	var children []*Child
	defer func() {
		for _, c := range children {
			c.Stop()
		}
	}()
	for range replicas {
		c, err := StartChild(ctx, b.opts.Exe, vars)
		if err != nil {
			return run, err
		}
		children = append(children, c)
	}
	if replicas > 1 {
		// The first replica learns of the second at its next heartbeat.
		if err := children[0].WaitLog(ctx, fmt.Sprintf(`"replicas":%d`, replicas), 15*time.Second); err != nil {
			return run, err
		}
	}
	if _, err := pool.Exec(ctx, `UPDATE contacts SET `+schema.RequestSet); err != nil {
		return run, err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Duration(n)*time.Second/5+30*time.Second)
	defer cancel()
	if err := sim.WaitStats(wctx, func(s brevotest.Stats) bool { return s.Created >= n }); err != nil {
		return run, fmt.Errorf("waiting for %d contacts at 10/s: %w", n, err)
	}
	var ok []time.Time
	for _, r := range sim.Upserts() {
		if r.Status == http.StatusCreated {
			ok = append(ok, r.At)
		}
	}
	slices.SortFunc(ok, func(a, b time.Time) int { return a.Compare(b) })
	run.AchievedPerSecond = float64(len(ok)-1) / ok[len(ok)-1].Sub(ok[0]).Seconds()
	run.TooManyRequests = sim.Stats().RateLimited
	return run, nil
}
