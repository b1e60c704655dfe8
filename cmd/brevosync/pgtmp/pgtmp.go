// Package pgtmp runs throwaway Postgres clusters for `brevosync demo`,
// `brevosync bench` and fault tests: initdb into a fresh temporary directory,
// pg_ctl start on a free port with the socket in that directory, and
// pg_ctl stop plus removal of the directory at the end.
//
// The binaries come from [FindBinaries]. initdb refuses to run as root, so
// when the process is root every command runs as the postgres user through
// runuser, and the directory is handed to that user.
//
// Settings are stock except listen_addresses (127.0.0.1), port,
// unix_socket_directories and max_connections (200), and trust
// authentication for local connections as the postgres superuser.
//
// The server runs in its own session (pg_ctl detaches it), so a Ctrl-C at
// the terminal reaches only this process, which must call [Cluster.Stop]:
// Stop shuts down fast, then immediately, then kills, and removes the
// directory. A process killed outright (SIGKILL) leaves the cluster running;
// [Cluster.StopCommand] says how to stop it by hand.
package pgtmp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configure [Start].
type Options struct {
	// Logf, when set, receives one line per step (initdb, start, stop).
	Logf func(format string, args ...any)
	// BinDir is the directory holding initdb, pg_ctl and postgres. Empty:
	// [FindBinaries].
	BinDir string
	// MaxConnections is max_connections. Zero: 200.
	MaxConnections int
}

// Timeouts for pg_ctl.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 15 * time.Second
)

// Cluster is a running throwaway Postgres cluster.
type Cluster struct {
	dir     string // the temporary root: data/, run/, postgres.log
	binDir  string
	port    int
	runAs   string // "postgres" when this process is root, else ""
	logf    func(string, ...any)
	version string

	mu      sync.Mutex
	stopped bool
}

// Start creates and starts a cluster. It returns once the server accepts
// connections. If ctx ends or anything fails on the way, whatever was
// created is stopped and removed before Start returns.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	binDir := opts.BinDir
	if binDir == "" {
		if binDir, err = FindBinaries(); err != nil {
			return nil, err
		}
	}
	c = &Cluster{binDir: binDir, logf: opts.Logf}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	var uid, gid = -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, errors.New("start postgres: running as root, and initdb refuses root, " +
				"but there is no postgres user to run it as: create one (useradd -r postgres) or run as another user")
		}
		if _, err := exec.LookPath("runuser"); err != nil {
			return nil, errors.New("start postgres: running as root, and initdb refuses root, " +
				"but runuser (util-linux) is missing to run it as the postgres user: run as another user")
		}
		c.runAs = "postgres"
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	if c.dir, err = makeDir(uid, gid); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = c.Stop(context.WithoutCancel(ctx))
			c = nil
		}
	}()
	if err := os.Mkdir(c.SocketDir(), 0o700); err != nil {
		return c, fmt.Errorf("start postgres: %w", err)
	}
	if uid >= 0 {
		if err := os.Chown(c.SocketDir(), uid, gid); err != nil {
			return c, fmt.Errorf("start postgres: %w", err)
		}
	}

	if out, err := c.command(ctx, true, "postgres", "--version"); err == nil {
		c.version = strings.TrimSpace(string(out))
	}
	c.logf("initdb %s (%s)", c.dataDir(), c.version)
	t0 := time.Now()
	out, err := c.command(ctx, true, "initdb", "-D", c.dataDir(), "-A", "trust", "-U", "postgres",
		"--no-sync", "-E", "UTF8", "--locale=C")
	if err != nil {
		if ctx.Err() != nil {
			return c, fmt.Errorf("start postgres: initdb: %w", context.Cause(ctx))
		}
		return c, fmt.Errorf("start postgres: initdb: %w\n%s", err, tail(out, 20))
	}
	c.logf("initdb done in %s", time.Since(t0).Round(time.Millisecond))

	maxConns := opts.MaxConnections
	if maxConns <= 0 {
		maxConns = 200
	}
	// A port is free when we look; another process may take it before the
	// server binds it, so try a few.
	for attempt := 1; ; attempt++ {
		if c.port, err = freePort(); err != nil {
			return c, fmt.Errorf("start postgres: find a free port: %w", err)
		}
		conf := fmt.Sprintf("\n# brevosync pgtmp\nlisten_addresses = '127.0.0.1'\nport = %d\n"+
			"unix_socket_directories = '%s'\nmax_connections = %d\n", c.port, c.SocketDir(), maxConns)
		if err := appendFile(filepath.Join(c.dataDir(), "postgresql.auto.conf"), conf); err != nil {
			return c, fmt.Errorf("start postgres: %w", err)
		}
		err = c.start(ctx)
		if err == nil || attempt == 3 || ctx.Err() != nil || !strings.Contains(c.logTail(), "could not bind") {
			break
		}
	}
	if err != nil {
		return c, err
	}
	return c, nil
}

// makeDir creates the temporary root, owned by uid:gid when uid ≥ 0. Its
// parent must let that user in; root's private temporary directories don't,
// so as root it falls back to /tmp. Unix socket paths are limited to about
// 100 bytes, so a long TMPDIR also falls back to /tmp.
func makeDir(uid, gid int) (string, error) {
	parent := os.TempDir()
	if st, err := os.Stat(parent); err != nil || (uid >= 0 && st.Mode().Perm()&0o001 == 0) || len(parent) > 60 {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "brevosync-pg-")
	if err != nil {
		return "", fmt.Errorf("start postgres: %w", err)
	}
	if uid >= 0 {
		if err := os.Chown(dir, uid, gid); err != nil {
			_ = os.RemoveAll(dir)
			return "", fmt.Errorf("start postgres: %w", err)
		}
	}
	return dir, nil
}

// start runs pg_ctl start and waits until the server accepts connections.
func (c *Cluster) start(ctx context.Context) error {
	t0 := time.Now()
	// pg_ctl start is not cancelled with ctx: killed half-way it could leave
	// a server nobody knows about. It is bounded by its own timeout, and
	// the caller stops the server if ctx ended meanwhile.
	out, err := c.command(context.WithoutCancel(ctx), false, "pg_ctl", "start", "-D", c.dataDir(),
		"-l", c.LogFile(), "-w", "-t", strconv.Itoa(int(startTimeout/time.Second)))
	if err != nil {
		return fmt.Errorf("start postgres: pg_ctl start: %w\n%s\n%s", err, tail(out, 5), c.logTail())
	}
	c.logf("postgres listening on port %d and in %s (started in %s)", c.port, c.SocketDir(),
		time.Since(t0).Round(time.Millisecond))
	if ctx.Err() != nil {
		return fmt.Errorf("start postgres: %w", context.Cause(ctx))
	}
	return nil
}

// URL is the connection string of the postgres database as the postgres
// superuser, through the Unix socket.
func (c *Cluster) URL() string {
	host := c.SocketDir()
	if strings.Trim(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-") != "" {
		host = url.QueryEscape(host)
	}
	return fmt.Sprintf("postgres://postgres@/postgres?host=%s&port=%d&sslmode=disable", host, c.port)
}

// TCPURL is URL through 127.0.0.1 instead of the socket.
func (c *Cluster) TCPURL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Port is the server's TCP port on 127.0.0.1, also the socket's number.
func (c *Cluster) Port() int { return c.port }

// Dir is the temporary directory holding everything: removed by Stop.
func (c *Cluster) Dir() string { return c.dir }

// SocketDir is the directory of the server's Unix socket.
func (c *Cluster) SocketDir() string { return filepath.Join(c.dir, "run") }

// LogFile is the server's log.
func (c *Cluster) LogFile() string { return filepath.Join(c.dir, "postgres.log") }

// Version is what `postgres --version` printed, e.g. "postgres (PostgreSQL) 17.2".
func (c *Cluster) Version() string { return c.version }

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

// StopCommand is a shell command that stops the server and removes its
// directory, for a cluster left running on purpose.
func (c *Cluster) StopCommand() string {
	ctl := fmt.Sprintf("%s stop -D %s -m fast", filepath.Join(c.binDir, "pg_ctl"), c.dataDir())
	if c.runAs != "" {
		ctl = "runuser -u " + c.runAs + " -- " + ctl
	}
	return ctl + " && rm -rf " + c.dir
}

// Restart stops the server (fast shutdown: sessions are cut) and starts it
// again on the same port with the same data.
func (c *Cluster) Restart(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errors.New("restart postgres: cluster is stopped")
	}
	if err := c.shutdown(ctx); err != nil {
		return fmt.Errorf("restart postgres: %w", err)
	}
	return c.start(ctx)
}

// Stop stops the server and removes the directory. It is safe to call more
// than once and from several goroutines; later calls return nil. It tries a
// fast shutdown, then an immediate one, then kills the postmaster; ending ctx
// skips ahead to the immediate shutdown, so a second Ctrl-C can hurry it
// but not leave the server running.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	var errs []error
	if err := c.shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if c.running() {
		errs = append(errs, fmt.Errorf("postgres still running; data kept in %s", c.dir))
	} else if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, err)
	} else {
		c.logf("removed %s", c.dir)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop postgres: %w", err)
	}
	return nil
}

// shutdown stops the server if it runs: fast, else immediate, else SIGKILL.
// pg_ctl stop returns when postmaster.pid is gone, a moment before the
// postmaster exits; it waits for that too.
func (c *Cluster) shutdown(ctx context.Context) error {
	pid := c.postmasterPID()
	if pid <= 0 || !alive(pid) {
		return nil
	}
	t0 := time.Now()
	_, err := c.command(ctx, true, "pg_ctl", "stop", "-D", c.dataDir(), "-m", "fast", "-w",
		"-t", strconv.Itoa(int(stopTimeout/time.Second)))
	if err == nil && waitExit(pid, 5*time.Second) {
		c.logf("postgres stopped in %s", time.Since(t0).Round(time.Millisecond))
		return nil
	}
	c.logf("fast shutdown did not finish (%v); shutting down immediately", cmpErr(err, context.Cause(ctx)))
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	_, err = c.command(ictx, true, "pg_ctl", "stop", "-D", c.dataDir(), "-m", "immediate", "-w", "-t", "10")
	if err == nil && waitExit(pid, 5*time.Second) {
		return nil
	}
	c.logf("killing postmaster %d", pid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if !waitExit(pid, 5*time.Second) {
		return fmt.Errorf("postgres (pid %d) would not stop", pid)
	}
	return nil
}

// waitExit waits up to d for process pid to exit, and reports whether it did.
func waitExit(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// alive reports whether process pid exists and is not a zombie (the
// postmaster's parent is init, which may be slow to reap it).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc (macOS): kill(0) is all we know
	}
	// The state follows the command name in parentheses, which may itself
	// contain ") ".
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// running reports whether the postmaster named in postmaster.pid is alive.
func (c *Cluster) running() bool {
	pid := c.postmasterPID()
	return pid > 0 && alive(pid)
}

// postmasterPID reads postmaster.pid; 0 when there is none.
func (c *Cluster) postmasterPID() int {
	b, err := os.ReadFile(filepath.Join(c.dataDir(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}

// command runs one of the binaries, as the postgres user when root, in its
// own process group (so that a Ctrl-C meant for us does not kill it half-way)
// with no stdin, and returns its combined output. With cancel, ending ctx
// kills the whole group.
func (c *Cluster) command(ctx context.Context, cancel bool, name string, args ...string) ([]byte, error) {
	bin := filepath.Join(c.binDir, name)
	var cmd *exec.Cmd
	if !cancel {
		ctx = context.WithoutCancel(ctx)
	}
	if c.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.runAs, "--", bin}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, bin, args...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Dir = c.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// logTail is the end of the server log, for error messages.
func (c *Cluster) logTail() string {
	b, err := os.ReadFile(c.LogFile())
	if err != nil {
		return ""
	}
	return tail(b, 10)
}

// tail is the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func appendFile(name, s string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
