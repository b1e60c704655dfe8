package schematest_test

import (
	"context"
	"testing"

	"github.com/brevosync/brevosync/sql/schematest"
)

func TestNewProductionURL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := schematest.Pool(t, schematest.NewProductionURL(t))

	// Not migrated: the application's tables only.
	var brevosync, onThreeRows int
	err := pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM pg_class WHERE relname LIKE 'brevosync%'),
		(SELECT count(*) FROM contacts WHERE email = 'ada@example.com')`).Scan(&brevosync, &onThreeRows)
	if err != nil {
		t.Fatal(err)
	}
	if brevosync != 0 || onThreeRows != 3 {
		t.Errorf("fixture: %d brevosync objects, ada@example.com on %d rows; want 0 and 3", brevosync, onThreeRows)
	}

	// The test's role may act as each API role, which reads contacts.
	for _, role := range []string{"anon", "authenticated"} {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var who string
		var n int
		_, err = tx.Exec(ctx, "SET LOCAL ROLE "+role)
		if err == nil {
			err = tx.QueryRow(ctx, "SELECT current_user::text, (SELECT count(*) FROM contacts)").Scan(&who, &n)
		}
		tx.Rollback(context.Background())
		if err != nil || who != role || n != 10 {
			t.Errorf("as %s: current_user %q, %d contacts, %v; want %s and 10", role, who, n, err, role)
		}
	}
}
