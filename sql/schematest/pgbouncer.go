package schematest

import (
	"bufio"
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
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// PgBouncer pool modes for [PgBouncer].
const (
	SessionPooling     = "session"
	TransactionPooling = "transaction"
)

// pgbouncerInstall says how to install PgBouncer.
const pgbouncerInstall = "install it: 'apt-get install -y pgbouncer' on Debian/Ubuntu, " +
	"'brew install pgbouncer' on macOS"

// PgBouncer starts a real PgBouncer in front of the database of dsn, in pool
// mode mode ("transaction", as Supabase's pooler on port 6543, or
// "session"), and returns a connection string through it for dsn's user.
// It stops PgBouncer at the end of the test, and fails the test (it never
// skips) when PgBouncer is not installed.
//
// PgBouncer listens on a free port of 127.0.0.1 (its Unix socket in a
// private directory). Its settings are the defaults except for the pool
// mode and authentication: auth_type = trust with dsn's user (and password,
// for the server) in its auth_file, so it works against the trust-auth test
// server. In particular ignore_startup_parameters is not set: like the real
// thing, it refuses a connection that sends a startup parameter it does
// not know (search_path, lock_timeout, statement_timeout, …), and in
// transaction mode prepared statements and LISTEN do not survive between
// transactions. PgBouncer refuses to run as root; as root it runs as the
// postgres user.
func PgBouncer(t testing.TB, dsn string, mode string) string {
	t.Helper()
	if mode != SessionPooling && mode != TransactionPooling && mode != "statement" {
		t.Fatalf("PgBouncer: pool mode %q: want %q or %q", mode, TransactionPooling, SessionPooling)
	}
	bin, err := findPgBouncer(append(filepath.SplitList(os.Getenv("PATH")), "/usr/sbin", "/usr/local/sbin"))
	if err != nil {
		t.Fatalf("PgBouncer: %v", err)
	}
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("PgBouncer: parse %s: %v", dsn, err)
	}
	cred, err := runAs()
	if err != nil {
		t.Fatalf("PgBouncer: %v", err)
	}
	dir, err := os.MkdirTemp("", "schematest-pgbouncer-")
	if err != nil {
		t.Fatalf("PgBouncer: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatalf("PgBouncer: hand %s to the postgres user: %v", dir, err)
		}
	}

	// The free port may be taken before PgBouncer binds it: try again.
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("PgBouncer: %v", err)
		}
		b := &pgbouncer{bin: bin, dir: dir, port: port, cred: cred}
		if err := b.writeConfig(cfg, mode); err != nil {
			t.Fatalf("PgBouncer: %v", err)
		}
		err = b.start()
		if err == nil {
			t.Cleanup(func() {
				if err := b.stop(); err != nil {
					t.Errorf("stop PgBouncer: %v", err)
				}
				if t.Failed() {
					t.Logf("PgBouncer's log:\n%s", b.logText())
				}
			})
			u := url.URL{
				Scheme:   "postgres",
				User:     url.UserPassword(cfg.User, cfg.Password),
				Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
				Path:     "/" + cfg.Database,
				RawQuery: "sslmode=disable",
			}
			if cfg.Password == "" {
				u.User = url.User(cfg.User)
			}
			return u.String()
		}
		lastErr = err
		if !strings.Contains(b.logText(), "listen") {
			break
		}
	}
	t.Fatalf("PgBouncer: %v", lastErr)
	return ""
}

// findPgBouncer looks for pgbouncer in dirs: PATH, then where Debian puts
// it (/usr/sbin, often not on a user's PATH).
func findPgBouncer(dirs []string) (string, error) {
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, "pgbouncer")
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("pgbouncer is not installed (not in %s): %s", strings.Join(dirs, ":"), pgbouncerInstall)
}

// runAs returns the postgres user's credentials when this process is root
// (PgBouncer refuses to run as root), else nil: run as this user.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PgBouncer refuses to: look up the postgres user to run it as: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres user's uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres user's gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// pgbouncer is one PgBouncer process.
type pgbouncer struct {
	bin, dir string
	port     int
	cred     *syscall.Credential

	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited and its log is read

	mu  sync.Mutex
	log strings.Builder
}

// quoteAuth quotes s for PgBouncer's auth_file.
func quoteAuth(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// writeConfig writes pgbouncer.ini and the auth file into b.dir.
func (b *pgbouncer) writeConfig(cfg *pgconn.Config, mode string) error {
	auth := filepath.Join(b.dir, "userlist.txt")
	ini := fmt.Sprintf(`[databases]
%s = host=%s port=%d dbname=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir = %s
auth_type = trust
auth_file = %s
pool_mode = %s
`, quoteIni(cfg.Database), cfg.Host, cfg.Port, quoteIni(cfg.Database), b.port, b.dir, auth, mode)
	files := map[string]string{
		"pgbouncer.ini": ini,
		"userlist.txt":  quoteAuth(cfg.User) + " " + quoteAuth(cfg.Password) + "\n",
	}
	for name, content := range files {
		p := filepath.Join(b.dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		if b.cred != nil {
			if err := os.Chown(p, int(b.cred.Uid), int(b.cred.Gid)); err != nil {
				return fmt.Errorf("hand %s to the postgres user: %w", p, err)
			}
		}
	}
	return nil
}

// quoteIni quotes a database name for the [databases] section.
func quoteIni(s string) string {
	if strings.ContainsAny(s, " =\"'") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// start runs PgBouncer in the foreground and returns once it logs "process
// up" (it listens by then), or with its log when it exits first.
func (b *pgbouncer) start() error {
	b.cmd = exec.Command(b.bin, filepath.Join(b.dir, "pgbouncer.ini"))
	b.cmd.Dir = b.dir
	b.cmd.SysProcAttr = sysProcAttr(b.cred)
	stderr, err := b.cmd.StderrPipe()
	if err != nil {
		return err
	}
	b.cmd.Stdout = b.cmd.Stderr
	if err := b.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", b.bin, err)
	}
	up := make(chan struct{})
	b.exited = make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			b.mu.Lock()
			b.log.WriteString(line + "\n")
			b.mu.Unlock()
			if !signalled && strings.Contains(line, "process up") {
				signalled = true
				close(up)
			}
		}
		_ = b.cmd.Wait()
		close(b.exited)
	}()
	select {
	case <-up:
		return nil
	case <-b.exited:
		return fmt.Errorf("pgbouncer exited at start (%v):\n%s", b.cmd.ProcessState, b.logText())
	case <-time.After(30 * time.Second):
		_ = b.stop()
		return fmt.Errorf("pgbouncer did not come up within 30s:\n%s", b.logText())
	}
}

// stop asks PgBouncer to exit (SIGTERM: close every connection and exit)
// and waits for it, killing it if it lingers.
func (b *pgbouncer) stop() error {
	if b.cmd == nil || b.cmd.Process == nil {
		return nil
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
		return nil
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
		return errors.New("pgbouncer did not exit within 10s of SIGTERM: killed")
	}
}

func (b *pgbouncer) logText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log.String()
}
