package schema_test

import (
	"testing"

	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/sql/schematest"
)

// TestSetMirror: off, a synced contact's change, unselect and deletion queue
// nothing; on again, they do; setting what is already set changes nothing.
func TestSetMirror(t *testing.T) {
	t.Parallel()
	pool := schematest.NewPool(t)
	ctx := t.Context()
	synced := func(email string) {
		t.Helper()
		if _, err := pool.Exec(ctx, `INSERT INTO contacts (email, name, brevo_sync_status) VALUES ($1, 'A', 'Complete')`, email); err != nil {
			t.Fatal(err)
		}
	}
	pair := func(email string) string {
		t.Helper()
		var s string
		if err := pool.QueryRow(ctx, `SELECT brevo_sync_status::text || '/' || coalesce(brevo_processing_status::text, 'NULL') FROM contacts WHERE email = $1`, email).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	removals := func() int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM brevosync_removals`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	exercise := func(prefix string) (changed, unselected string, deleted int) {
		t.Helper()
		for _, e := range []string{"change", "unselect", "delete"} {
			synced(prefix + e + "@example.com")
		}
		before := removals()
		if _, err := pool.Exec(ctx, `UPDATE contacts SET name = 'B' WHERE email = $1`, prefix+"change@example.com"); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `UPDATE contacts SET brevo_sync_status = 'New' WHERE email = $1`, prefix+"unselect@example.com"); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `DELETE FROM contacts WHERE email = $1`, prefix+"delete@example.com"); err != nil {
			t.Fatal(err)
		}
		return pair(prefix + "change@example.com"), pair(prefix + "unselect@example.com"), removals() - before
	}

	for range 2 {
		if err := schema.SetMirror(ctx, pool, false); err != nil {
			t.Fatalf("mirror off: %v", err)
		}
	}
	if c, u, d := exercise("off-"); c != "Complete/NULL" || u != "New/NULL" || d != 0 {
		t.Errorf("mirror off: changed %s, unselected %s, %d removals recorded; want Complete/NULL, New/NULL, 0", c, u, d)
	}
	for range 2 {
		if err := schema.SetMirror(ctx, pool, true); err != nil {
			t.Fatalf("mirror on: %v", err)
		}
	}
	if c, u, d := exercise("on-"); c != "Complete/Queued" || u != "New/Queued" || d != 1 {
		t.Errorf("mirror on: changed %s, unselected %s, %d removals recorded; want Complete/Queued, New/Queued, 1", c, u, d)
	}
	// A selection still works with the mirror off (the request trigger's
	// function holds the constant too).
	if err := schema.SetMirror(ctx, pool, false); err != nil {
		t.Fatal(err)
	}
	synced("select@example.com")
	if _, err := pool.Exec(ctx, `UPDATE contacts SET brevo_sync_status = 'Selected', brevo_processing_status = 'Queued' WHERE email = 'select@example.com'`); err != nil {
		t.Fatal(err)
	}
	if !fresh(t, pool, "select@example.com") {
		t.Error("a selection with the mirror off did not start a fresh request")
	}
}
