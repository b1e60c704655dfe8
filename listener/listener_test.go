package listener_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brevosync/brevosync/listener"
	"github.com/brevosync/brevosync/sql/schematest"
)

// waker records wake-ups and signals each one.
type waker struct {
	n  atomic.Int64
	ch chan struct{}
}

func newWaker() *waker { return &waker{ch: make(chan struct{}, 1000)} }

func (w *waker) Wake() {
	w.n.Add(1)
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// next waits for one wake-up.
func (w *waker) next(t *testing.T, what string) {
	t.Helper()
	select {
	case <-w.ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("no wake-up: %s", what)
	}
}

// drain forgets pending wake-ups.
func (w *waker) drain() {
	for {
		select {
		case <-w.ch:
		default:
			return
		}
	}
}

// waitState waits until l.Connected() == want.
func waitState(t *testing.T, l *listener.Listener, want bool) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		ch := l.Changes()
		if l.Connected() == want {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("listener connected = %v, want %v", l.Connected(), want)
		}
	}
}

type testBundle struct {
	pool  *pgxpool.Pool
	waker *waker
	l     *listener.Listener
}

func setup(t *testing.T, cfg listener.Config) *testBundle {
	t.Helper()
	pool := schematest.NewPool(t)
	if cfg.ConnConfig == nil {
		cfg.ConnConfig = pool.Config().ConnConfig
	}
	cfg.Pool = pool
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.MinBackoff = cmpOr(cfg.MinBackoff, 20*time.Millisecond)
	w := newWaker()
	l, err := listener.New(cfg, w)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := l.Run(ctx); err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if l.Connected() {
			t.Error("still connected after Run returned")
		}
	})
	return &testBundle{pool: pool, waker: w, l: l}
}

func cmpOr(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

// selectContact commits the application's selecting write.
func (b *testBundle) selectContact(t *testing.T) {
	t.Helper()
	_, err := b.pool.Exec(t.Context(), `INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status)
		VALUES ('x@example.com', 'Selected', 'Queued')`)
	if err != nil {
		t.Fatal(err)
	}
}

func TestWakesOnConnectAndOnSelection(t *testing.T) {
	t.Parallel()
	b := setup(t, listener.Config{})
	waitState(t, b.l, true)
	b.waker.next(t, "catch-up after connecting")
	b.waker.drain()

	b.selectContact(t)
	b.waker.next(t, "selection")

	// A rolled-back selection notifies nobody; the next committed one does.
	before := b.waker.n.Load()
	tx, err := b.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status)
		VALUES ('y@example.com', 'Selected', 'Queued')`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	b.selectContact(t)
	b.waker.next(t, "selection after a rollback")
	if got := b.waker.n.Load() - before; got != 1 {
		t.Errorf("%d wake-ups for one committed selection and one rollback, want 1", got)
	}
}

func TestReconnectsAfterServerTerminatesConnection(t *testing.T) {
	t.Parallel()
	b := setup(t, listener.Config{})
	for round := range 3 {
		waitState(t, b.l, true)
		b.waker.drain()
		var n int
		err := b.pool.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = 'brevosync-listener' AND datname = current_database()`).Scan(&n)
		if err != nil || n != 1 {
			t.Fatalf("round %d: terminated %d listener connections (%v), want 1", round, n, err)
		}
		waitState(t, b.l, false)
		waitState(t, b.l, true)
		b.waker.next(t, "catch-up after reconnecting")
		b.waker.drain()
		b.selectContact(t)
		b.waker.next(t, "selection after reconnecting")
	}
}

// TestPingsDetectSilentlyDeadConnection runs the listening connection
// through a proxy that can freeze it: the socket stays open but nothing
// flows, as in a network partition. Only the pings can notice.
func TestPingsDetectSilentlyDeadConnection(t *testing.T) {
	t.Parallel()
	proxy := newFreezingProxy(t)
	pool := schematest.NewPool(t)
	cc := pool.Config().ConnConfig.Copy()
	host, port := proxy.hostPort(t, cc.Host, cc.Port)
	cc.Host, cc.Port = host, port

	b := setupWithPool(t, pool, listener.Config{ConnConfig: cc, PingInterval: 100 * time.Millisecond})
	waitState(t, b.l, true)
	proxy.freeze()
	waitState(t, b.l, false)
	proxy.thaw()
	waitState(t, b.l, true)
	b.waker.drain()
	b.selectContact(t)
	b.waker.next(t, "selection after the partition healed")
}

func setupWithPool(t *testing.T, pool *pgxpool.Pool, cfg listener.Config) *testBundle {
	t.Helper()
	cfg.Pool = pool
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.MinBackoff = 20 * time.Millisecond
	w := newWaker()
	l, err := listener.New(cfg, w)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = l.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return &testBundle{pool: pool, waker: w, l: l}
}

// freezingProxy forwards TCP to Postgres; freeze stops all forwarding on
// existing connections without closing them, thaw lets new ones through.
type freezingProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	frozen []net.Conn // connections frozen in place (kept open)
	live   []net.Conn
}

func newFreezingProxy(t *testing.T) *freezingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{ln: ln}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range append(p.frozen, p.live...) {
			c.Close()
		}
	})
	return p
}

// hostPort starts forwarding to host:port and returns the proxy's address.
func (p *freezingProxy) hostPort(t *testing.T, host string, port uint16) (string, uint16) {
	t.Helper()
	p.target = net.JoinHostPort(host, itoa(port))
	go p.serve()
	addr := p.ln.Addr().(*net.TCPAddr)
	return "127.0.0.1", uint16(addr.Port)
}

func itoa(p uint16) string {
	return (&net.TCPAddr{Port: int(p)}).String()[1:]
}

func (p *freezingProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.live = append(p.live, c, up)
		p.mu.Unlock()
		go pipe(c, up)
		go pipe(up, c)
	}
}

// pipe copies until either side closes or the pair is frozen (a frozen
// pair's read deadline is in the past: reads fail, nothing is closed).
func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
}

func (p *freezingProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.live {
		_ = c.SetReadDeadline(time.Unix(1, 0)) // stop reading; keep the socket open
	}
	p.frozen = append(p.frozen, p.live...)
	p.live = nil
}

func (p *freezingProxy) thaw() {}

// lockedBuffer is a log destination a test can read while the listener
// writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

// When the listener's own pings never come back (as through a
// transaction-mode pooler: here, the listening connection is on another
// database than the pings), it says so once at error level naming the
// setting to fix, reports Degraded, and wakes the syncer every PollInterval;
// a ping that comes back ends it.
func TestPollsWhenNotificationsCannotArrive(t *testing.T) {
	t.Parallel()
	pool := schematest.NewPool(t)
	elsewhere := schematest.NewPool(t)
	var logs lockedBuffer
	w := newWaker()
	l, err := listener.New(listener.Config{
		ConnConfig:   elsewhere.Config().ConnConfig, // pings sent through pool never reach it
		Pool:         pool,
		PingInterval: 50 * time.Millisecond,
		PollInterval: 100 * time.Millisecond,
		MinBackoff:   20 * time.Millisecond,
		MaxBackoff:   40 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(io.MultiWriter(&logs, t.Output()), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, w)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = l.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	deadline := time.Now().Add(10 * time.Second)
	for l.Degraded() == "" {
		if time.Now().After(deadline) {
			t.Fatal("the listener did not notice that its pings never come back")
		}
		w.next(t, "a wake-up while connecting")
	}
	if d := l.Degraded(); !strings.Contains(d, "DATABASE_LISTEN_URL") || !strings.Contains(d, "polling every 100ms") {
		t.Errorf("Degraded() = %q, want it to name DATABASE_LISTEN_URL and the poll interval", d)
	}
	// Polled: wake-ups keep coming, about every 100ms, with no notification.
	w.drain()
	start := time.Now()
	for range 5 {
		w.next(t, "a poll")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("5 polls took %v, want about 0.5s", d)
	}
	// Said once, loudly, whatever the reconnects.
	for l.Degraded() != "" && strings.Count(logs.String(), "reconnecting") < 3 {
		w.next(t, "more reconnects")
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d error logs, want exactly one:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "transaction-mode pooler") {
		t.Errorf("the error does not explain the likely cause:\n%s", logs.String())
	}
}
