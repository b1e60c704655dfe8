package demo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// The application's statements (PUT /api/v3/contacts/crm/select).
var (
	demoSelectOne  = `UPDATE contacts SET ` + schema.RequestSet + ` WHERE id=$1`
	demoSelectMany = `UPDATE contacts SET ` + schema.RequestSet + ` WHERE id = ANY($1)`
)

// oneByOne selects the first contacts one at a time, each when the previous
// one's first outcome is written, and shows each one's latency.
func (d *demo) oneByOne(ctx context.Context, pool *pgxpool.Pool) error {
	d.stepf("Selecting %d contacts one at a time, as a user clicking in the application:", demoOneByOne)
	d.sayf("         (the simulator answers at once, so the times are brevosync's own: from the selecting UPDATE,")
	d.sayf("         its commit included, to the request reaching Brevo and to the outcome written on the row)")
	var toBrevo, toRow []time.Duration
	var prev time.Time
	for _, c := range d.cast[:demoOneByOne] {
		// A click every 150ms at most, so that our own 20/s limit (one
		// request every 50ms, no burst) does not add to the latency shown.
		if err := d.sleep(ctx, time.Until(prev.Add(150*time.Millisecond))); err != nil {
			return err
		}
		prev = time.Now()
		// Timed from the start of the UPDATE, its commit included: the
		// notification goes out with the commit, and the request may reach
		// Brevo before the UPDATE's answer reaches us.
		c.selected = time.Now()
		if _, err := pool.Exec(ctx, demoSelectOne, c.id); err != nil {
			return fmt.Errorf("select %s: %w", c.email, err)
		}
		d.awaited = c
		err := d.waitUntil(ctx, 10*time.Second, func() bool { return len(c.outcomes) > 0 }, nil)
		d.awaited = nil
		if err != nil {
			return fmt.Errorf("wait for %s: %w", c.email, err)
		}
		o := c.outcomes[0]
		arrived := d.firstArrival(c.email, c.selected)
		lat := fmt.Sprintf("Brevo %-9s row %-9s", "+"+demoMillis(arrived.Sub(c.selected)), "+"+demoMillis(o.at.Sub(c.selected)))
		if !arrived.IsZero() {
			toBrevo = append(toBrevo, arrived.Sub(c.selected))
		}
		toRow = append(toRow, o.at.Sub(c.selected))
		switch o.Result {
		case syncer.ResultComplete:
			d.sayf("  ✓ %-40s %s complete (Brevo id %s)", c.email, lat, o.BrevoID)
		case syncer.ResultFailed:
			d.sayf("  ✗ %-40s %s %s → failed at once, no retry", c.email, lat, demoShortError(o.Error))
		case syncer.ResultRetry:
			d.sayf("  ↻ %-40s %s %s → retry in %s", c.email, lat, demoShortError(o.Error), demoRetryDelay)
		default:
			d.sayf("  · %-40s %s %s %s", c.email, lat, o.Result, demoShortError(o.Error))
		}
	}
	d.oneByOneMedian = demoMedian(toBrevo)
	d.sayf("  one by one: commit → Brevo median %s (max %s); commit → outcome written median %s (max %s)",
		demoMillis(demoMedian(toBrevo)), demoMillis(slices.Max(append(toBrevo, 0))),
		demoMillis(demoMedian(toRow)), demoMillis(slices.Max(toRow)))
	return nil
}

// bulk selects the rest in one statement and shows the progress.
func (d *demo) bulk(ctx context.Context, pool *pgxpool.Pool) error {
	rest := d.cast[demoOneByOne:]
	ids := make([]pgtype.UUID, len(rest))
	for i, c := range rest {
		ids[i] = c.id
	}
	// As between clicks: our 20/s limit would hold the first request back
	// until 50ms after the last one, and the first request's delay shown is
	// meant to be brevosync's.
	if err := d.sleep(ctx, 150*time.Millisecond); err != nil {
		return err
	}
	d.stepf("Selecting the other %d in one statement (WHERE id = ANY($1): one transaction, one NOTIFY):", len(rest))
	t0 := time.Now()
	if _, err := pool.Exec(ctx, demoSelectMany, ids); err != nil {
		return fmt.Errorf("select in bulk: %w", err)
	}
	d.debugf("the UPDATE took %s", demoMillis(time.Since(t0)))
	for _, c := range rest {
		c.selected = t0
	}
	count := func() int {
		n := 0
		for _, c := range rest {
			if c.done() {
				n++
			}
		}
		return n
	}
	lastShown, lastAt := -1, time.Time{}
	show := func() {
		n := count()
		if !d.tty && (n == lastShown || time.Since(lastAt) < 500*time.Millisecond) && n != len(rest) {
			return
		}
		lastShown, lastAt = n, time.Now()
		el := time.Since(t0)
		d.progressf("  bulk: %2d/%d done  %5.1fs  %5.1f/s", n, len(rest), el.Seconds(), float64(n)/el.Seconds())
	}
	if err := d.waitUntil(ctx, demoTimeout, func() bool { return count() == len(rest) }, show); err != nil {
		return fmt.Errorf("wait for the bulk selection: %w", err)
	}
	el := time.Since(t0)
	var first time.Time
	for _, c := range rest {
		if a := d.firstArrival(c.email, t0); !a.IsZero() && (first.IsZero() || a.Before(first)) {
			first = a
		}
	}
	d.bulkRate = float64(len(rest)) / el.Seconds()
	d.endProgress()
	d.sayf("  bulk: %d/%d done in %.2fs, %.1f/s, first request %s after the commit (limit %d/s, and one wait for a 429)",
		len(rest), len(rest), el.Seconds(), float64(len(rest))/el.Seconds(), demoMillis(first.Sub(t0)), demoRateLimit)

	// The retried one may still be waiting for its turn.
	return d.waitUntil(ctx, demoTimeout, func() bool {
		return !slices.ContainsFunc(d.cast, func(c *demoContact) bool { return !c.done() })
	}, nil)
}

// waitConfirmations waits until Brevo's webhooks have confirmed every
// complete contact (brevo_confirmed_at set).
func (d *demo) waitConfirmations(ctx context.Context, pool *pgxpool.Pool, sim *brevotest.Server) error {
	t0 := time.Now()
	var complete, confirmed int
	for {
		err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE `+schema.Complete.Is()+`),
			count(*) FILTER (WHERE brevo_confirmed_at IS NOT NULL) FROM contacts WHERE `+demoEmailMatch).
			Scan(&complete, &confirmed)
		if err != nil {
			return fmt.Errorf("count confirmations: %w", err)
		}
		if confirmed >= complete || time.Since(t0) > 10*time.Second {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	delivered, dropped := sim.WebhookStats()
	d.stepf("Webhooks: Brevo's list_addition events confirmed %d of %d complete contacts (brevo_confirmed_at; %d events delivered, %d dropped).",
		confirmed, complete, delivered, dropped)
	return nil
}

// waitUntil handles outcomes until done holds, calling tick (if any) every
// 200ms, for at most timeout.
func (d *demo) waitUntil(ctx context.Context, timeout time.Duration, done func() bool, tick func()) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()
	for !done() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.serveDone:
			return fmt.Errorf("the service stopped: %v", d.serveErr)
		case o := <-d.outcomes:
			d.apply(o)
		case <-ticker.C:
			if tick != nil {
				tick()
			}
		case <-deadline.C:
			return fmt.Errorf("%w after %s", errDemoTimeout, timeout)
		}
	}
	if tick != nil {
		tick()
	}
	return nil
}

// sleep waits for d (if positive), handling outcomes meanwhile.
func (d *demo) sleep(ctx context.Context, dur time.Duration) error {
	if dur <= 0 {
		return nil
	}
	err := d.waitUntil(ctx, dur, func() bool { return false }, nil)
	if errors.Is(err, errDemoTimeout) {
		return nil
	}
	return err
}

// errDemoTimeout is waitUntil's error when time ran out.
var errDemoTimeout = errors.New("timed out")

// apply records an outcome and narrates the interesting ones that nobody
// is waiting for.
func (d *demo) apply(o demoOutcome) {
	c := d.byID[o.ContactID]
	if c == nil {
		return // not ours
	}
	c.outcomes = append(c.outcomes, o)
	if c == d.awaited && len(c.outcomes) == 1 {
		return // oneByOne prints it
	}
	since := demoSeconds(o.at.Sub(c.outcomes[0].at))
	switch {
	case o.Result == syncer.ResultReleased:
		d.sayf("  ⏸ %-40s Brevo answered 429 → new requests wait for the rate-limit reset; not a failed attempt", c.email)
	case o.Result == syncer.ResultComplete && len(c.outcomes) > 1:
		first := c.outcomes[0]
		if first.Result == syncer.ResultReleased {
			d.sayf("  ✓ %-40s complete after the rate-limit wait, %s after the 429 (Brevo id %s)", c.email, since, o.BrevoID)
			break
		}
		status, _, _ := strings.Cut(demoShortError(first.Error), " ")
		d.sayf("  ✓ %-40s complete on attempt %d, %s after the %s (Brevo id %s)", c.email, o.Attempt, since, status, o.BrevoID)
	case o.Result == syncer.ResultRetry:
		d.sayf("  ↻ %-40s %s → retry in ~%s", c.email, demoShortError(o.Error), demoRetryDelay)
	case o.Result == syncer.ResultFailed:
		d.sayf("  ✗ %-40s failed: %s", c.email, demoShortError(o.Error))
	}
}

// firstArrival is when the simulator first saw email at or after t; zero if
// it did not.
func (d *demo) firstArrival(email string, t time.Time) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range d.arrivals[strings.ToLower(email)] {
		if !a.Before(t) {
			return a
		}
	}
	return time.Time{}
}
