package schema

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConcurrentIndexes(t *testing.T) {
	got, err := concurrentIndexes(Files)
	if err != nil {
		t.Fatal(err)
	}
	if got["contacts_brevo_email_key_idx"] != 5 {
		t.Errorf("concurrentIndexes(Files) = %v, want contacts_brevo_email_key_idx from 5 among them", got)
	}
	fsys := memFS{
		"00020_a.sql": []byte("-- +goose NO TRANSACTION\n-- +goose Up\n" +
			"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS Brevosync_A ON t (a);\n" +
			"create index concurrently \"Quoted \"\"x\"\"\" on t (b);\n"),
		"README.sql": []byte("CREATE INDEX CONCURRENTLY not_a_migration ON t (c);"),
	}
	got, err = concurrentIndexes(fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"brevosync_a": 20, `Quoted "x"`: 20}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("concurrentIndexes (-want +got):\n%s", diff)
	}
}
