package schema

import (
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAddLockTimeout(t *testing.T) {
	const set = "SET LOCAL lock_timeout = '1500ms';\n"
	for _, tc := range []struct {
		name, in, want string
	}{
		{"first statement of Up",
			"-- a comment\n-- +goose Up\nALTER TABLE t ADD COLUMN c int;\n-- +goose Down\nSELECT 1;\n",
			"-- a comment\n-- +goose Up\n" + set + "ALTER TABLE t ADD COLUMN c int;\n-- +goose Down\nSELECT 1;\n"},
		{"before a statement block",
			"-- +goose up\n-- +goose StatementBegin\nDO $$ BEGIN END $$;\n-- +goose StatementEnd\n",
			"-- +goose up\n" + set + "-- +goose StatementBegin\nDO $$ BEGIN END $$;\n-- +goose StatementEnd\n"},
		{"annotation as the last line", "-- +goose Up", "-- +goose Up\n" + set},
		{"no transaction: left to wait",
			"-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY i ON t (c);\n",
			"-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY i ON t (c);\n"},
		{"a comment naming Up is not the annotation",
			"-- goose Up is below\n-- +goose Up\nSELECT 1;\n",
			"-- goose Up is below\n-- +goose Up\n" + set + "SELECT 1;\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(addLockTimeout([]byte(tc.in), 1500*time.Millisecond))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("addLockTimeout (-want +got):\n%s", diff)
			}
		})
	}
}

// Every embedded migration that runs in a transaction gets the lock
// timeout; the concurrent index builds do not.
func TestWithLockTimeoutOnTheMigrations(t *testing.T) {
	migrations, err := withLockTimeout(Files, LockTimeout)
	if err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(Files, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("no migrations: %v", err)
	}
	got, err := fs.Glob(migrations, "*.sql")
	if err != nil || !cmp.Equal(got, names) {
		t.Fatalf("rewritten migrations %v (%v), want %v", got, err, names)
	}
	for _, name := range names {
		orig, _ := fs.ReadFile(Files, name)
		b, err := fs.ReadFile(migrations, name)
		if err != nil {
			t.Fatal(err)
		}
		noTx := strings.Contains(string(orig), "-- +goose NO TRANSACTION")
		has := strings.Contains(string(b), setLockTimeout(LockTimeout))
		if has == noTx {
			t.Errorf("%s: NO TRANSACTION %v, lock timeout added %v", name, noTx, has)
		}
	}
}
