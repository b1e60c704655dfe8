package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brevosync/brevosync/cmd/brevosync/pgtmp"
	schema "github.com/brevosync/brevosync/sql"
)

// benchServer is the Postgres server bench measures on: DATABASE_URL's, a
// local one, or a throwaway cluster. Each section gets its own database.
type benchServer struct {
	maint   string // connection string of a database to run CREATE DATABASE from
	cluster *pgtmp.Cluster
	created []string
}

func openBenchServer(ctx context.Context, getenv func(string) string, progress func(string, ...any)) (*benchServer, error) {
	if dsn := getenv("DATABASE_URL"); dsn != "" {
		if err := pingDSN(ctx, dsn); err != nil {
			return nil, fmt.Errorf("DATABASE_URL does not answer: %w", err)
		}
		progress("using the server of DATABASE_URL")
		return &benchServer{maint: dsn}, nil
	}
	for _, c := range localServers() {
		if dsn := demoLocalURL(c.host, c.role, "postgres"); pingDSN(ctx, dsn) == nil {
			progress("using the local server (%s)", dsn)
			return &benchServer{maint: dsn}, nil
		}
	}
	progress("no local server answers; starting a throwaway cluster")
	c, err := pgtmp.Start(ctx, pgtmp.Options{})
	if err != nil {
		return nil, err
	}
	return &benchServer{maint: c.TCPURL(), cluster: c}, nil
}

func pingDSN(ctx context.Context, dsn string) error {
	conn, err := demoConnect(ctx, dsn)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// newDatabase creates and migrates a fresh database and returns its
// connection string. close drops it.
func (s *benchServer) newDatabase(ctx context.Context, label string) (string, error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "brevosync_bench_" + label + "_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, s.maint)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s (bench needs the CREATEDB right): %w", name, err)
	}
	s.created = append(s.created, name)
	dsn, err := withDatabase(s.maint, name)
	if err != nil {
		return "", err
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer pool.Close()
	if _, err := schema.Migrate(ctx, pool, nil); err != nil {
		return "", err
	}
	return dsn, nil
}

// withDatabase returns dsn pointing at database name instead.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	return dsn + " dbname=" + name, nil
}

func (s *benchServer) version(ctx context.Context) string {
	conn, err := pgx.Connect(ctx, s.maint)
	if err != nil {
		return "Postgres (version unknown)"
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "Postgres (version unknown)"
	}
	return "Postgres " + strings.Fields(v)[0]
}

// close drops the bench's databases and stops a throwaway cluster.
func (s *benchServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if s.cluster != nil {
		if err := s.cluster.Stop(ctx); err != nil { // the databases go with it
			fmt.Fprintf(os.Stderr, "bench: %v\nstop it by hand: %s\n", err, s.cluster.StopCommand())
		}
		return
	}
	conn, err := pgx.Connect(ctx, s.maint)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	for _, name := range s.created {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
}

// machineInfo describes the CPU for the report.
func machineInfo() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	s := fmt.Sprintf("%d CPUs %s/%s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	if model != "" {
		s += " (" + model + ")"
	}
	return s
}

// child is `brevosync serve` in its own process, so its memory can be read
// and it can be stopped like in production.
type child struct {
	cmd    *exec.Cmd
	addr   string
	stderr *lockedBuffer
	done   chan struct{}
	err    error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Contains(l.b.Bytes(), []byte(s))
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startChild runs `brevosync serve` with vars added to the environment and
// waits until it is ready.
func startChild(ctx context.Context, vars map[string]string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	c := &child{addr: addr, stderr: &lockedBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(exe, "serve")
	c.cmd.Env = append(os.Environ(), "BREVOSYNC_TEST_MAIN=1", "HTTP_ADDR="+addr, "LOG_FORMAT=json")
	for k, v := range vars {
		c.cmd.Env = append(c.cmd.Env, k+"="+v)
	}
	c.cmd.Stderr = c.stderr
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { c.err = c.cmd.Wait(); close(c.done) }()
	if err := c.waitReady(ctx); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// waitReady polls /readyz until it answers 200.
func (c *child) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			return fmt.Errorf("brevosync serve exited: %v\n%s", c.err, c.stderr.String())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if resp, err := http.Get("http://" + c.addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("brevosync serve not ready after 30s:\n%s", c.stderr.String())
}

// waitLog waits until the child has logged s.
func (c *child) waitLog(ctx context.Context, s string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for !c.stderr.contains(s) {
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

// memory returns the child's resident set size now and its peak, in MB.
func (c *child) memory() (rss, peak float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
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

// stop sends SIGTERM and waits, then kills.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}
