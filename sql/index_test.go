package schema_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/sql/schematest"
)

// emailKeyIndex is the index 00005_email_key.sql builds concurrently.
const emailKeyIndex = "contacts_brevo_email_key_idx"

// interruptBuild runs Migrate on pool until it reaches the CREATE INDEX
// CONCURRENTLY of the email key, cancels it there (as a deploy killed
// mid-migrate would), and returns once Migrate has returned: the index is
// left INVALID and its migration is not recorded.
func interruptBuild(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := t.Context()
	// An open snapshot: CREATE INDEX CONCURRENTLY waits for it in its last
	// phase, when the index exists but is not valid yet. It holds no lock
	// on contacts, so the other migrations go through.
	snap, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Rollback(context.Background())
	if _, err := snap.Exec(ctx, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
		t.Fatal(err)
	}
	if _, err := snap.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}

	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := schema.Migrate(mctx, pool, nil)
		done <- err
	}()
	// Nothing signals the build's phase: poll the progress view.
	deadline := time.Now().Add(time.Minute)
	for {
		var waiting bool
		err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_progress_create_index
			WHERE datid = (SELECT oid FROM pg_database WHERE datname = current_database())
			  AND index_relid = to_regclass($1) AND phase = 'waiting for old snapshots')`, emailKeyIndex).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Migrate returned (%v) before it reached the concurrent index build", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the concurrent index build never waited for the open snapshot")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("Migrate cancelled in the index build returned no error")
	}
	if valid, ok := indexValid(t, pool, emailKeyIndex); !ok || valid {
		t.Fatalf("after the interrupted build, %s exists %v, valid %v; want an INVALID leftover", emailKeyIndex, ok, valid)
	}
}

// indexValid reports whether index name is valid, and whether it exists.
func indexValid(t *testing.T, pool *pgxpool.Pool, name string) (valid, exists bool) {
	t.Helper()
	err := pool.QueryRow(t.Context(), `SELECT coalesce((SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)), false),
		to_regclass($1) IS NOT NULL`, name).Scan(&valid, &exists)
	if err != nil {
		t.Fatal(err)
	}
	return valid, exists
}

func TestMigrateRebuildsAnIndexLeftInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// recorded: the migration was recorded anyway (an older brevosync,
		// whose IF NOT EXISTS skipped the leftover, did so).
		recorded bool
	}{
		{"migration pending", false},
		{"migration recorded", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			pool := schematest.Pool(t, schematest.NewProductionURL(t))
			interruptBuild(t, pool)
			if tc.recorded {
				if _, err := pool.Exec(ctx, `INSERT INTO `+schema.VersionTable+` (version_id, is_applied) VALUES (5, true)`); err != nil {
					t.Fatal(err)
				}
			}

			migrate(t, pool)
			if valid, ok := indexValid(t, pool, emailKeyIndex); !ok || !valid {
				t.Fatalf("after Migrate, %s exists %v, valid %v; want it rebuilt", emailKeyIndex, ok, valid)
			}
			// The same definition as on a database migrated in one go.
			if got, want := indexDef(t, pool, emailKeyIndex), indexDef(t, schematest.NewPool(t), emailKeyIndex); got != want {
				t.Errorf("rebuilt index:\n %s\nwant, as a fresh migrate builds it:\n %s", got, want)
			}
			var recorded int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+schema.VersionTable+` WHERE version_id = 5`).Scan(&recorded); err != nil {
				t.Fatal(err)
			}
			if recorded != 1 {
				t.Errorf("migration 5 recorded %d times, want once", recorded)
			}
		})
	}
}

// indexDef is the definition of index name.
func indexDef(t *testing.T, pool *pgxpool.Pool, name string) string {
	t.Helper()
	var def string
	if err := pool.QueryRow(t.Context(), `SELECT pg_get_indexdef(to_regclass($1))`, name).Scan(&def); err != nil {
		t.Fatal(err)
	}
	return def
}
