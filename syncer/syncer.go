package syncer

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sethvargo/go-retry"
	"golang.org/x/time/rate"

	"github.com/brevosync/brevosync/syncer/brevo"
)

// Defaults for the zero values of Config.
const (
	DefaultBatchSize       = 100
	DefaultConcurrency     = 16
	DefaultRetryDelay      = 5 * time.Minute
	DefaultLease           = time.Minute
	DefaultSweepInterval   = 5 * time.Minute
	DefaultShutdownTimeout = 20 * time.Second
	DefaultAuthProbe       = 5 * time.Second
	DefaultHeartbeat       = 5 * time.Second
)

// Config tunes a Syncer. Zero values take the defaults above, except where a
// field says otherwise.
type Config struct {
	// ListIDs are the Brevo lists every synced contact joins.
	ListIDs []int64
	// BatchSize caps the rows taken by one claim statement.
	BatchSize int
	// Concurrency caps this process's Brevo requests in flight.
	Concurrency int
	// RateLimit is Brevo requests per second for all replicas together;
	// each replica takes an equal share. Zero means no limit.
	RateLimit float64
	// MaxRetries is the attempts after the first before a contact is
	// Failed. Zero means none (the service's configured default is 3).
	MaxRetries int
	// RetryDelay is the base delay before a retry.
	RetryDelay time.Duration
	// RetryLinear makes the delay before retry n base·(n+1) instead of
	// base·2^n.
	RetryLinear bool
	// Lease is how long a claim holds before another process may take the
	// row back. It must exceed the Brevo client's timeout.
	Lease time.Duration
	// SweepInterval is the period of the fallback sweep.
	SweepInterval time.Duration
	// ShutdownTimeout bounds how long requests in flight may finish once Run's
	// context is cancelled; unfinished claims are then handed back.
	ShutdownTimeout time.Duration
	// AuthProbeInterval is the first wait between probes of Brevo while its
	// answers say the API key is wrong; it doubles up to a minute.
	AuthProbeInterval time.Duration
	// HeartbeatInterval is how often the replica refreshes its registration
	// (and so its share of RateLimit).
	HeartbeatInterval time.Duration
	// Logger receives the syncer's logs; nil discards them.
	Logger *slog.Logger
	// Metrics records Prometheus metrics; nil records none.
	Metrics *Metrics
	// OnOutcome, when set, is called after each outcome is written, from
	// the finalizer's goroutine; it must not block. Tests and the demo use
	// it to follow progress without polling.
	OnOutcome func(Outcome)
}

// Outcome is what became of one claimed contact, as written to its row.
type Outcome struct {
	ContactID string
	Result    Result
	Attempt   int    // 1 for the first attempt of the request
	Error     string // the error written on the row, if any
	BrevoID   string // Brevo's contact id when Brevo returned one
}

// Syncer claims selected contacts, upserts them into Brevo and writes the
// outcome back. See the package documentation for its guarantees.
type Syncer struct {
	db      *pgxpool.Pool
	client  *brevo.Client
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	policy  retryPolicy
	node    pgtype.UUID
	host    string

	limiter *rate.Limiter // nil when RateLimit is 0
	share   atomic.Int64  // replicas sharing RateLimit
	gate    gate

	wake      chan struct{} // coalesced wake-ups: notifications, sweeps
	rearm     chan struct{} // outcomes scheduled new due times
	slotFree  chan struct{} // a request finished
	inflight  atomic.Int64  // contacts claimed and not yet finished
	sendSlots chan struct{} // a slot per Brevo request in flight
	results   chan outcome

	background sync.WaitGroup // sweeper, heartbeat, auth prober
}

// New returns a Syncer that reads and writes contacts through db and sends
// them to Brevo through client.
func New(db *pgxpool.Pool, client *brevo.Client, cfg Config) (*Syncer, error) {
	if db == nil || client == nil {
		return nil, errors.New("new syncer: a database pool and a Brevo client are required")
	}
	if cfg.MaxRetries < 0 || cfg.RateLimit < 0 || cfg.BatchSize < 0 || cfg.Concurrency < 0 {
		return nil, errors.New("new syncer: negative setting")
	}
	cfg.BatchSize = cmp.Or(cfg.BatchSize, DefaultBatchSize)
	cfg.Concurrency = cmp.Or(cfg.Concurrency, DefaultConcurrency)
	cfg.RetryDelay = cmp.Or(cfg.RetryDelay, DefaultRetryDelay)
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
	s := &Syncer{
		db:      db,
		client:  client,
		cfg:     cfg,
		log:     logger.With("component", "syncer"),
		metrics: cfg.Metrics,
		policy: retryPolicy{maxRetries: cfg.MaxRetries, base: cfg.RetryDelay,
			linear: cfg.RetryLinear, jitterRatio: 0.1},
		node:      newToken(),
		host:      host,
		wake:      make(chan struct{}, 1),
		rearm:     make(chan struct{}, 1),
		slotFree:  make(chan struct{}, 1),
		results:   make(chan outcome, 2*cfg.Concurrency),
		sendSlots: make(chan struct{}, cfg.Concurrency),
	}
	s.share.Store(1)
	if cfg.RateLimit > 0 {
		s.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), 1)
	}
	return s, nil
}

// Wake asks the syncer to claim due contacts now. It never blocks; wake-ups
// that arrive while one is pending are folded into it.
func (s *Syncer) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run syncs until ctx is cancelled, then shuts down in stages: it stops
// claiming, lets requests in flight finish for up to ShutdownTimeout, hands
// back every claim it could not finish without charging an attempt, writes
// the outcomes and returns. It returns nil after a clean shutdown; database
// and Brevo outages are retried, not returned.
func (s *Syncer) Run(ctx context.Context) error {
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

// capacity is how many claimed contacts this process holds at most: the
// requests that may be in flight (Concurrency, or with a rate limit about two
// seconds' worth of this replica's share, so that a claimed row never waits
// long for its turn), plus a quarter more waiting for a free request slot, so
// that claiming in batches never leaves a slot idle.
func (s *Syncer) capacity() int64 {
	c := int64(s.cfg.Concurrency)
	if s.limiter != nil {
		c = min(c, max(1, int64(math.Ceil(2*float64(s.limiter.Limit())))))
	}
	return c + c/4
}

// dispatch is the claim loop. It runs a claim pass at start (the catch-up),
// on every wake-up, and when the earliest due retry or lease expiry comes.
func (s *Syncer) dispatch(ctx, reqCtx context.Context, work *sync.WaitGroup) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	contended := 0
	for {
		rescue := false
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-s.rearm:
			// Outcomes were written with new due times after the timer was
			// set: set it again from the database.
			if s.armTimer(ctx, timer) {
				continue
			}
		case <-timer.C:
			rescue = true // a lease may have expired
		}
		if rescue {
			if n, err := rescueExpired(ctx, s.db); err != nil {
				s.logUnlessDone(ctx, "take back expired claims", err)
			} else if n > 0 {
				s.log.InfoContext(ctx, "took back expired claims", slog.Int64("count", n))
			}
		}
		claimed, ok := s.drain(ctx, reqCtx, work)
		if !ok {
			return
		}
		if claimed > 0 {
			contended = 0
		}
		if !s.armTimer(ctx, timer) {
			// Due now, yet nothing claimable by us was left: another replica
			// is claiming those rows right now (SKIP LOCKED), a transaction
			// holds them locked, or a lease expired. Look again soon, backing
			// off from 10ms to 1s while that lasts.
			timer.Reset(min(time.Second, 10*time.Millisecond<<contended))
			contended = min(contended+1, 7)
		}
	}
}

// armTimer sets timer to the next due time in the database. It reports false
// (and leaves timer alone) when something is due already.
func (s *Syncer) armTimer(ctx context.Context, timer *time.Timer) bool {
	start := time.Now()
	wait, ok, err := nextDue(ctx, s.db)
	s.metrics.statement("next_due", start)
	switch {
	case err != nil:
		s.logUnlessDone(ctx, "schedule next claim", err)
		wait = time.Second
	case !ok:
		wait = s.cfg.SweepInterval
	case wait <= 0:
		return false
	default:
		wait += 2 * time.Millisecond
	}
	timer.Reset(wait)
	return true
}

// rearmTimer tells the claim loop that due times changed.
func (s *Syncer) rearmTimer() {
	select {
	case s.rearm <- struct{}{}:
	default:
	}
}

// drain claims and starts work until nothing due is left or ctx ends. It
// reports false when ctx ended.
func (s *Syncer) drain(ctx, reqCtx context.Context, work *sync.WaitGroup) (claimed int, ok bool) {
	backoff := dbBackoff()
	backlog := false // the last claim was full: more is waiting
	for {
		if err := s.gate.waitOpen(ctx); err != nil {
			return claimed, false
		}
		capacity := s.capacity()
		free := capacity - s.inflight.Load()
		// Through a backlog, claim in batches rather than a row per freed
		// slot: one round trip then serves many contacts.
		if free <= 0 || (backlog && free < max(1, min(int64(s.cfg.BatchSize), capacity/5))) {
			select {
			case <-ctx.Done():
				return claimed, false
			case <-s.slotFree:
				continue
			}
		}
		n := int(min(free, int64(s.cfg.BatchSize)))
		start := time.Now()
		token, contacts, err := s.claim(ctx, n)
		s.metrics.statement("claim", start)
		if err != nil {
			if ctx.Err() != nil {
				return claimed, false
			}
			d, _ := backoff.Next()
			s.log.WarnContext(ctx, "claim failed; retrying", slog.Any("err", err), slog.Duration("retry_in", d))
			select {
			case <-ctx.Done():
				return claimed, false
			case <-time.After(d):
			case <-s.wake:
			}
			continue
		}
		backoff = dbBackoff()
		s.metrics.claimed()
		for _, c := range contacts {
			s.inflight.Add(1)
			work.Go(func() { s.process(ctx, reqCtx, token, c) })
		}
		claimed += len(contacts)
		if len(contacts) < n {
			return claimed, true
		}
		backlog = true
	}
}

// claim runs the claim statement shielded from ctx's cancellation: a claim
// cancelled in flight may still commit on the server, and rows claimed
// unseen would wait for their lease to expire. Once ctx is done, the claimed
// contacts are handed back at once by attempt.
func (s *Syncer) claim(ctx context.Context, n int) (string, []Contact, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return claim(cctx, s.db, n, s.cfg.Lease)
}

// process makes one attempt for a claimed contact and hands the outcome to
// the finalizer.
func (s *Syncer) process(ctx, reqCtx context.Context, token string, c Contact) {
	o := s.attempt(ctx, reqCtx, token, c)
	s.inflight.Add(-1)
	select {
	case s.slotFree <- struct{}{}:
	default:
	}
	s.results <- o
}

// maxHold is the longest a claimed contact waits in memory for a rate-limit
// pause to end; a longer pause hands the claim back instead.
const maxHold = 5 * time.Second

func (s *Syncer) attempt(ctx, reqCtx context.Context, token string, c Contact) outcome {
	// Not sent yet: at shutdown or while paused, hand the claim back at once.
	select {
	case s.sendSlots <- struct{}{}:
		defer func() { <-s.sendSlots }()
	case <-ctx.Done():
		return release(c, token, 0)
	}
	if s.limiter != nil {
		if err := s.limiter.Wait(ctx); err != nil {
			return release(c, token, 0)
		}
	}
	// The last moment before sending: a 429 or a refused key seen by another
	// request while this one waited holds it back too, and a later 429 may
	// extend the wait while it sleeps.
	for {
		wait, paused := s.gate.state()
		if paused {
			return release(c, token, 0)
		}
		if wait <= 0 {
			break
		}
		if wait > maxHold {
			return release(c, token, wait)
		}
		select {
		case <-ctx.Done():
			return release(c, token, 0)
		case <-time.After(wait):
		}
	}
	if ctx.Err() != nil {
		return release(c, token, 0)
	}

	start := time.Now()
	res, err := s.client.UpsertContact(reqCtx, toBrevoContact(c, s.cfg.ListIDs))
	status := http.StatusNoContent // updated
	var apiErr *brevo.APIError
	switch {
	case errors.As(err, &apiErr):
		status = apiErr.StatusCode
	case err != nil:
		status = 0 // no answer
	case res.Created:
		status = http.StatusCreated
	}
	s.metrics.request(time.Since(start), status)

	switch {
	case err == nil:
		return complete(c, token, res)
	case reqCtx.Err() != nil:
		// Shutdown cut the request short; it may or may not have reached
		// Brevo, and the upsert is idempotent, so it is simply sent again.
		return release(c, token, 0)
	}
	switch brevo.Classify(err) {
	case brevo.Permanent:
		return s.policy.failure(c, token, err, true)
	case brevo.RateLimited:
		reset := time.Second
		if apiErr != nil && apiErr.RateLimitReset > 0 {
			reset = apiErr.RateLimitReset
		}
		s.gate.rateLimited(reset)
		s.log.DebugContext(ctx, "rate limited by Brevo; waiting", slog.Duration("reset", reset))
		return release(c, token, reset)
	case brevo.Unauthorized:
		if s.gate.pauseAuth() {
			s.metrics.setPaused("unauthorized", true)
			s.log.ErrorContext(ctx, "Brevo refuses the API key; sending is paused and no contact is failed for it. "+
				"Check BREVO_API_KEY; brevosync keeps probing and resumes by itself.", slog.Any("err", err))
			s.background.Go(func() { s.probeAuth(ctx) })
		}
		return release(c, token, 0)
	default:
		return s.policy.failure(c, token, err, false)
	}
}

// probeAuth asks Brevo with a read-only call, backing off, until it accepts
// the key again, then resumes sending.
func (s *Syncer) probeAuth(ctx context.Context) {
	b := retry.WithCappedDuration(time.Minute,
		retry.WithJitterPercent(10, retry.NewExponential(s.cfg.AuthProbeInterval)))
	for {
		d, _ := b.Next()
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		err := s.client.Account(ctx)
		if err == nil {
			break
		}
		if brevo.Classify(err) != brevo.Unauthorized {
			s.log.DebugContext(ctx, "auth probe failed", slog.Any("err", err))
		}
	}
	s.gate.resume()
	s.metrics.setPaused("unauthorized", false)
	s.log.InfoContext(ctx, "Brevo accepts the API key again; sending resumed")
	s.Wake()
}

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

// finalizeLinger is how long the finalizer waits for more outcomes while
// contacts are in flight.
const finalizeLinger = 2 * time.Millisecond

// write finalizes a batch, retrying while the database is unreachable for
// up to half a lease; after that the claims expire and the rows are sent
// again (at least once).
func (s *Syncer) write(ctx context.Context, batch []outcome) {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.Lease/2)
	defer cancel()
	var written map[string]bool
	err := retry.Do(wctx, dbBackoff(), func(ctx context.Context) error {
		var err error
		start := time.Now()
		written, err = finalize(ctx, s.db, batch)
		s.metrics.statement("finalize", start)
		return retry.RetryableError(err)
	})
	if err != nil {
		s.log.ErrorContext(ctx, "could not write outcomes; their claims will expire and the contacts be sent again",
			slog.Int("count", len(batch)), slog.Any("err", err))
		return
	}
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
	}
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

// Sweep runs one fallback sweep pass: the heavy part (take back expired
// claims, count what is due) on one replica at a time, then a claim pass on this
// one for missed requests and due retries.
func (s *Syncer) Sweep(ctx context.Context) (SweepReport, error) {
	r, err := sweepOnce(ctx, s.db)
	s.metrics.sweep(r, err)
	if err != nil {
		return r, err
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
	s.setShare(n)
}

// setShare divides RateLimit among n live replicas.
func (s *Syncer) setShare(n int) {
	n = max(n, 1)
	if old := s.share.Swap(int64(n)); old != int64(n) && s.limiter != nil {
		s.limiter.SetLimit(rate.Limit(s.cfg.RateLimit / float64(n)))
		s.log.Info("replicas share the rate limit", slog.Int("replicas", n),
			slog.Float64("per_replica", s.cfg.RateLimit/float64(n)))
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

// gate pauses sending: for a while after a 429, or until the API key works.
type gate struct {
	mu     sync.Mutex
	until  time.Time     // rate-limited until
	authCh chan struct{} // non-nil while paused for credentials; closed on resume
}

// state reports how long sending must wait for a rate limit, and whether it
// is paused for credentials.
func (g *gate) state() (wait time.Duration, paused bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return time.Until(g.until), g.authCh != nil
}

// waitOpen blocks while sending is paused or rate-limited.
func (g *gate) waitOpen(ctx context.Context) error {
	for {
		g.mu.Lock()
		wait, ch := time.Until(g.until), g.authCh
		g.mu.Unlock()
		switch {
		case ch != nil:
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-ch:
			}
		case wait > 0:
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		default:
			return ctx.Err()
		}
	}
}

func (g *gate) rateLimited(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t := time.Now().Add(d); t.After(g.until) {
		g.until = t
	}
}

// pauseAuth pauses sending for credentials; it reports whether this call
// started the pause.
func (g *gate) pauseAuth() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.authCh != nil {
		return false
	}
	g.authCh = make(chan struct{})
	return true
}

func (g *gate) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.authCh != nil {
		close(g.authCh)
		g.authCh = nil
	}
}
