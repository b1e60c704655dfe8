package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"strings"
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
	for _, c := range pgtmp.LocalServers() {
		if dsn := c.URL("postgres"); pingDSN(ctx, dsn) == nil {
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
	conn, err := pgtmp.Probe(ctx, dsn)
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
	dsn, err := pgtmp.WithDatabase(s.maint, name)
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
