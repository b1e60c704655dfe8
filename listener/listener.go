// Package listener turns Postgres notifications into wake-ups for the syncer.
//
// # Delivery model
//
// The request trigger issues NOTIFY on the "brevosync" channel in the
// transaction that selects a contact. NOTIFY is only a hint: its payload is
// empty, and the contacts table is the queue. The listener holds one
// dedicated connection (never from a pool), LISTENs, and on every
// notification calls Waker.Wake, which never blocks: no HTTP, no query runs
// on the listening connection, so the server's notification queue is always
// read promptly.
//
// # Failure handling
//
// Notifications sent while the listener is disconnected are lost by
// Postgres's design, so on every (re)connect it LISTENs first and then wakes
// the syncer for a catch-up claim: nothing committed before the LISTEN is
// missed, at the price of an extra, harmless claim pass. Reconnects back off
// from about a second to 30 s with jitter. A silently dead connection (a
// network partition, a half-open socket) is noticed by pinging: every
// PingInterval the listener NOTIFYs its own channel through the pool with a
// private payload, and tears the connection down when three pings in a row do
// not come back. That also proves the LISTEN registration is intact. The
// syncer's fallback sweep remains the safety net for everything else.
//
// # When notifications cannot arrive
//
// Through a transaction-mode pooler (PgBouncer, Supabase's port 6543) LISTEN
// "succeeds" on whichever server connection the pooler lends, which goes
// back to the pool at once: nothing is ever delivered. The listener sees it
// as a session in which not one of its pings came back. It then says so
// once, at error level, naming the setting to fix (Config.URLName), reports
// it through Degraded (for /readyz) and a metric, and wakes the syncer every
// PollInterval, so that a selection still syncs within about a second; it
// also reconnects, quietly, in case the connection had simply died. It
// polls the same way while it is disconnected. A ping that comes back ends
// the degraded state.
package listener

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgxlisten"
	"github.com/sethvargo/go-retry"
)

// Channel is the notification channel the request trigger uses.
const Channel = "brevosync"

// Defaults for the zero values of Config.
const (
	DefaultPingInterval = 3 * time.Second
	DefaultPollInterval = time.Second
	DefaultMinBackoff   = time.Second
	DefaultMaxBackoff   = 30 * time.Second
	DefaultURLName      = "DATABASE_LISTEN_URL"
)

// Waker is what the listener drives: the syncer's claim loop.
type Waker interface {
	// Wake asks for a claim pass. It must not block.
	Wake()
}

// Config configures a Listener.
type Config struct {
	// ConnConfig is used to open the dedicated listening connection.
	ConnConfig *pgx.ConnConfig
	// Pool sends the liveness pings.
	Pool *pgxpool.Pool
	// Channel defaults to Channel.
	Channel string
	// PingInterval is the period of liveness pings; a connection is
	// declared dead after three unanswered ones.
	PingInterval time.Duration
	// PollInterval is how often the syncer is woken while notifications
	// cannot arrive (a transaction pooler) or the listener is disconnected.
	PollInterval time.Duration
	// URLName names the setting ConnConfig came from, in the message that
	// says notifications do not arrive; default DATABASE_LISTEN_URL.
	URLName string
	// MinBackoff and MaxBackoff bound the jittered exponential wait between
	// reconnects.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives the listener's logs; nil discards them.
	Logger *slog.Logger
	// Metrics records Prometheus metrics; nil records none.
	Metrics *Metrics
}

// Listener keeps a LISTEN connection up and wakes a Waker.
type Listener struct {
	cfg     Config
	waker   Waker
	log     *slog.Logger
	metrics *Metrics
	pingID  string

	connected atomic.Bool
	lastPing  atomic.Int64 // unix nanoseconds of the last ping seen
	pinged    atomic.Bool  // a ping came back in this session
	degraded  atomic.Bool  // no ping ever came back in a session: polling
	warned    atomic.Bool  // the degraded state was reported

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every connect/disconnect
}

// New returns a Listener that wakes w.
func New(cfg Config, w Waker) (*Listener, error) {
	if cfg.ConnConfig == nil || cfg.Pool == nil || w == nil {
		return nil, errors.New("new listener: ConnConfig, Pool and a Waker are required")
	}
	cfg.Channel = cmp.Or(cfg.Channel, Channel)
	cfg.PingInterval = cmp.Or(cfg.PingInterval, DefaultPingInterval)
	cfg.PollInterval = cmp.Or(cfg.PollInterval, DefaultPollInterval)
	cfg.URLName = cmp.Or(cfg.URLName, DefaultURLName)
	cfg.MinBackoff = cmp.Or(cfg.MinBackoff, DefaultMinBackoff)
	cfg.MaxBackoff = cmp.Or(cfg.MaxBackoff, DefaultMaxBackoff)
	cc := cfg.ConnConfig.Copy()
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	cc.RuntimeParams["application_name"] = "brevosync-listener"
	if cc.ConnectTimeout == 0 || cc.ConnectTimeout > 10*time.Second {
		cc.ConnectTimeout = 10 * time.Second
	}
	// TCP keepalives as a second line behind the pings.
	d := &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3,
	}}
	cc.DialFunc = d.DialContext
	// Notifications must be buffered by pgx between statements.
	cc.OnNotification = nil
	cfg.ConnConfig = cc

	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &Listener{
		cfg:     cfg,
		waker:   w,
		log:     logger.With("component", "listener"),
		metrics: cfg.Metrics,
		pingID:  "ping:" + hex.EncodeToString(id[:]),
		changed: make(chan struct{}),
	}, nil
}

// Connected reports whether the listener is LISTENing right now.
func (l *Listener) Connected() bool { return l.connected.Load() }

// Degraded says why the syncer is being polled although the listener is
// connected (its notifications do not arrive), or "" when they do.
func (l *Listener) Degraded() string {
	if !l.degraded.Load() {
		return ""
	}
	return fmt.Sprintf("notifications do not arrive on %s (a transaction-mode pooler?); polling every %s",
		l.cfg.URLName, l.cfg.PollInterval)
}

// setDegraded enters or leaves the polling state.
func (l *Listener) setDegraded(ctx context.Context, on bool) {
	if l.degraded.Swap(on) == on {
		return
	}
	l.metrics.setDegraded(on)
	if !on && l.warned.Load() {
		l.log.InfoContext(ctx, "notifications arrive again; polling stopped")
	}
}

// reportBroken says once, loudly, that a whole session passed without one
// ping coming back.
func (l *Listener) reportBroken(ctx context.Context) {
	if l.warned.Swap(true) {
		return
	}
	l.log.ErrorContext(ctx, "LISTEN gets no notifications: not one of the listener's own pings came back. "+
		l.cfg.URLName+" seems to go through a transaction-mode pooler (such as Supabase's port 6543), "+
		"which cannot carry LISTEN. Set "+l.cfg.URLName+" to a direct or session-mode connection "+
		"(Supabase: the direct connection, or the pooler's port 5432). Meanwhile brevosync polls.",
		slog.Duration("poll_interval", l.cfg.PollInterval))
}

// pollLoop wakes the syncer every PollInterval while notifications cannot
// arrive or the listener is disconnected.
func (l *Listener) pollLoop(ctx context.Context) {
	t := time.NewTicker(l.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if l.degraded.Load() || !l.connected.Load() {
			l.waker.Wake()
		}
	}
}

// Changes returns a channel closed at the next connect or disconnect. Tests
// and readiness waiters use it instead of polling.
func (l *Listener) Changes() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

func (l *Listener) setConnected(v bool) {
	if l.connected.Swap(v) == v {
		return
	}
	l.metrics.setConnected(v)
	l.mu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// Run listens until ctx is cancelled, reconnecting as needed; it returns nil
// then. Connection failures are logged and retried, never returned.
func (l *Listener) Run(ctx context.Context) error {
	var poll sync.WaitGroup
	defer poll.Wait()
	poll.Go(func() { l.pollLoop(ctx) })
	backoff := l.newBackoff()
	for attempt := 1; ; attempt++ {
		connected, err := l.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if connected {
			backoff, attempt = l.newBackoff(), 1
			l.metrics.reconnected()
		}
		d, _ := backoff.Next()
		level := slog.LevelWarn
		if l.degraded.Load() {
			level = slog.LevelDebug // said once already (setDegraded), and polling
		}
		l.log.Log(ctx, level, "listener connection lost; reconnecting",
			slog.Any("err", err), slog.Int("attempt", attempt), slog.Duration("sleep_duration", d))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
	}
}

func (l *Listener) newBackoff() retry.Backoff {
	return retry.WithCappedDuration(l.cfg.MaxBackoff,
		retry.WithJitterPercent(20, retry.NewExponential(l.cfg.MinBackoff)))
}

// errPingTimeout ends a session whose pings stopped coming back.
var errPingTimeout = errors.New("liveness pings unanswered")

// session runs one connection with pgxlisten until it fails. The retry
// policy is ours: the first error pgxlisten reports ends the session.
func (l *Listener) session(ctx context.Context) (connected bool, err error) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer l.setConnected(false)

	pl := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			return pgx.ConnectConfig(ctx, l.cfg.ConnConfig)
		},
		LogError:       func(_ context.Context, err error) { cancel(err) },
		ReconnectDelay: time.Hour, // never reached: LogError ends the session first
	}
	pl.Handle(l.cfg.Channel, handler{l: l, connected: func() {
		connected = true
		l.lastPing.Store(time.Now().UnixNano())
		l.pinged.Store(false)
		l.setConnected(true)
		l.log.InfoContext(ctx, "listening", slog.String("channel", l.cfg.Channel))
	}})

	var wg sync.WaitGroup
	wg.Go(func() { l.pingLoop(sctx, cancel) })
	_ = pl.Listen(sctx)
	cancel(nil)
	wg.Wait()
	return connected, context.Cause(sctx)
}

// pingLoop sends a ping every PingInterval and ends the session when none
// has come back for three intervals.
func (l *Listener) pingLoop(ctx context.Context, cancel context.CancelCauseFunc) {
	// The first ping goes as soon as the session listens, and should be back
	// within milliseconds: when it is not back within PollInterval, the
	// syncer is polled at once (a pooler is the likely cause), long before
	// the three intervals after which the session is torn down.
	ping := time.NewTimer(0)
	defer ping.Stop()
	var firstSent time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
		}
		ping.Reset(l.cfg.PingInterval)
		if !l.Connected() {
			ping.Reset(min(l.cfg.PingInterval, 10*time.Millisecond))
			continue
		}
		if firstSent.IsZero() {
			firstSent = time.Now()
			ping.Reset(min(l.cfg.PingInterval, l.cfg.PollInterval))
		} else if !l.pinged.Load() && time.Since(firstSent) >= min(l.cfg.PingInterval, l.cfg.PollInterval) {
			// Not one came back in this session: notifications cannot
			// arrive (a pooler), or the connection died at once. Poll
			// meanwhile; the session is torn down below if it lasts, in
			// case it is the latter.
			l.setDegraded(ctx, true)
		}
		if since := time.Since(time.Unix(0, l.lastPing.Load())); since > 3*l.cfg.PingInterval {
			if !l.pinged.Load() {
				l.reportBroken(ctx)
			}
			cancel(fmt.Errorf("%w for %s", errPingTimeout, since.Round(time.Millisecond)))
			return
		}
		pctx, pcancel := context.WithTimeout(ctx, l.cfg.PingInterval)
		_, err := l.cfg.Pool.Exec(pctx, "SELECT pg_notify($1, $2)", l.cfg.Channel, l.pingID)
		pcancel()
		if err != nil && ctx.Err() == nil {
			l.log.DebugContext(ctx, "ping not sent", slog.Any("err", err))
		}
	}
}

// handler wakes the syncer on notifications and after every (re)connect.
type handler struct {
	l         *Listener
	connected func()
}

func (h handler) HandleNotification(ctx context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	if strings.HasPrefix(n.Payload, "ping:") {
		if n.Payload == h.l.pingID {
			h.l.lastPing.Store(time.Now().UnixNano())
			h.l.pinged.Store(true)
			h.l.setDegraded(ctx, false)
		}
		return nil
	}
	h.l.metrics.notified()
	h.l.waker.Wake()
	return nil
}

// HandleBacklog runs right after LISTEN succeeded: anything selected while
// we were not listening is caught up by a claim pass.
func (h handler) HandleBacklog(ctx context.Context, _ string, _ *pgx.Conn) error {
	h.connected()
	h.l.waker.Wake()
	return nil
}
