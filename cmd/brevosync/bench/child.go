package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Child is `brevosync serve` in its own process, so its memory can be read
// and it can be signalled and killed like in production. The bench runs its
// own binary; tests run theirs.
type Child struct {
	// Cmd is the running command.
	Cmd *exec.Cmd
	// Addr is its HTTP_ADDR, a free port on 127.0.0.1.
	Addr string
	// Stderr is everything it logged (JSON lines).
	Stderr *LockedBuffer
	// Done is closed when it exited; Err is then its exit error.
	Done chan struct{}
	Err  error
}

// LockedBuffer is a bytes.Buffer safe for a writer and readers at once.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// Contains reports whether s was written.
func (l *LockedBuffer) Contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Contains(l.b.Bytes(), []byte(s))
}

// String returns everything written.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// StartChild runs `exe serve` (exe is a brevosync binary) with vars added
// to this process's environment, and waits until it is ready. It listens on
// a free port of 127.0.0.1 unless vars set HTTP_ADDR (see FreeAddr).
func StartChild(ctx context.Context, exe string, vars map[string]string) (*Child, error) {
	addr := vars["HTTP_ADDR"]
	if addr == "" {
		var err error
		if addr, err = FreeAddr(); err != nil {
			return nil, err
		}
	}
	c := &Child{Addr: addr, Stderr: &LockedBuffer{}, Done: make(chan struct{})}
	c.Cmd = exec.Command(exe, "serve")
	c.Cmd.Env = append(os.Environ(), "HTTP_ADDR="+addr, "LOG_FORMAT=json")
	for k, v := range vars {
		c.Cmd.Env = append(c.Cmd.Env, k+"="+v)
	}
	c.Cmd.Stderr = c.Stderr
	if err := c.Cmd.Start(); err != nil {
		return nil, err
	}
	go func() { c.Err = c.Cmd.Wait(); close(c.Done) }()
	if err := c.WaitReady(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// FreeAddr returns a free port of 127.0.0.1, for a child that must know
// its address before it starts (BREVO_SYNC_PUBLIC_URL).
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// WaitReady polls /readyz until it answers 200.
func (c *Child) WaitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-c.Done:
			return fmt.Errorf("brevosync serve exited: %v\n%s", c.Err, c.Stderr.String())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if resp, err := http.Get("http://" + c.Addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("brevosync serve not ready after 30s:\n%s", c.Stderr.String())
}

// WaitLog waits until the child has logged s.
func (c *Child) WaitLog(ctx context.Context, s string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for !c.Stderr.Contains(s) {
		if time.Now().After(deadline) {
			return fmt.Errorf("brevosync serve did not log %q within %v", s, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// Memory returns the child's resident set size now and its peak, in MB.
func (c *Child) Memory() (rss, peak float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.Cmd.Process.Pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read memory (Linux /proc only): %w", err)
	}
	field := func(name string) float64 {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, name+":"); ok {
				kb, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
				return kb / 1024
			}
		}
		return 0
	}
	return field("VmRSS"), field("VmHWM"), nil
}

// Stop sends SIGTERM and waits, then kills.
func (c *Child) Stop() {
	_ = c.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.Done:
	case <-time.After(30 * time.Second):
		_ = c.Cmd.Process.Kill()
		<-c.Done
	}
}
