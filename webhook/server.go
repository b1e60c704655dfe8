package webhook

import (
	"cmp"
	"container/list"
	"net"
	"net/http"
	"sync"
	"time"
)

// ServerConfig configures NewServerWithConfig.
type ServerConfig struct {
	// MaxConns caps the connections the server keeps open, each a file
	// descriptor. At the cap a new connection makes room by closing the
	// connection that has been quiet longest: idle between requests, or
	// not yet sent its first one. Only when every connection is busy with
	// a request is the new one closed at once. Zero means
	// DefaultMaxConns; negative means no cap.
	MaxConns int
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request. Zero or less means DefaultIdleTimeout. Behind a proxy that
	// keeps idle connections to the service, make it longer than the
	// proxy's own idle timeout.
	IdleTimeout time.Duration
}

// Defaults of ServerConfig.
const (
	// DefaultMaxConns is the default for ServerConfig.MaxConns: far more
	// than Brevo, the probes and a scrape need, and far below common
	// open-file limits (see RaiseFileLimit).
	DefaultMaxConns = 1024
	// DefaultIdleTimeout is the default for ServerConfig.IdleTimeout. Brevo
	// delivers at most every few minutes, so keeping a connection open
	// longer saves nothing.
	DefaultIdleTimeout = 30 * time.Second
)

// NewServer returns an http.Server for h on addr with timeouts suited to an
// Internet-facing webhook and the defaults of ServerConfig.
func NewServer(addr string, h http.Handler) *http.Server {
	return NewServerWithConfig(addr, h, ServerConfig{})
}

// NewServerWithConfig is NewServer with a connection cap and idle timeout
// of the caller's choosing.
func NewServerWithConfig(addr string, h http.Handler, cfg ServerConfig) *http.Server {
	srv := &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       cmp.Or(max(cfg.IdleTimeout, 0), DefaultIdleTimeout),
		MaxHeaderBytes:    64 << 10,
	}
	if cfg.MaxConns >= 0 {
		srv.ConnState = newConnLimiter(cmp.Or(cfg.MaxConns, DefaultMaxConns)).track
	}
	return srv
}

// connLimiter keeps the server's connections under a cap, fed by
// http.Server.ConnState.
type connLimiter struct {
	max int

	mu    sync.Mutex
	open  int                    // connections counted against max
	conns map[net.Conn]*connInfo // every connection not yet closed
	quiet *list.List             // of net.Conn: new or idle, longest quiet first
}

type connInfo struct {
	quiet   *list.Element // in connLimiter.quiet; nil while busy
	closing bool          // closed by the limiter, not counted in open
}

func newConnLimiter(max int) *connLimiter {
	return &connLimiter{max: max, conns: map[net.Conn]*connInfo{}, quiet: list.New()}
}

// track follows a connection's state. A new connection over the cap
// closes the longest-quiet one, or itself when none is quiet.
func (l *connLimiter) track(c net.Conn, state http.ConnState) {
	var victim net.Conn
	l.mu.Lock()
	info := l.conns[c]
	switch state {
	case http.StateNew:
		if l.open >= l.max {
			front := l.quiet.Front()
			if front == nil {
				l.mu.Unlock()
				_ = c.Close() // every connection is busy: refuse this one
				return
			}
			victim = l.quiet.Remove(front).(net.Conn)
			v := l.conns[victim]
			v.quiet, v.closing = nil, true
			l.open--
		}
		l.conns[c] = &connInfo{quiet: l.quiet.PushBack(c)}
		l.open++
	case http.StateActive:
		if info != nil && info.quiet != nil {
			l.quiet.Remove(info.quiet)
			info.quiet = nil
		}
	case http.StateIdle:
		if info != nil && !info.closing {
			if info.quiet != nil {
				l.quiet.Remove(info.quiet)
			}
			info.quiet = l.quiet.PushBack(c)
		}
	case http.StateHijacked, http.StateClosed:
		if info != nil {
			if info.quiet != nil {
				l.quiet.Remove(info.quiet)
			}
			if !info.closing {
				l.open--
			}
			delete(l.conns, c)
		}
	}
	l.mu.Unlock()
	if victim != nil {
		_ = victim.Close()
	}
}
