package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/brevosync/brevosync/listener"
	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo"
	"github.com/brevosync/brevosync/webhook"
)

func init() {
	register(&command{
		name:    "serve",
		summary: "run the listener, the syncer, the sweep and the HTTP server",
		help: `Runs until SIGINT or SIGTERM: listens for selected contacts, upserts them
into Brevo and writes the outcome back; sweeps for missed requests, due retries
and expired claims every BREVO_SYNC_SWEEP_INTERVAL; serves POST /webhooks/brevo,
/healthz, /readyz and /metrics on HTTP_ADDR.

On SIGTERM it stops listening and claiming, lets requests in flight finish for
up to BREVO_SYNC_SHUTDOWN_TIMEOUT, hands unfinished claims back without
charging an attempt, and exits 0.

Requires DATABASE_URL and BREVO_API_KEY; run 'brevosync migrate' first.
See README.md for every setting.`,
		run: func(ctx context.Context, e *env, fs *flag.FlagSet) error {
			if fs.NArg() > 0 {
				return usagef("serve takes no arguments")
			}
			cfg, err := loadConfig(e.getenv)
			if err != nil {
				return err
			}
			if err := cfg.require("DATABASE_URL", "BREVO_API_KEY"); err != nil {
				return err
			}
			return serve(ctx, cfg, newLogger(e.stderr, cfg.LogFormat, cfg.LogLevel), serveHooks{})
		},
	})
}

// serving is what a running serve exposes to tests and to demo.
type serving struct {
	Addr     net.Addr
	Listener *listener.Listener
	Syncer   *syncer.Syncer
}

// serveHooks let tests and demo follow a running serve in process.
type serveHooks struct {
	// Started is called once everything is wired and the HTTP server is
	// listening.
	Started func(serving)
	// OnOutcome is passed to the syncer (see syncer.Config.OnOutcome).
	OnOutcome func(syncer.Outcome)
}

// serve runs the service until ctx is cancelled.
func serve(ctx context.Context, cfg *config, logger *slog.Logger, hooks serveHooks) error {
	tuneGC()
	pool, err := openPool(ctx, cfg.DatabaseURL, "brevosync", nil)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := checkSchema(ctx, pool); err != nil {
		return err
	}
	// The syncer's own pool, with the session settings its statements want
	// (see syncer.SessionSettings).
	syncPool, err := openPool(ctx, cfg.DatabaseURL, "brevosync-syncer", syncer.SessionSettings,
		func(c *pgxpool.Config) { c.MinConns = min(3, c.MaxConns) }) // claim, outcomes, timer: warm from the start
	if err != nil {
		return err
	}
	defer syncPool.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	client := brevo.NewClient(brevo.Config{
		BaseURL: cfg.APIBaseURL,
		APIKey:  cfg.APIKey,
		Timeout: cfg.RequestTimeout,
	})
	sy, err := syncer.New(syncPool, client, syncer.Config{
		ListIDs:         cfg.ListIDs,
		BatchSize:       cfg.batchSize(),
		Concurrency:     cfg.Concurrency,
		RateLimit:       cfg.RateLimit,
		MaxRetries:      cfg.MaxRetries,
		RetryDelay:      cfg.retryDelay(),
		RetryLinear:     !cfg.RetryExponential,
		Lease:           cfg.Lease,
		SweepInterval:   cfg.sweepInterval(),
		ShutdownTimeout: cfg.ShutdownTimeout,
		Logger:          logger,
		Metrics:         syncer.NewMetrics(reg, pool),
		OnOutcome:       hooks.OnOutcome,
	})
	if err != nil {
		return err
	}
	li, err := listener.New(listener.Config{
		ConnConfig: pool.Config().ConnConfig,
		Pool:       pool,
		Logger:     logger,
		Metrics:    listener.NewMetrics(reg),
	}, sy)
	if err != nil {
		return err
	}

	allowed, _ := parsePrefixes(cfg.AllowedCIDRs) // validated by loadConfig
	proxies, _ := parsePrefixes(cfg.TrustedProxies)
	handler := webhook.NewHandler(webhook.Config{
		Pool:           pool,
		Logger:         logger,
		Token:          cfg.WebhookToken,
		AllowedCIDRs:   allowed,
		TrustedProxies: proxies,
		Registerer:     reg,
		Metrics:        promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		Ready: func(ctx context.Context) error {
			if !li.Connected() {
				return errors.New("listener not connected")
			}
			return pool.Ping(ctx)
		},
	})
	srv := webhook.NewServer(cfg.httpAddr(), handler)
	ln, err := net.Listen("tcp", cfg.httpAddr())
	if err != nil {
		return fmt.Errorf("listen on HTTP_ADDR %s: %w", cfg.httpAddr(), err)
	}

	if cfg.WebhookToken == "" {
		logger.Warn("BREVO_WEBHOOK_TOKEN is empty: POST /webhooks/brevo answers 503 until it is set")
	}
	logger.Info("brevosync starting",
		slog.String("version", buildVersion()),
		slog.String("http_addr", ln.Addr().String()),
		slog.String("brevo_api", cfg.APIBaseURL),
		slog.Any("list_ids", cfg.ListIDs),
		slog.Int("concurrency", cfg.Concurrency),
		slog.Float64("rate_limit", cfg.RateLimit),
		slog.Int("batch_size", cfg.batchSize()),
		slog.Int("max_retries", cfg.MaxRetries),
		slog.Duration("retry_delay", cfg.retryDelay()),
		slog.Bool("retry_exponential", cfg.RetryExponential),
		slog.Duration("lease", cfg.Lease),
		slog.Duration("sweep_interval", cfg.sweepInterval()))

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
	g.Go(func() error {
		warnMissingAttributes(gctx, client, logger)
		return nil
	})
	if hooks.Started != nil {
		hooks.Started(serving{Addr: ln.Addr(), Listener: li, Syncer: sy})
	}
	err = g.Wait()
	if err != nil {
		return err
	}
	logger.Info("brevosync stopped")
	return nil
}

// tuneGC trades a little memory for CPU: the live heap of serve is a few
// megabytes, so collecting at 5x it instead of 2x costs little, with a soft
// limit as a backstop. GOGC and GOMEMLIMIT, when set, win.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(256 << 20)
	}
}

// checkSchema fails early, with the fix, when migrate has not run.
func checkSchema(ctx context.Context, pool *pgxpool.Pool) error {
	var ok bool
	err := pool.QueryRow(ctx, `SELECT to_regclass('brevosync_nodes') IS NOT NULL
		AND EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'brevosync_request_update')`).Scan(&ok)
	if err != nil {
		return fmt.Errorf("check schema: %w", err)
	}
	if !ok {
		return errors.New("the database has no brevosync schema: run 'brevosync migrate' first")
	}
	return nil
}

// warnMissingAttributes tells the operator about mapped attributes Brevo
// lacks: Brevo silently drops unknown attributes.
func warnMissingAttributes(ctx context.Context, client *brevo.Client, logger *slog.Logger) {
	actx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	attrs, err := client.Attributes(actx)
	if err != nil {
		if ctx.Err() == nil {
			logger.Warn("could not list Brevo's contact attributes", slog.Any("err", err))
		}
		return
	}
	if missing := missingAttributes(attrs); len(missing) > 0 {
		logger.Warn("Brevo lacks attributes the mapping sends, and drops them silently; "+
			"run 'brevosync attributes ensure' to create them", slog.Any("missing", missing))
	}
}

// missingAttributes lists the mapped attributes absent from attrs.
func missingAttributes(attrs []brevo.Attribute) []string {
	have := make(map[string]bool, len(attrs))
	for _, a := range attrs {
		have[a.Name] = true
	}
	var missing []string
	for _, m := range syncer.MappedAttributes {
		if !have[m.Name] {
			missing = append(missing, m.Name)
		}
	}
	return missing
}
