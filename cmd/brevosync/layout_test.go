package main

// The module's map, enforced (../../shared/go-style.md §3.2): which package
// may import which, where the state names may be spelled in SQL, and how
// large a file may grow. See README.md, "Develop".

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/brevosync/brevosync"

// deps returns, for every package of the module, its non-test
// dependencies within the module (transitively).
func deps(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, module+"/...")
	cmd.Dir = moduleRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], module)
		var own []string
		for _, d := range f[1:] {
			if d == module || strings.HasPrefix(d, module+"/") {
				own = append(own, strings.TrimPrefix(d, module))
			}
		}
		m[pkg] = own
	}
	return m
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}

func TestDependenciesPointOneWay(t *testing.T) {
	t.Parallel()
	all := deps(t)
	under := func(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }
	// allowed[pkg] lists the module's packages pkg may depend on; a
	// package not listed may depend on nothing of the module, unless it is
	// under /cmd (the only place that wires everything).
	allowed := map[string][]string{
		"/sql":                    {},
		"/sql/schematest":         {"/sql"},
		"/listener":               {},
		"/syncer":                 {"/sql"},
		"/syncer/operator":        {"/sql", "/syncer"},
		"/syncer/brevo":           {"/sql", "/syncer"},
		"/syncer/brevo/brevotest": {},
		"/webhook":                {"/sql", "/syncer", "/syncer/operator"},
		"/webhook/console":        {"/sql", "/syncer", "/syncer/operator"},
		"/cmd/brevosync/pgtmp":    {},
		"/cmd/brevosync/cli":      {"/sql", "/syncer", "/syncer/operator"},
	}
	for pkg, ds := range all {
		if under(pkg, "/cmd") {
			if _, listed := allowed[pkg]; !listed {
				continue
			}
		}
		ok, listed := allowed[pkg]
		if !listed {
			t.Errorf("package %s has no import rule: add it to TestDependenciesPointOneWay", pkg)
			continue
		}
		for _, d := range ds {
			if !slices.Contains(ok, d) {
				t.Errorf("%s depends on %s; it may depend only on %v", pkg, d, ok)
			}
		}
	}
	for pkg, ds := range all {
		for _, d := range ds {
			switch {
			case under(d, "/cmd") && !under(pkg, "/cmd"):
				t.Errorf("%s depends on %s: nothing outside cmd imports cmd", pkg, d)
			case d == "/syncer/brevo/brevotest" && pkg != "/cmd/brevosync/demo" && pkg != "/cmd/brevosync/bench" && pkg != "/cmd/brevosync":
				t.Errorf("%s depends on the Brevo simulator: only tests, demo and bench may", pkg)
			case d == "/sql/schematest":
				t.Errorf("%s depends on the test-only package sql/schematest", pkg)
			}
		}
	}
	if slices.Contains(all["/syncer"], "/syncer/brevo") {
		t.Error("the syncer depends on its Brevo adapter: it must know only its CRM seam")
	}
}

// goFiles lists the module's non-test Go files, relative to its root.
func goFiles(t *testing.T) []string {
	t.Helper()
	root := moduleRoot(t)
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// stateLiteral is a state name written as an SQL string literal.
var stateLiteral = regexp.MustCompile(`'(New|Selected|Queued|Processing|Complete|Error|Skipped)'`)

func TestStateNamesOnlyUnderSQL(t *testing.T) {
	t.Parallel()
	for _, f := range goFiles(t) {
		if strings.HasPrefix(f, "sql/") {
			continue
		}
		eachLine(t, f, func(n int, line string) {
			if code, _, _ := strings.Cut(line, "//"); stateLiteral.MatchString(code) {
				t.Errorf("%s:%d spells a state as an SQL literal; use package schema: %s", f, n, strings.TrimSpace(line))
			}
		})
	}
}

// sqlStatement is the start of an SQL statement in Go source.
var sqlStatement = regexp.MustCompile(`\b(SELECT\s.*\bFROM|UPDATE\s+\w+\s+SET|INSERT\s+INTO|DELETE\s+FROM)\b`)

func TestCommandsHoldNoSQL(t *testing.T) {
	t.Parallel()
	for _, f := range goFiles(t) {
		if filepath.Dir(f) != filepath.Join("cmd", "brevosync") {
			continue
		}
		eachLine(t, f, func(n int, line string) {
			if strings.Contains(line, `"github.com/jackc/pgx`) {
				t.Errorf("%s:%d imports pgx: the command line calls packages that talk to the database", f, n)
			}
			if code, _, _ := strings.Cut(line, "//"); sqlStatement.MatchString(code) {
				t.Errorf("%s:%d holds SQL: %s", f, n, strings.TrimSpace(line))
			}
		})
	}
}

func TestFilesStaySmall(t *testing.T) {
	t.Parallel()
	const maxLines = 450
	for _, f := range goFiles(t) {
		lines := 0
		eachLine(t, f, func(int, string) { lines++ })
		if lines > maxLines {
			t.Errorf("%s has %d lines; split it by concern (at most %d)", f, lines, maxLines)
		}
	}
}

func eachLine(t *testing.T, rel string, f func(n int, line string)) {
	t.Helper()
	file, err := os.Open(filepath.Join(moduleRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		f(n, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}
