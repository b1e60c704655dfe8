package demo

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brevosync/brevosync/cmd/brevosync/cli"
	"github.com/brevosync/brevosync/cmd/brevosync/pgtmp"
	"github.com/brevosync/brevosync/cmd/brevosync/service"
	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// Demo settings for the service and the simulator.
const (
	demoRateLimit  = 20 // requests per second, for Brevo and for us
	demoRetryDelay = time.Second
	demoListID     = 2 // makes the simulator send list_addition webhooks
	demoTimeout    = 30 * time.Second
)

// Options are the demo's flags.
type Options struct {
	// Verbose shows the service's logs down to debug (default: warnings).
	Verbose bool
	// JSON prints the final state as one JSON object on stdout; the
	// narrative goes to stderr.
	JSON bool
	// Keep keeps the demo database or leaves the throwaway cluster running.
	Keep bool
	// Cluster uses a throwaway cluster even when DATABASE_URL is set or a
	// local server answers.
	Cluster bool
}

// demo is one run of `brevosync demo`.
type demo struct {
	env   *cli.Env
	opts  Options
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

// Run is `brevosync demo`: the whole flow on this machine against the Brevo
// simulator, with no account and no configuration but the database it
// finds (see the command's help). It returns nil when every expectation
// was met.
func Run(ctx context.Context, e *cli.Env, opts Options) error {
	d := &demo{
		env:      e,
		opts:     opts,
		out:      e.Stdout,
		start:    time.Now(),
		outcomes: make(chan demoOutcome, 4096),
		arrivals: map[string][]time.Time{},
	}
	if d.opts.JSON {
		d.out = e.Stderr
	}
	d.tty = cli.IsTerminal(d.out)
	return d.run(ctx)
}

// run is the demo. Whatever it starts is stopped and removed on every way
// out, Ctrl-C included: the deferred cleanups run with a fresh context, which
// a second Ctrl-C cancels to hurry a cluster's shutdown (fast becomes
// immediate) without skipping it.
func (d *demo) run(ctx context.Context) (err error) {
	// A closed terminal is a Ctrl-C too, and so is a closed pipe (`demo |
	// head`): without this, the first write after it would kill the process
	// and leave the database or the cluster behind.
	ctx, stopSignals := signal.NotifyContext(ctx, syscall.SIGHUP, syscall.SIGPIPE)
	defer stopSignals()
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
	if db.release != nil && !d.opts.Keep {
		cleanups = append(cleanups, func(ctx context.Context) {
			if err := db.release(ctx); err != nil {
				fmt.Fprintf(d.env.Stderr, "brevosync demo: clean up: %v\n", err)
			}
		})
	} else if db.release != nil {
		cleanups = append(cleanups, func(context.Context) { fmt.Fprintf(d.out, "\n%s\n", db.keepHint) })
	}
	d.stepf("Database: %s", db.where)

	level := "warn"
	if d.opts.Verbose {
		level = "debug"
	}
	logger := service.NewLogger(d.env.Stderr, d.env.Getenv("LOG_FORMAT"), level)
	d.mode = db.mode
	pool, err := service.OpenPool(ctx, "DATABASE_URL", db.url, service.PoolOptions{AppName: "brevosync-demo"})
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
	console := fmt.Sprintf("http://%s/ui/", srv.Addr)
	d.stepf("Console: %s (log in with any user name and the password %s)", console, cfg.AdminToken)

	if err := d.oneByOne(ctx, pool); err != nil {
		return err
	}
	if err := d.bulk(ctx, pool); err != nil {
		return err
	}
	if err := d.waitConfirmations(ctx, pool, sim); err != nil {
		return err
	}

	if !d.opts.Keep {
		stopServe() // a stable state to report, and the replica deregistered
	}
	res, err := d.report(ctx, pool, sim)
	if err != nil {
		return err
	}
	if d.opts.JSON {
		b, _ := json.Marshal(res)
		fmt.Fprintf(d.env.Stdout, "%s\n", b)
	}
	if len(res.Problems) > 0 {
		return fmt.Errorf("%d expectation(s) not met: %s", len(res.Problems), strings.Join(res.Problems, "; "))
	}
	if d.opts.Keep {
		d.sayf("\nThe service, the simulated Brevo and the console keep running: %s (password %s).", console, cfg.AdminToken)
		d.sayf("Press Ctrl-C to stop them (the database is kept).")
		<-ctx.Done()
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
		WHERE `+schema.UnfinishedWhere+` AND NOT (`+demoEmailMatch+`)`).Scan(&pending)
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
func (d *demo) newSimulator(dbURL, logLevel string) (*brevotest.Server, *service.Config, error) {
	key, token := demoRandom("demo-key-"), demoRandom("demo-webhook-")
	attrs := make([]brevotest.Attribute, 0, len(brevo.MappedAttributes)+1)
	attrs = append(attrs, brevotest.Attribute{Name: "EMAIL", Category: "normal", Type: "text"})
	for _, a := range brevo.MappedAttributes {
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
		"BREVO_SYNC_ADMIN_TOKEN":      demoRandom("demo-admin-"),
		"LOG_FORMAT":                  d.env.Getenv("LOG_FORMAT"),
		"LOG_LEVEL":                   logLevel,
	}
	cfg, err := service.Load(func(k string) string { return vars[k] }, service.Serve)
	if err != nil {
		sim.Close()
		return nil, nil, fmt.Errorf("demo configuration: %w", err)
	}
	return sim, cfg, nil
}

// startService runs serve in the background and returns once its listener
// is connected. stop cancels it and waits for it to return.
func (d *demo) startService(ctx context.Context, cfg *service.Config, logger *slog.Logger) (service.Serving, func(), error) {
	sctx, cancel := context.WithCancel(ctx)
	started := make(chan service.Serving, 1)
	d.serveDone = make(chan struct{})
	go func() {
		defer close(d.serveDone)
		d.serveErr = service.Run(sctx, cfg, logger, service.Hooks{
			Started: func(s service.Serving) { started <- s },
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

	var srv service.Serving
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
