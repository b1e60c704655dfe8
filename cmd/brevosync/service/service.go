// Package service wires `brevosync serve` and what the other commands share
// with it: the configuration from the environment, database pools, the
// logger. The command line parses flags and prints; everything that talks
// to the database or to Brevo on its behalf is called from here or from the
// packages this wires.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/brevosync/brevosync/listener"
	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo"
	"github.com/brevosync/brevosync/webhook"
	"github.com/brevosync/brevosync/webhook/console"
)

// Serving is what a running service exposes to tests and to the demo.
type Serving struct {
	Addr     net.Addr
	Listener *listener.Listener
	Syncer   *syncer.Syncer
}

// WaitListening waits, up to 30 s, until the service's listener is
// connected.
func (sv Serving) WaitListening(ctx context.Context) error {
	timeout := time.After(30 * time.Second)
	for {
		ch := sv.Listener.Changes()
		if sv.Listener.Connected() {
			return nil
		}
		select {
		case <-ch:
		case <-timeout:
			return errors.New("listener not connected after 30s")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Hooks let tests and the demo follow a running service in process.
type Hooks struct {
	// Started is called once everything is wired and the HTTP server is
	// listening.
	Started func(Serving)
	// OnOutcome is passed to the syncer (see syncer.Config.OnOutcome).
	OnOutcome func(syncer.Outcome)
	// Version is logged at start.
	Version string
}

// Run runs the service until ctx is cancelled: listener, syncer with its
// sweep, and the HTTP server (webhook, health, readiness, metrics).
func Run(ctx context.Context, cfg *Config, logger *slog.Logger, hooks Hooks) error {
	TuneGC()
	// The syncer's own pool first, with the session settings its statements
	// want (see syncer.SessionSettings): it is the one that recognises a
	// pooler, by its refusal of them.
	syncPool, pooled, err := OpenPooled(ctx, "DATABASE_URL", cfg.DatabaseURL, PoolOptions{
		AppName: "brevosync-syncer", Params: syncer.SessionSettings, Logger: logger,
		Tune: func(c *pgxpool.Config) { c.MinConns = min(3, c.MaxConns) }, // claim, outcomes, timer: warm from the start
	})
	if err != nil {
		return err
	}
	defer syncPool.Close()
	pool, err := OpenPool(ctx, "DATABASE_URL", cfg.DatabaseURL, PoolOptions{AppName: "brevosync", Pooled: pooled})
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := schema.Check(ctx, pool); err != nil {
		return err
	}
	listenConn, err := pgx.ParseConfig(cfg.DatabaseListenURL)
	if err != nil {
		return &ConfigError{Var: "DATABASE_LISTEN_URL", Err: fmt.Errorf("not a valid Postgres connection string: %s", parseProblem(err))}
	}
	if soft, hard, err := webhook.RaiseFileLimit(); err == nil {
		logger.Debug("open files limit", slog.Uint64("soft", soft), slog.Uint64("hard", hard))
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	client := brevo.NewClient(brevo.Config{
		BaseURL: cfg.APIBaseURL,
		APIKey:  cfg.APIKey,
		Timeout: cfg.RequestTimeout,
	})
	crm := brevo.NewCRM(client, cfg.ListIDs)
	sy, err := syncer.New(syncPool, crm, syncer.Config{
		BatchSize:       cfg.BatchSize,
		Concurrency:     cfg.Concurrency,
		RateLimit:       cfg.RateLimit,
		Retry:           cfg.Retry(),
		Lease:           cfg.Lease,
		SweepInterval:   cfg.SweepInterval,
		ShutdownTimeout: cfg.ShutdownTimeout,
		SweepTasks:      []syncer.SweepTask{pruneEvents(cfg.WebhookRetention)},
		DisableMirror:   !cfg.Mirror,
		Logger:          logger,
		Metrics:         syncer.NewMetrics(reg, pool),
		OnOutcome:       hooks.OnOutcome,
		Import: syncer.ImportConfig{
			Threshold:        cfg.ImportThreshold,
			PublicURL:        cfg.PublicURL,
			ProcessesPerHour: cfg.ProcessesPerHour,
		},
	})
	if err != nil {
		return err
	}
	listenName := "DATABASE_LISTEN_URL"
	if cfg.DatabaseListenURL == cfg.DatabaseURL {
		listenName = "DATABASE_URL (no DATABASE_LISTEN_URL is set)"
	}
	li, err := listener.New(listener.Config{
		ConnConfig: listenConn,
		Pool:       pool,
		URLName:    listenName,
		Logger:     logger,
		Metrics:    listener.NewMetrics(reg),
	}, sy)
	if err != nil {
		return err
	}

	handler := webhook.NewHandler(webhook.Config{
		Pool:           pool,
		Logger:         logger,
		Token:          cfg.WebhookToken,
		AllowedCIDRs:   cfg.AllowedCIDRs,
		TrustedProxies: cfg.TrustedProxies,
		Registerer:     reg,
		Metrics:        promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		Ready: func(ctx context.Context) error {
			// Polling (Degraded) keeps latency bounded whatever the
			// listener's connection does: the service works.
			if !li.Connected() && li.Degraded() == "" {
				return errors.New("listener not connected")
			}
			return pool.Ping(ctx)
		},
		ReadyNote: li.Degraded,
	})
	srv := webhook.NewServer(cfg.HTTPAddr, routes(handler, newConsole(cfg, pool, logger, client, li, sy)))
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}

	if cfg.WebhookToken == "" {
		logger.Warn("BREVO_WEBHOOK_TOKEN is empty: POST /webhooks/brevo answers 503 until it is set")
	}
	logger.Info("brevosync starting",
		slog.String("version", hooks.Version),
		slog.String("http_addr", ln.Addr().String()),
		slog.String("brevo_api", cfg.APIBaseURL),
		slog.Any("list_ids", cfg.ListIDs),
		slog.Int("concurrency", cfg.Concurrency),
		slog.Float64("rate_limit", cfg.RateLimit),
		slog.Int("batch_size", cfg.BatchSize),
		slog.Int("max_retries", cfg.MaxRetries),
		slog.Duration("retry_delay", cfg.RetryDelay),
		slog.Bool("retry_exponential", cfg.RetryExponential),
		slog.Duration("lease", cfg.Lease),
		slog.Duration("sweep_interval", cfg.SweepInterval),
		slog.Bool("mirror", cfg.Mirror),
		slog.Int("import_threshold", cfg.ImportThreshold),
		slog.Bool("import_notify_url", cfg.PublicURL != ""))

	// Before the first send, so that values go in the form each attribute
	// takes.
	checkAttributes(ctx, crm, logger)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return li.Run(gctx) })
	g.Go(func() error { return sy.Run(gctx) })
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	if hooks.Started != nil {
		hooks.Started(Serving{Addr: ln.Addr(), Listener: li, Syncer: sy})
	}
	err = g.Wait()
	if err != nil {
		return err
	}
	logger.Info("brevosync stopped")
	return nil
}

// TuneGC trades a little memory for CPU: the live heap of serve is a few
// megabytes, so collecting at 5x it instead of 2x costs little, with a soft
// limit as a backstop. GOGC and GOMEMLIMIT, when set, win.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(256 << 20)
	}
}

// checkAttributes reads the account's attributes, so that values go in the
// form each attribute takes, and tells the operator what Brevo would drop:
// attributes it lacks, and values that fit no attribute type.
func checkAttributes(ctx context.Context, crm *brevo.CRM, logger *slog.Logger) {
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	attrs, err := crm.LoadAttributes(actx)
	if err != nil {
		if ctx.Err() == nil {
			logger.Warn("could not list Brevo's contact attributes; values are sent in the mapping's own form",
				slog.Any("err", err))
		}
		return
	}
	if missing := brevo.Missing(attrs); len(missing) > 0 {
		logger.Warn("Brevo lacks attributes the mapping sends, and drops them silently; "+
			"run 'brevosync attributes ensure' to create them", slog.Any("missing", missing))
	}
	for _, m := range brevo.Mismatches(attrs) {
		logger.Warn("a Brevo attribute differs from the mapping; see 'brevosync attributes'", slog.String("attribute", m))
	}
}

// pruneEvents is the sweep task that deletes webhook events older than
// retention, in small batches.
func pruneEvents(retention time.Duration) syncer.SweepTask {
	return syncer.SweepTask{
		Name: "prune webhook events",
		Run: func(ctx context.Context, tx pgx.Tx) (int64, error) {
			return webhook.PruneEvents(ctx, tx, retention, 0)
		},
	}
}

// routes puts the operator console (contract §6: /api/v1/…, /ui/, and /
// redirecting there) beside the webhook handler, which answers every other
// path.
func routes(hooks, cons http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/{$}", cons)
	mux.Handle("/ui", cons)
	mux.Handle("/ui/", cons)
	mux.Handle("/api/", cons)
	mux.Handle("/", hooks)
	return mux
}

// newConsole is the operator console over the same pool, with what only the
// running service knows.
func newConsole(cfg *Config, pool *pgxpool.Pool, logger *slog.Logger, client *brevo.Client,
	li *listener.Listener, sy *syncer.Syncer) http.Handler {
	return console.New(console.Config{
		Pool:     pool,
		Token:    cfg.AdminToken,
		Logger:   logger,
		Probe:    client.AccountName,
		Settings: func() any { return cfg.Redacted() },
		Live: func() console.Live {
			p := sy.Paused()
			l := console.Live{ListenerConnected: li.Connected(), ListenerNote: li.Degraded(),
				Paused: p.Paused, PausedUntil: p.Until}
			switch p.Reason {
			case "unauthorized":
				l.PausedReason = "Brevo refuses the API key (check BREVO_API_KEY); brevosync probes and resumes by itself"
			case "rate_limited":
				l.PausedReason = "rate limited by Brevo (429): waiting for its reset"
			}
			l.Imports = imports(sy, logger)
			return l
		},
		RecentEvents: func(ctx context.Context, email string, limit int) (any, error) {
			return webhook.RecentEvents(ctx, pool, email, limit)
		},
	})
}

// imports lists the imports in flight for the console's header; on an
// error (the import tables missing, the database away) it logs at debug
// and lists none: the status request it belongs to says what is wrong.
func imports(sy *syncer.Syncer, logger *slog.Logger) []console.Import {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	jobs, err := sy.Imports(ctx)
	if err != nil {
		logger.Debug("console: list imports", slog.Any("err", err))
		return nil
	}
	out := make([]console.Import, 0, len(jobs))
	for _, j := range jobs {
		id := j.Process
		if id == "" {
			id = fmt.Sprintf("job %d (not submitted yet)", j.ID)
		}
		out = append(out, console.Import{ID: id, Contacts: j.Contacts, Status: j.State, StartedAt: j.CreatedAt})
	}
	return out
}
