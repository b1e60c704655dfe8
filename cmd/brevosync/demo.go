package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brevosync/brevosync/cmd/brevosync/pgtmp"
	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevotest"
)

func init() {
	register(&command{
		name:    "demo",
		summary: "see it work on this machine: a simulated Brevo, ~50 contacts, no account needed",
		usage:   "[-v] [-json] [-keep] [-cluster]",
		help: `Runs the whole service in this process against the project's Brevo
simulator and shows contacts reach "Brevo" in real time: selected one at a
time (with each one's commit-to-Brevo latency), then in bulk under a 20/s rate
limit, including an email Brevo rejects (failed at once), a 500 (retried after
1s) and a 429 (a wait for the rate-limit reset), with Brevo's webhooks
confirming every contact. It checks the outcome, prints the final state and
exits 0, or 1 when something did not happen as it should.

The database: DATABASE_URL when set (migrated, then used as is: the demo
contacts, under @demo.brevosync.test, replace an earlier demo's and stay, so
'brevosync status' shows the same numbers); else a new database
brevosync_demo_<random> on a local server (127.0.0.1:5432 or the socket in
/var/run/postgresql, as postgres or as you), dropped at exit; else a
throwaway cluster from the initdb and pg_ctl found on PATH or under
/usr/lib/postgresql/*/bin (run as the postgres user when you are root),
removed at exit, Ctrl-C included.

No other setting is read: the demo never talks to the real Brevo. With
DATABASE_URL it refuses to run while a brevosync service uses the database or
other contacts are waiting for a sync, which it would otherwise complete
against the simulator.

The last line is machine-checkable (with -json, also one JSON object on stdout):
  demo: final state total=50 new=0 pending=0 processing=0 complete=49 failed=1 skipped=0 confirmed=49
(the whole contacts table, by brevo_sync_status; failed is 'Error',
pending is 'Selected' or 'Queued').`,
		flags: func(fs *flag.FlagSet) {
			fs.Bool("v", false, "show the service's logs down to debug on stderr (default: warnings only)")
			fs.Bool("json", false, "print the final state as one JSON object on stdout; the narrative goes to stderr")
			fs.Bool("keep", false, "keep the demo database or leave the throwaway cluster running, and say how to reach it")
			fs.Bool("cluster", false, "use a throwaway cluster even when DATABASE_URL is set or a local server answers")
		},
		run: runDemo,
	})
}

// Demo settings for the service and the simulator.
const (
	demoRateLimit  = 20 // requests per second, for Brevo and for us
	demoRetryDelay = time.Second
	demoListID     = 2 // makes the simulator send list_addition webhooks
	demoTimeout    = 30 * time.Second
)

type demoOptions struct{ verbose, json, keep, cluster bool }

// demo is one run of `brevosync demo`.
type demo struct {
	env   *env
	opts  demoOptions
	out   io.Writer // the narrative: stdout, or stderr with -json
	tty   bool
	start time.Time
	mode  string // demoModeURL, demoModeLocal or demoModeCluster

	cast []*demoContact
	byID map[string]*demoContact

	outcomes  chan demoOutcome // from the syncer's OnOutcome
	serveDone chan struct{}    // closed when serve returned
	serveErr  error            // serve's result, once serveDone is closed
	awaited   *demoContact     // the one-by-one contact being waited for
	progress  bool             // a progress line without newline is on screen

	oneByOneMedian time.Duration // commit → Brevo, one at a time
	bulkRate       float64       // contacts per second, in bulk

	mu       sync.Mutex
	arrivals map[string][]time.Time // email → upserts seen by the simulator
}

func runDemo(ctx context.Context, e *env, fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return usagef("demo takes no arguments")
	}
	flagOn := func(name string) bool { return flagValue[bool](fs, name) }
	d := &demo{
		env:      e,
		opts:     demoOptions{verbose: flagOn("v"), json: flagOn("json"), keep: flagOn("keep"), cluster: flagOn("cluster")},
		out:      e.stdout,
		start:    time.Now(),
		outcomes: make(chan demoOutcome, 4096),
		arrivals: map[string][]time.Time{},
	}
	if d.opts.json {
		d.out = e.stderr
	}
	d.tty = isTerminal(d.out)
	return d.run(ctx)
}

// run is the demo. Whatever it starts is stopped and removed on every way
// out, Ctrl-C included: the deferred cleanups run with a fresh context, which
// a second Ctrl-C cancels to hurry a cluster's shutdown (fast becomes
// immediate) without skipping it.
func (d *demo) run(ctx context.Context) (err error) {
	ctx, stopHup := signal.NotifyContext(ctx, syscall.SIGHUP) // a closed terminal is a Ctrl-C too
	defer stopHup()
	var cleanups []func(context.Context)
	defer func() {
		cctx, cancel := demoCleanupContext()
		defer cancel()
		d.endProgress()
		for _, f := range slices.Backward(cleanups) {
			f(cctx)
		}
		if err != nil && ctx.Err() != nil {
			err = errors.New("interrupted; stopped and removed what it had started")
		}
	}()

	d.sayf("brevosync demo: the whole flow on this machine, against a simulated Brevo.")
	db, err := d.provisionDB(ctx)
	if err != nil {
		if errors.Is(err, pgtmp.ErrNotInstalled) {
			return errors.New("PostgreSQL is needed, and there is none: DATABASE_URL is not set, no local server " +
				"answered (127.0.0.1:5432, /var/run/postgresql), and initdb/pg_ctl are neither on PATH nor " +
				"under /usr/lib/postgresql/*/bin.\nInstall it: apt-get install postgresql (Debian/Ubuntu), " +
				"brew install postgresql (macOS); or set DATABASE_URL to a database of yours")
		}
		return fmt.Errorf("find a database: %w", err)
	}
	if db.release != nil && !d.opts.keep {
		cleanups = append(cleanups, func(ctx context.Context) {
			if err := db.release(ctx); err != nil {
				fmt.Fprintf(d.env.stderr, "brevosync demo: clean up: %v\n", err)
			}
		})
	} else if db.release != nil {
		cleanups = append(cleanups, func(context.Context) { fmt.Fprintf(d.out, "\n%s\n", db.keepHint) })
	}
	d.stepf("Database: %s", db.where)

	level := "warn"
	if d.opts.verbose {
		level = "debug"
	}
	logger := newLogger(d.env.stderr, d.env.getenv("LOG_FORMAT"), level)
	d.mode = db.mode
	pool, err := openPool(ctx, db.url, "brevosync-demo", nil)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func(context.Context) { pool.Close() })
	applied, err := schema.Migrate(ctx, pool, logger)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		d.stepf("Migrated: applied %d migrations (contacts, the request trigger, webhook events).", len(applied))
	} else {
		d.stepf("Migrated: the schema was up to date.")
	}
	if err := demoCheckAlone(ctx, pool); err != nil {
		return err
	}
	d.cast = demoCast()
	removed, err := seedDemo(ctx, pool, d.cast)
	if err != nil {
		return err
	}
	d.byID = make(map[string]*demoContact, len(d.cast))
	for _, c := range d.cast {
		d.byID[c.key] = c
	}
	note := ""
	if removed > 0 {
		note = fmt.Sprintf(" (replacing %d left by an earlier demo)", removed)
	}
	d.stepf("Seeded %d contacts under @%s, not yet selected%s.", len(d.cast), demoDomain, note)

	sim, cfg, err := d.newSimulator(db.url, level)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func(context.Context) { sim.Close() })
	srv, stopServe, err := d.startService(ctx, cfg, logger)
	if stopServe != nil {
		cleanups = append(cleanups, func(context.Context) { stopServe() })
	}
	if err != nil {
		return err
	}
	sim.SetWebhook("http://"+srv.Addr.String()+"/webhooks/brevo", cfg.WebhookToken)
	d.stepf("Service running in this process: LISTEN connected, webhooks on http://%s/webhooks/brevo;", srv.Addr)
	d.sayf("         Brevo simulated at %s (%d requests/s allowed, brevosync set to match).", sim.URL(), demoRateLimit)

	if err := d.oneByOne(ctx, pool); err != nil {
		return err
	}
	if err := d.bulk(ctx, pool); err != nil {
		return err
	}
	if err := d.waitConfirmations(ctx, pool, sim); err != nil {
		return err
	}

	stopServe() // a stable state to report, and the replica deregistered
	res, err := d.report(ctx, pool, sim)
	if err != nil {
		return err
	}
	if d.opts.json {
		b, _ := json.Marshal(res)
		fmt.Fprintf(d.env.stdout, "%s\n", b)
	}
	if len(res.Problems) > 0 {
		return fmt.Errorf("%d expectation(s) not met: %s", len(res.Problems), strings.Join(res.Problems, "; "))
	}
	return nil
}

// demoCleanupContext bounds the cleanups; a second Ctrl-C (or SIGTERM)
// cancels it, which makes a cluster's shutdown immediate.
func demoCleanupContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	sctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	return sctx, func() { stop(); cancel() }
}

// demoCheckAlone refuses to run where the demo's service would touch other
// contacts than its own: beside a live brevosync (which would take the demo
// contacts to its real Brevo account), or with requests pending on other
// contacts (the demo would send them to the simulator and mark them
// Complete).
func demoCheckAlone(ctx context.Context, pool *pgxpool.Pool) error {
	var pending int
	err := pool.QueryRow(ctx, `SELECT count(*) FROM contacts
		WHERE brevo_sync_status IN ('Selected', 'Queued', 'Processing') AND NOT (`+demoEmailMatch+`)`).Scan(&pending)
	if err != nil {
		return fmt.Errorf("look for pending requests: %w", err)
	}
	if pending > 0 {
		return fmt.Errorf("this database has %d contacts (not the demo's) waiting for or in the middle of a sync: "+
			"the demo would send them to its simulated Brevo and mark them Complete. "+
			"Run the demo on another database (unset DATABASE_URL to let it make one)", pending)
	}
	var host string
	var age time.Duration
	err = pool.QueryRow(ctx, `SELECT hostname, now() - heartbeat_at FROM brevosync_nodes
		WHERE heartbeat_at > now() - interval '30 seconds' ORDER BY heartbeat_at DESC LIMIT 1`).Scan(&host, &age)
	if err == nil {
		return fmt.Errorf("a brevosync service on %s is running against this database (seen %s ago): "+
			"it would send the demo contacts to its Brevo account. Stop it, or run the demo on another database",
			host, age.Round(time.Second))
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("look for running replicas: %w", err)
	}
	return nil
}

// newSimulator starts the Brevo simulator and returns it with the service's
// configuration pointing at it. The configuration comes from the demo's own
// variables, not the environment: the demo never talks to the real Brevo.
func (d *demo) newSimulator(dbURL, logLevel string) (*brevotest.Server, *config, error) {
	key, token := demoRandom("demo-key-"), demoRandom("demo-webhook-")
	attrs := make([]brevotest.Attribute, 0, len(syncer.MappedAttributes)+1)
	attrs = append(attrs, brevotest.Attribute{Name: "EMAIL", Category: "normal", Type: "text"})
	for _, a := range syncer.MappedAttributes {
		attrs = append(attrs, brevotest.Attribute{Name: a.Name, Category: "normal", Type: a.Type})
	}
	sim := brevotest.NewServer(brevotest.Config{APIKey: key, RateLimit: demoRateLimit, Attributes: attrs})
	sim.OnUpsert(func(r brevotest.Request) {
		now := time.Now()
		d.mu.Lock()
		d.arrivals[r.Email] = append(d.arrivals[r.Email], now)
		d.mu.Unlock()
	})
	for _, c := range d.cast {
		switch c.role {
		case demoFlaky:
			sim.Script(c.email, brevotest.Fault{Status: http.StatusInternalServerError})
		case demoLimited:
			sim.Script(c.email, brevotest.Fault{Status: http.StatusTooManyRequests, Reset: time.Second})
		}
	}
	vars := map[string]string{
		"DATABASE_URL":                dbURL,
		"BREVO_API_KEY":               key,
		"BREVO_API_BASE_URL":          sim.URL(),
		"BREVO_LIST_ID":               strconv.Itoa(demoListID),
		"BREVO_SYNC_RETRY_DELAY":      demoRetryDelay.String(),
		"BREVO_SYNC_RATE_LIMIT":       strconv.Itoa(demoRateLimit),
		"BREVO_SYNC_SHUTDOWN_TIMEOUT": "5s",
		"HTTP_ADDR":                   "127.0.0.1:0",
		"BREVO_WEBHOOK_TOKEN":         token,
		"LOG_FORMAT":                  d.env.getenv("LOG_FORMAT"),
		"LOG_LEVEL":                   logLevel,
	}
	cfg, err := loadConfig(func(k string) string { return vars[k] })
	if err != nil {
		sim.Close()
		return nil, nil, fmt.Errorf("demo configuration: %w", err)
	}
	return sim, cfg, nil
}

// startService runs serve in the background and returns once its listener
// is connected. stop cancels it and waits for it to return.
func (d *demo) startService(ctx context.Context, cfg *config, logger *slog.Logger) (serving, func(), error) {
	sctx, cancel := context.WithCancel(ctx)
	started := make(chan serving, 1)
	d.serveDone = make(chan struct{})
	go func() {
		defer close(d.serveDone)
		d.serveErr = serve(sctx, cfg, logger, serveHooks{
			Started: func(s serving) { started <- s },
			OnOutcome: func(o syncer.Outcome) {
				select {
				case d.outcomes <- demoOutcome{Outcome: o, at: time.Now()}:
				default: // never blocks the finalizer; 4096 is far more than the demo needs
				}
			},
		})
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-d.serveDone }) }

	var srv serving
	select {
	case srv = <-started:
	case <-d.serveDone:
		return srv, stop, fmt.Errorf("start the service: %w", demoErrOr(d.serveErr, errors.New("serve returned")))
	case <-ctx.Done():
		return srv, stop, ctx.Err()
	}
	for !srv.Listener.Connected() {
		select {
		case <-srv.Listener.Changes():
		case <-d.serveDone:
			return srv, stop, fmt.Errorf("the service stopped: %w", demoErrOr(d.serveErr, errors.New("serve returned")))
		case <-ctx.Done():
			return srv, stop, ctx.Err()
		case <-time.After(10 * time.Second):
			return srv, stop, errors.New("the listener did not connect within 10s")
		}
	}
	return srv, stop, nil
}

// The application's statements (PUT /api/v3/contacts/crm/select).
const (
	demoSelectOne  = `UPDATE contacts SET brevo_sync_status='Selected', brevo_processing_status='Queued' WHERE id=$1`
	demoSelectMany = `UPDATE contacts SET brevo_sync_status='Selected', brevo_processing_status='Queued' WHERE id = ANY($1)`
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
	d.stepf("Selecting the other %d in one statement (WHERE id = ANY($1): one transaction, one NOTIFY):", len(rest))
	t0 := time.Now()
	if _, err := pool.Exec(ctx, demoSelectMany, ids); err != nil {
		return fmt.Errorf("select in bulk: %w", err)
	}
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
		err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE brevo_sync_status = 'Complete'),
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

// sayf prints a line of the narrative.
func (d *demo) sayf(format string, args ...any) {
	d.endProgress()
	fmt.Fprintf(d.out, format+"\n", args...)
}

// stepf prints a narrative line with the time since the start.
func (d *demo) stepf(format string, args ...any) {
	d.sayf("[%5.2fs] "+format, append([]any{time.Since(d.start).Seconds()}, args...)...)
}

// debugf prints details with -v.
func (d *demo) debugf(format string, args ...any) {
	if d.opts.verbose {
		d.sayf("         · "+format, args...)
	}
}

// progressf shows a progress line: rewritten in place on a terminal, a new
// line otherwise.
func (d *demo) progressf(format string, args ...any) {
	if !d.tty {
		fmt.Fprintf(d.out, format+"\n", args...)
		return
	}
	fmt.Fprintf(d.out, "\r\033[K"+format, args...)
	d.progress = true
}

// endProgress ends a progress line left on screen.
func (d *demo) endProgress() {
	if d.progress {
		fmt.Fprint(d.out, "\r\033[K")
		d.progress = false
	}
}

func demoRandom(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// demoShortError trims the syncer's error text to its Brevo part.
func demoShortError(s string) string {
	if i := strings.Index(s, "brevo: "); i >= 0 {
		s = s[i+len("brevo: "):]
	}
	return s
}

func demoMillis(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func demoSeconds(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func demoMedian(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func demoErrOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
