package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// selectFixture is a database with contacts in several states.
type selectFixture struct {
	testDB
	newID, doneID, failedID, waitingID, retryingID, processingID string
}

func newSelectFixture(t *testing.T) selectFixture {
	t.Helper()
	d := newTestDB(t)
	return selectFixture{
		testDB:       d,
		newID:        d.insertContact(t, "Ada@Example.com", "New", "", "", 0),
		doneID:       d.insertContact(t, "grace@example.com", "Complete", "Complete", "", 0),
		failedID:     d.insertContact(t, "linus@example.com", "Error", "Error", "rejected by Brevo: brevo: 400 invalid_parameter: Invalid phone number", 1),
		waitingID:    d.insertContact(t, "waiting@example.com", "Selected", "Queued", "", 0),
		retryingID:   d.insertContact(t, "retrying@example.com", "Queued", "Error", "attempt 1 failed, retrying: brevo: 502 Bad Gateway", 1),
		processingID: d.insertContact(t, "busy@example.com", "Processing", "Processing", "", 0),
	}
}

// input names every contact of the fixture in several ways, with comments,
// blank lines, duplicates and bad lines.
func (f selectFixture) input() string {
	return strings.Join([]string{
		"# contacts to sync",                   // 1
		"  ada@EXAMPLE.com  ",                  // 2: email, another case, padded
		"",                                     // 3
		strings.ToUpper(f.doneID),              // 4: id, upper case
		"linus@example.com",                    // 5
		"not an email",                         // 6: bad
		"waiting@example.com",                  // 7
		f.retryingID,                           // 8
		"busy@example.com",                     // 9
		"nobody@example.com",                   // 10: not found
		"ada@example.com",                      // 11: duplicate
		"12345",                                // 12: bad
		"00000000-0000-4000-8000-00000000abcd", // 13: id not found
	}, "\n") + "\n"
}

func (f selectFixture) checkSelected(t *testing.T, out, stderr string) {
	t.Helper()
	for _, want := range []string{
		"entries:          8 (1 duplicate(s) ignored, 2 invalid line(s) skipped)",
		"selected:         3 contact(s)",
		"already waiting:  3 contact(s)",
		"not found:        2 entries",
		"  nobody@example.com\n",
		"  00000000-0000-4000-8000-00000000abcd\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("select output lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{`line 6: "not an email" is neither`, `line 12: "12345" is neither`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("select stderr lacks %q:\n%s", want, stderr)
		}
	}
	for _, id := range []string{f.newID, f.doneID, f.failedID} {
		if r := f.row(t, id); !isFreshRequest(r) {
			t.Errorf("contact %s = %+v, want a fresh request", id, r)
		}
	}
	if r := f.row(t, f.retryingID); r.Sync != "Queued" || r.Proc != "Error" || r.RetryCount != 1 {
		t.Errorf("Retry scheduled contact = %+v, want it untouched", r)
	}
	if r := f.row(t, f.processingID); r.Sync != "Processing" {
		t.Errorf("Processing contact = %+v, want it untouched", r)
	}
}

// checkNothingApplied checks a select stopped by bad lines: exit 2, every
// bad line named, no row changed, no notification.
func checkNothingApplied(t *testing.T, d testDB, before string, code int, out, stderr string, badLines ...string) {
	t.Helper()
	if code != 2 || out != "" || !strings.Contains(stderr, "nothing applied") {
		t.Errorf("select with bad lines: exit %d, stdout %q, stderr:\n%s\nwant exit 2, nothing applied", code, out, stderr)
	}
	for _, l := range badLines {
		if !strings.Contains(stderr, l+": ") {
			t.Errorf("select stderr does not name %s:\n%s", l, stderr)
		}
	}
	if after := d.snapshot(t); after != before {
		t.Errorf("select with bad lines changed rows:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestSelectFromFile(t *testing.T) {
	t.Parallel()
	f := newSelectFixture(t)
	path := filepath.Join(t.TempDir(), "contacts.txt")
	if err := os.WriteFile(path, []byte(f.input()), 0o600); err != nil {
		t.Fatal(err)
	}
	// By default two bad lines stop everything.
	before := f.snapshot(t)
	notes := listen(t, f.testDB)
	code, out, stderr := runWithStdin(t, f.vars(), nil, "select", "-f", path)
	checkNothingApplied(t, f.testDB, before, code, out, stderr, "line 6", "line 12")
	if !strings.Contains(stderr, "--skip-invalid to apply the 8 valid entries") {
		t.Errorf("select stderr does not offer --skip-invalid:\n%s", stderr)
	}
	if n := notes.count(t); n != 0 {
		t.Errorf("select stopped by bad lines sent %d notifications", n)
	}

	code, out, stderr = runWithStdin(t, f.vars(), nil, "select", "--skip-invalid", "-f", path)
	if code != 0 {
		t.Fatalf("select --skip-invalid -f: exit %d\n%s%s", code, out, stderr)
	}
	f.checkSelected(t, out, stderr)
	if !strings.Contains(out, "the invalid lines were not") || !strings.Contains(stderr, "; skipped") {
		t.Errorf("select --skip-invalid does not say what was applied:\n%s%s", out, stderr)
	}

	// Again: everything is waiting now.
	code, out, _ = runWithStdin(t, f.vars(), nil, "select", "--skip-invalid", "-f", path)
	if code != 0 || !strings.Contains(out, "selected:         0 contact(s)") || !strings.Contains(out, "already waiting:  6 contact(s)") {
		t.Errorf("select again: exit %d\n%s", code, out)
	}
}

func TestSelectFromStdin(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"select", "--skip-invalid"}, {"select", "--skip-invalid", "-f", "-"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			f := newSelectFixture(t)
			code, out, stderr := runWithStdin(t, f.vars(), strings.NewReader(f.input()), args...)
			if code != 0 {
				t.Fatalf("%v: exit %d\n%s%s", args, code, out, stderr)
			}
			f.checkSelected(t, out, stderr)
		})
	}
}

func TestSelectArguments(t *testing.T) {
	t.Parallel()
	f := newSelectFixture(t)
	before := f.snapshot(t)
	code, out, stderr := runWithStdin(t, f.vars(), nil, "select", "ADA@example.com", f.doneID, "bogus")
	checkNothingApplied(t, f.testDB, before, code, out, stderr, "argument 3")
	code, out, stderr = runWithStdin(t, f.vars(), nil, "select", "ADA@example.com", f.doneID)
	if code != 0 || !strings.Contains(out, "selected:         2 contact(s) (applied: every entry, in one transaction)") {
		t.Fatalf("select with arguments: exit %d\n%s%s", code, out, stderr)
	}
	if r := f.row(t, f.newID); !isFreshRequest(r) {
		t.Errorf("contact = %+v, want a fresh request", r)
	}
}

func TestSelectDryRun(t *testing.T) {
	t.Parallel()
	f := newSelectFixture(t)
	before := f.snapshot(t)
	notes := listen(t, f.testDB)
	code, out, stderr := runWithStdin(t, f.vars(), strings.NewReader(f.input()), "select", "--dry-run", "--skip-invalid", "--batch", "2")
	if code != 0 {
		t.Fatalf("select --dry-run: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{"would select:     3 contact(s) (dry run: nothing written)", "already waiting:  3", "not found:        2"} {
		if !strings.Contains(out, want) {
			t.Errorf("select --dry-run output lacks %q:\n%s", want, out)
		}
	}
	if after := f.snapshot(t); after != before {
		t.Errorf("select --dry-run changed rows:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if n := notes.count(t); n != 0 {
		t.Errorf("select --dry-run sent %d notifications", n)
	}
}

// Batches: one statement each, all in one transaction, so one
// notification; progress on stderr, one line per 10% at most when stderr is
// no terminal.
func TestSelectBatches(t *testing.T) {
	t.Parallel()
	d := newTestDB(t)
	const n = 25
	d.exec(t, fmt.Sprintf(`INSERT INTO contacts (email) SELECT 'user' || i || '@example.com' FROM generate_series(1, %d) i`, n))
	var in strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&in, "USER%d@example.com\n", i)
	}
	notes := listen(t, d)
	code, out, stderr := runWithStdin(t, d.vars(), strings.NewReader(in.String()), "select", "--batch", "10")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("selected:         %d contact(s)", n)) {
		t.Fatalf("select: exit %d\n%s%s", code, out, stderr)
	}
	if got := notes.count(t); got != 1 {
		t.Errorf("select of %d contacts in batches of 10 sent %d notifications, want 1", n, got)
	}
	var fresh int
	if err := d.pool.QueryRow(t.Context(), `SELECT count(*) FROM contacts
		WHERE brevo_sync_status = 'Selected' AND brevo_processing_status = 'Queued' AND brevo_requested_at IS NOT NULL`).Scan(&fresh); err != nil {
		t.Fatal(err)
	}
	if fresh != n {
		t.Errorf("%d contacts are requests, want %d", fresh, n)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 3 || !strings.Contains(stderr, "select: 25/25 entries (100%)") {
		t.Errorf("progress on stderr = %q, want 3 lines ending at 100%%", lines)
	}
}

func TestSelectLegacyMigrated(t *testing.T) {
	t.Parallel()
	d := newLegacyDB(t, true)
	// Ada's email is mixed case in the varchar column.
	code, out, stderr := runWithStdin(t, d.vars(), nil, "select", "ada@example.com", "aaaaaaaa-0000-0000-0000-000000000004")
	if code != 0 || !strings.Contains(out, "selected:         2 contact(s)") {
		t.Fatalf("select: exit %d\n%s%s", code, out, stderr)
	}
	for _, id := range []string{"aaaaaaaa-0000-0000-0000-000000000001", "aaaaaaaa-0000-0000-0000-000000000004"} {
		if r := d.row(t, id); !isFreshRequest(r) {
			t.Errorf("contact %s = %+v, want a fresh request", id, r)
		}
	}
}

func TestSelectUsage(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:1/x"}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no input", []string{"select"}, "give emails or contact ids"},
		{"zero batch", []string{"select", "--batch", "0", "a@example.com"}, "--batch must be between 1 and 50000"},
		{"file and arguments", []string{"select", "-f", "x.txt", "a@example.com"}, "not both"},
		{"stdin without stdin", []string{"select", "-f", "-"}, "there is none"},
		{"flag after entries", []string{"select", "a@example.com", "--dry-run"}, `move "--dry-run" to the front`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, stderr := runWithStdin(t, vars, nil, tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.wantErr) || out != "" {
				t.Errorf("brevosync %v: exit %d, stdout %q, stderr:\n%s\nwant exit 2 and %q", tt.args, code, out, stderr, tt.wantErr)
			}
		})
	}
	if code, _, stderr := runWithStdin(t, vars, nil, "select", "-f", filepath.Join(t.TempDir(), "missing.txt")); code != 1 ||
		!strings.Contains(stderr, "no such file") {
		t.Errorf("select -f missing.txt: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runWithStdin(t, nil, nil, "select", "a@example.com"); code != 2 || !strings.Contains(stderr, "DATABASE_URL") {
		t.Errorf("select without DATABASE_URL: exit %d\n%s", code, stderr)
	}
	// Only bad lines: exit 2, with or without --skip-invalid; no database
	// needed.
	for _, args := range [][]string{{"select"}, {"select", "--skip-invalid"}} {
		code, out, stderr := runWithStdin(t, vars, strings.NewReader("# header\nfoo\n"), args...)
		if code != 2 || out != "" || !strings.Contains(stderr, "every entry is invalid") || !strings.Contains(stderr, `line 2: "foo"`) {
			t.Errorf("%v of bad lines only: exit %d\n%s%s", args, code, out, stderr)
		}
	}
	// No entries at all (a query that found nobody): nothing to do.
	code, out, stderr := runWithStdin(t, vars, strings.NewReader("# header\n\n"), "select")
	if code != 0 || !strings.Contains(out, "nothing to select") {
		t.Errorf("select of no entries: exit %d\n%s%s", code, out, stderr)
	}
}

// The regression: a NUL byte in one line of a 200,001-line input
// used to abort the selection half-applied (100,000 committed), stop at the
// same place on a rerun, and call a rerun safe. Now nothing is applied and
// the line is named; with --skip-invalid every other line is applied.
func TestSelectNULByteInLargeInput(t *testing.T) {
	t.Parallel()
	d := newTestDB(t)
	const n, nulLine = 200000, 150001
	d.exec(t, fmt.Sprintf(`INSERT INTO contacts (email) SELECT 'user' || i || '@example.com' FROM generate_series(1, %d) i`, n))
	var in strings.Builder
	for i := 1; i <= n+1; i++ {
		switch {
		case i == nulLine:
			in.WriteString("bad\x00user@example.com\n")
		case i < nulLine:
			fmt.Fprintf(&in, "user%d@example.com\n", i)
		default:
			fmt.Fprintf(&in, "user%d@example.com\n", i-1)
		}
	}
	path := filepath.Join(t.TempDir(), "large.txt")
	if err := os.WriteFile(path, []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	selected := func() int {
		var c int
		if err := d.pool.QueryRow(t.Context(), `SELECT count(*) FROM contacts WHERE brevo_sync_status = 'Selected'`).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}

	code, out, stderr := runWithStdin(t, d.vars(), nil, "select", "-f", path)
	if code != 2 || !strings.Contains(stderr, fmt.Sprintf("line %d: ", nulLine)) || !strings.Contains(stderr, "contains a NUL byte") ||
		!strings.Contains(stderr, "nothing applied") || strings.Contains(stderr, "safe") {
		t.Errorf("select of a large input with a NUL byte: exit %d\n%s%s", code, out, stderr)
	}
	if c := selected(); c != 0 {
		t.Fatalf("%d contacts selected after a select stopped by a bad line, want 0", c)
	}

	code, out, stderr = runWithStdin(t, d.vars(), nil, "select", "--skip-invalid", "-f", path)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("selected:         %d contact(s)", n)) ||
		!strings.Contains(out, "1 invalid line(s) skipped") || !strings.Contains(stderr, fmt.Sprintf("line %d: ", nulLine)) {
		t.Errorf("select --skip-invalid: exit %d\n%s%s", code, out, stderr)
	}
	if c := selected(); c != n {
		t.Errorf("%d contacts selected, want %d", c, n)
	}
}

// A database error leaves nothing applied, and says so: exit 1.
func TestSelectDatabaseError(t *testing.T) {
	t.Parallel()
	d := newTestDB(t)
	d.exec(t, `INSERT INTO contacts (email) SELECT 'user' || i || '@example.com' FROM generate_series(1, 30) i`)
	d.exec(t, `CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.email = 'user25@example.com' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$`)
	d.exec(t, `CREATE TRIGGER boom BEFORE UPDATE ON contacts FOR EACH ROW EXECUTE FUNCTION boom()`)
	var in strings.Builder
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&in, "user%d@example.com\n", i)
	}
	before := d.snapshot(t)
	code, out, stderr := runWithStdin(t, d.vars(), strings.NewReader(in.String()), "select", "--batch", "10")
	if code != 1 || out != "" || !strings.Contains(stderr, "nothing applied") || !strings.Contains(stderr, "running it again is safe") ||
		!strings.Contains(stderr, "boom") {
		t.Errorf("select on a failing database: exit %d\n%s%s", code, out, stderr)
	}
	if after := d.snapshot(t); after != before {
		t.Errorf("select on a failing database changed rows")
	}
}
