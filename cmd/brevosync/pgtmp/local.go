package pgtmp

import (
	"context"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// LocalServer is where a local Postgres may answer: a host (127.0.0.1 or a
// socket directory) and a role.
type LocalServer struct{ Host, Role string }

// LocalServers lists the places to try, in order: TCP on 127.0.0.1:5432 and
// the usual socket directories, as the postgres user and then as this OS
// user. demo and bench both look for a server this way.
func LocalServers() []LocalServer {
	users := []string{"postgres"}
	if u, err := user.Current(); err == nil && u.Username != "postgres" {
		users = append(users, u.Username)
	}
	hosts := []string{"127.0.0.1"}
	for _, dir := range []string{"/var/run/postgresql", "/tmp"} {
		if _, err := os.Stat(filepath.Join(dir, ".s.PGSQL.5432")); err == nil {
			hosts = append(hosts, dir)
		}
	}
	var out []LocalServer
	for _, u := range users {
		for _, h := range hosts {
			out = append(out, LocalServer{Host: h, Role: u})
		}
	}
	return out
}

// URL is the connection string of database db on the server, by TCP (host
// 127.0.0.1) or by the socket in directory Host.
func (s LocalServer) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User(s.Role), Path: "/" + db}
	q := url.Values{"sslmode": {"disable"}}
	if filepath.IsAbs(s.Host) {
		q.Set("host", s.Host)
		q.Set("port", "5432")
	} else {
		u.Host = s.Host + ":5432"
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Probe connects to dsn with a short timeout: it only asks whether a server
// answers there.
func Probe(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.ConnectTimeout = 2 * time.Second
	return pgx.ConnectConfig(ctx, cfg)
}

// WithDatabase returns dsn pointing at database name instead.
func WithDatabase(dsn, name string) (string, error) {
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
