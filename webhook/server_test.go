package webhook

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// connEvent is a connection's state change, as the limiter saw it.
type connEvent struct {
	local string // the server side's remote address: the client's local one
	state http.ConnState
}

// connWatch follows the state changes of a server's connections.
type connWatch struct {
	events chan connEvent
	seen   map[connEvent]bool
}

// wait waits until the server has seen c in state (now or before).
func (w *connWatch) wait(t *testing.T, c net.Conn, state http.ConnState) {
	t.Helper()
	want := connEvent{c.LocalAddr().String(), state}
	timeout := time.After(10 * time.Second)
	for !w.seen[want] {
		select {
		case e := <-w.events:
			w.seen[e] = true
		case <-timeout:
			t.Fatalf("the server never saw %s in state %s", c.LocalAddr(), state)
		}
	}
}

// serveCapped runs NewServerWithConfig with a connection cap on a local
// port and returns its address, and a watch on its connections' states
// as the limiter has seen them.
func serveCapped(t *testing.T, h http.Handler, maxConns int) (string, *connWatch) {
	t.Helper()
	srv := NewServerWithConfig("", h, ServerConfig{MaxConns: maxConns})
	w := &connWatch{events: make(chan connEvent, 256), seen: map[connEvent]bool{}}
	track := srv.ConnState
	srv.ConnState = func(c net.Conn, state http.ConnState) {
		track(c, state)
		w.events <- connEvent{c.RemoteAddr().String(), state}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), w
}

// dial opens a raw connection; get sends a keep-alive request on it and
// reads the answer.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func get(t *testing.T, c net.Conn, path string) (int, error) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitClosed waits for the server to close c: a read returns EOF (or a
// reset). The deadline only bounds a failing test; it is shorter than the
// server's ReadHeaderTimeout (5 s), so that only the cap can close a
// connection in time.
func waitClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if errors.Is(err, os.ErrDeadlineExceeded) || err == nil {
		t.Errorf("%s: still open (read: %v), want closed by the server", what, err)
	}
}

// More idle connections than the cap: the server closes the quietest ones
// and /healthz still answers. Before, idle connections stayed open for
// 120 s each, without a cap, until the process ran out of file
// descriptors and nothing answered.
func TestConnectionCapClosesIdleConnections(t *testing.T) {
	t.Parallel()
	const maxConns = 4
	addr, watch := serveCapped(t, NewHandler(Config{}), maxConns)

	// Keep-alive connections that made a request and wait, then
	// connections that never send one, in this order.
	var idle, silent []net.Conn
	for range maxConns {
		c := dial(t, addr)
		if code, err := get(t, c, "/healthz"); err != nil || code != 200 {
			t.Fatalf("GET /healthz = %d, %v", code, err)
		}
		watch.wait(t, c, http.StateIdle)
		idle = append(idle, c)
	}
	for range maxConns {
		c := dial(t, addr)
		watch.wait(t, c, http.StateNew)
		silent = append(silent, c)
	}
	const probes = 3
	for i := range probes {
		c := dial(t, addr)
		if code, err := get(t, c, "/healthz"); err != nil || code != 200 {
			t.Errorf("GET /healthz %d at the cap = %d, %v; want 200", i, code, err)
		}
	}
	// 2×cap+probes connections were opened, each over the cap closing the
	// quietest: all the first ones but the newest silent one.
	for i, c := range append(idle, silent[:maxConns-1]...) {
		waitClosed(t, c, fmt.Sprintf("connection %d of %d over a cap of %d", i, 2*maxConns+probes, maxConns))
	}
}

// When every connection is busy with a request there is nothing to close:
// the new connection is refused, and once a request ends it is served.
func TestConnectionCapAllBusy(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	addr, watch := serveCapped(t, h, 2)
	busy := []net.Conn{dial(t, addr), dial(t, addr)}
	for _, c := range busy {
		if _, err := fmt.Fprintf(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		<-started
	}
	waitClosed(t, dial(t, addr), "a connection over the cap while all are busy")

	close(release)
	for i, c := range busy {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("busy request %d: %v, %v", i, resp, err)
		}
		resp.Body.Close()
		watch.wait(t, c, http.StateIdle)
	}
	if code, err := get(t, dial(t, addr), "/healthz"); err != nil || code != 200 {
		t.Errorf("GET /healthz after the busy requests = %d, %v; want 200", code, err)
	}
}

func TestNewServerWithConfig(t *testing.T) {
	t.Parallel()
	s := NewServerWithConfig(":0", http.NotFoundHandler(), ServerConfig{MaxConns: -1, IdleTimeout: time.Minute})
	if s.IdleTimeout != time.Minute || s.ConnState != nil {
		t.Errorf("IdleTimeout %v, ConnState set %v; want 1m and no cap", s.IdleTimeout, s.ConnState != nil)
	}
}
