package pgtmp

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
)

// ErrNotInstalled is returned (wrapped) by [FindBinaries] and [Start] when
// no Postgres server binaries are found. Its message says how to install them.
var ErrNotInstalled = errors.New("no Postgres server found (initdb and pg_ctl are not on PATH nor under " +
	"/usr/lib/postgresql/*/bin): install it, with 'apt-get install postgresql' on Debian/Ubuntu " +
	"or 'brew install postgresql' on macOS, or set DATABASE_URL to a database you have")

// searchGlobs are where distributions put versioned server binaries when
// they are not on PATH; within a pattern the newest version comes first.
var searchGlobs = []string{
	"/usr/lib/postgresql/*/bin",          // Debian, Ubuntu
	"/usr/pgsql-*/bin",                   // PGDG RPMs
	"/opt/homebrew/opt/postgresql@*/bin", // Homebrew, Apple silicon
	"/usr/local/opt/postgresql@*/bin",    // Homebrew, Intel
	"/opt/homebrew/opt/postgresql/bin",   // Homebrew, unversioned
	"/usr/local/opt/postgresql/bin",      // Homebrew, Intel, unversioned
	"/usr/local/pgsql/bin",               // built from source
	"/Applications/Postgres.app/Contents/Versions/latest/bin",
}

// FindBinaries returns the directory holding initdb, pg_ctl and postgres:
// the one of the initdb on PATH, else the newest under searchGlobs. The
// error wraps [ErrNotInstalled].
func FindBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if dir := filepath.Dir(resolve(p)); complete(dir) {
			return dir, nil
		}
		if dir := filepath.Dir(p); complete(dir) {
			return dir, nil
		}
	}
	for _, g := range searchGlobs {
		dirs, _ := filepath.Glob(g)
		slices.SortFunc(dirs, func(a, b string) int { return cmp.Compare(version(b), version(a)) })
		for _, dir := range dirs {
			if complete(dir) {
				return dir, nil
			}
		}
	}
	return "", fmt.Errorf("find initdb: %w", ErrNotInstalled)
}

// resolve follows symlinks (Debian's /usr/local/bin/initdb → …/15/bin/initdb).
func resolve(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

// complete reports whether dir holds the three binaries a cluster needs.
func complete(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

var versionRE = regexp.MustCompile(`(\d+)(?:\.(\d+))?`)

// version extracts a sortable major·1000+minor from a path like
// /usr/lib/postgresql/16/bin; 0 when there is none.
func version(dir string) int {
	m := versionRE.FindStringSubmatch(dir)
	if m == nil {
		return 0
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return major*1000 + minor
}
