package syncer

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sethvargo/go-retry"

	schema "github.com/brevosync/brevosync/sql"
)

// Defaults for the zero values of Config. They are the service's defaults
// too: `brevosync serve` reads them from here.
const (
	DefaultBatchSize       = 100
	DefaultConcurrency     = 16
	DefaultMaxRetries      = 3
	DefaultRetryDelay      = 5 * time.Minute
	DefaultRateLimit       = 10.0
	DefaultLease           = time.Minute
	DefaultSweepInterval   = 5 * time.Minute
	DefaultShutdownTimeout = 20 * time.Second
	DefaultAuthProbe       = 5 * time.Second
	DefaultHeartbeat       = 5 * time.Second
)

// Config tunes a Syncer. Zero values take the defaults above, except where a
// field says otherwise.
type Config struct {
	// BatchSize caps the rows taken by one claim statement.
	BatchSize int
	// Concurrency caps this process's CRM requests in flight.
	Concurrency int
	// RateLimit is CRM requests per second for all replicas together;
	// each replica takes an equal share. Zero means no limit.
	RateLimit float64
	// Retry is the retry policy; its zero fields take its defaults
	// (MaxRetries zero means no retries).
	Retry RetryPolicy
	// Lease is how long a claim holds before another process may take the
	// row back. It must exceed the CRM client's timeout.
	Lease time.Duration
	// SweepInterval is the period of the fallback sweep.
	SweepInterval time.Duration
	// SweepTasks run in every sweep, on one replica at a time.
	SweepTasks []SweepTask
	// DisableMirror turns the mirror off (BREVO_SYNC_MIRROR=false): synced
	// contacts are no longer sent again when they change, nor removed from
	// the lists when unselected or deleted. Run records it in the database,
	// where the triggers read it, for every replica.
	DisableMirror bool
	// ShutdownTimeout bounds how long requests in flight may finish once Run's
	// context is cancelled; unfinished claims are then handed back.
	ShutdownTimeout time.Duration
	// AuthProbeInterval is the first wait between probes of the CRM while its
	// answers say the credentials are wrong; it doubles up to a minute.
	AuthProbeInterval time.Duration
	// HeartbeatInterval is how often the replica refreshes its registration
	// (and so its share of RateLimit).
	HeartbeatInterval time.Duration
	// Logger receives the syncer's logs; nil discards them.
	Logger *slog.Logger
	// Metrics records Prometheus metrics; nil records none.
	Metrics *Metrics
	// OnOutcome, when set, is called after each outcome is written, from
	// the finalizer's goroutine (the import driver's for imported
	// contacts), one call at a time; it must not block. Tests and the demo
	// use it to follow progress without polling.
	OnOutcome func(Outcome)
	// Import sends large backlogs through the CRM's import (import.go);
	// its zero value leaves it off.
	Import ImportConfig
}

// Outcome is what became of one claimed contact, as written to its row.
type Outcome struct {
	ContactID string
	Result    Result
	Attempt   int    // 1 for the first attempt of the request
	Error     string // the error written on the row, if any
	BrevoID   string // the CRM's contact id when it returned one
}

// Syncer claims selected contacts, upserts them into the CRM and writes the
// outcome back. See the package documentation for its guarantees.
type Syncer struct {
	db      *pgxpool.Pool
	crm     CRM
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	node    pgtype.UUID
	host    string
	budget  *budget

	// touchUpdatedAt: contacts has updated_at, and outcome writes bump it.
	touchUpdatedAt bool

	wake      chan struct{} // coalesced wake-ups: notifications, sweeps
	rearm     chan struct{} // outcomes scheduled new due times
	slotFree  chan struct{} // a request finished
	inflight  atomic.Int64  // contacts claimed and not yet finished
	sendSlots chan struct{} // a slot per CRM request in flight
	results   chan outcome

	background sync.WaitGroup // sweeper, heartbeat, auth prober, imports

	imports *importer // the bulk path; nil when off
	// backlog is the backlog the claim loop leaves to the bulk path, if
	// any; the claim loop's alone.
	backlog  backlogMark
	reportMu sync.Mutex // one outcome report (OnOutcome) at a time
}

// New returns a Syncer that reads and writes contacts through db and sends
// them to crm.
func New(db *pgxpool.Pool, crm CRM, cfg Config) (*Syncer, error) {
	if db == nil || crm == nil {
		return nil, errors.New("new syncer: a database pool and a CRM are required")
	}
	if cfg.Retry.MaxRetries < 0 || cfg.RateLimit < 0 || cfg.BatchSize < 0 || cfg.Concurrency < 0 {
		return nil, errors.New("new syncer: negative setting")
	}
	cfg.BatchSize = cmp.Or(cfg.BatchSize, DefaultBatchSize)
	cfg.Concurrency = cmp.Or(cfg.Concurrency, DefaultConcurrency)
	cfg.Retry = cfg.Retry.withDefaults()
	cfg.Lease = cmp.Or(cfg.Lease, DefaultLease)
	cfg.SweepInterval = cmp.Or(cfg.SweepInterval, DefaultSweepInterval)
	cfg.ShutdownTimeout = cmp.Or(cfg.ShutdownTimeout, DefaultShutdownTimeout)
	cfg.AuthProbeInterval = cmp.Or(cfg.AuthProbeInterval, DefaultAuthProbe)
	cfg.HeartbeatInterval = cmp.Or(cfg.HeartbeatInterval, DefaultHeartbeat)
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	b := newBudget(cfg.RateLimit)
	if p, ok := crm.(Paced); ok {
		p.SetPacer(b)
	}
	s := &Syncer{
		db:        db,
		crm:       crm,
		cfg:       cfg,
		log:       logger.With("component", "syncer"),
		metrics:   cfg.Metrics,
		node:      newToken(),
		host:      host,
		budget:    b,
		wake:      make(chan struct{}, 1),
		rearm:     make(chan struct{}, 1),
		slotFree:  make(chan struct{}, 1),
		results:   make(chan outcome, 2*cfg.Concurrency),
		sendSlots: make(chan struct{}, cfg.Concurrency),
	}
	s.imports = newImporter(s, cfg.Import)
	return s, nil
}

// Paused says whether sending to the CRM is paused now, and why (for the
// operator console).
func (s *Syncer) Paused() Pause { return s.budget.pause() }

// Wake asks the syncer to claim due contacts now. It never blocks; wake-ups
// that arrive while one is pending are folded into it.
func (s *Syncer) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
	s.imports.wake()
}

// Run syncs until ctx is cancelled, then shuts down in stages: it stops
// claiming, lets requests in flight finish for up to ShutdownTimeout, hands
// back every claim it could not finish without charging an attempt, writes
// the outcomes and returns. It returns nil after a clean shutdown; database
// and CRM outages are retried, not returned.
func (s *Syncer) Run(ctx context.Context) error {
	// Which columns the outcome writes may touch, read once: a database
	// down at start is waited for, like any outage.
	err := retry.Do(ctx, dbBackoff(), func(ctx context.Context) error {
		info, err := schema.Inspect(ctx, s.db)
		s.touchUpdatedAt = info.Columns["updated_at"]
		if err != nil {
			s.logUnlessDone(ctx, "read the schema", err)
		}
		return retry.RetryableError(err)
	})
	if err != nil {
		return nil // cancelled before the database answered
	}
	if err := schema.SetMirror(ctx, s.db, !s.cfg.DisableMirror); err != nil {
		s.logUnlessDone(ctx, "record the mirror setting", err)
	}
	s.heartbeat(ctx) // register first, so the rate share is right from the start

	// Requests in flight outlive ctx by up to ShutdownTimeout.
	reqCtx, cancelReqs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelReqs()

	var finalizerDone sync.WaitGroup
	finalizerDone.Go(func() { s.finalizeLoop(context.WithoutCancel(ctx)) })
	s.background.Go(func() {
		every(ctx, s.cfg.SweepInterval, func() {
			if _, err := s.Sweep(ctx); err != nil {
				s.logUnlessDone(ctx, "sweep", err)
			}
		})
	})
	s.background.Go(func() { every(ctx, s.cfg.HeartbeatInterval, func() { s.heartbeat(ctx) }) })
	s.background.Go(func() { s.imports.run(ctx) })

	var work sync.WaitGroup
	s.dispatch(ctx, reqCtx, &work)

	s.log.InfoContext(ctx, "stopped claiming; waiting for requests in flight",
		slog.Int64("in_flight", s.inflight.Load()), slog.Duration("timeout", s.cfg.ShutdownTimeout))
	t := time.AfterFunc(s.cfg.ShutdownTimeout, cancelReqs)
	defer t.Stop()
	work.Wait()
	close(s.results)
	finalizerDone.Wait()
	s.background.Wait()

	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := deregister(dctx, s.db, s.node); err != nil {
		s.log.WarnContext(ctx, "could not deregister replica", slog.Any("err", err))
	}
	return nil
}

// every calls f every d until ctx ends.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

func (s *Syncer) logUnlessDone(ctx context.Context, what string, err error) {
	if ctx.Err() != nil {
		return
	}
	s.log.WarnContext(ctx, what+" failed", slog.Any("err", err))
}

// dbBackoff is the retry schedule for database errors.
func dbBackoff() retry.Backoff {
	return retry.WithCappedDuration(5*time.Second,
		retry.WithJitterPercent(10, retry.NewExponential(100*time.Millisecond)))
}
