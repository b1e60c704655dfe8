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
	DefaultMinBackoff   = time.Second
	DefaultMaxBackoff   = 30 * time.Second
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
		l.log.WarnContext(ctx, "listener connection lost; reconnecting",
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
	t := time.NewTicker(l.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !l.Connected() {
			continue
		}
		if since := time.Since(time.Unix(0, l.lastPing.Load())); since > 3*l.cfg.PingInterval {
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
