package schema_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/sql/schematest"
)

// apiRoles are Supabase's roles that production.sql's default privileges
// open every new object to.
var apiRoles = []string{"anon", "authenticated"}

// asRole runs f in a transaction as role (SET LOCAL ROLE), rolled back.
func asRole(ctx context.Context, pool *pgxpool.Pool, role string, f func(tx pgx.Tx) error) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+pgx.Identifier{role}.Sanitize()); err != nil {
		return err
	}
	return f(tx)
}

// contactsACL is the application's grants on contacts and its columns.
func contactsACL(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var acl string
	err := pool.QueryRow(t.Context(), `SELECT coalesce(relacl::text, '') || ' ' ||
		coalesce((SELECT string_agg(attname || '=' || attacl::text, ',' ORDER BY attnum)
		          FROM pg_attribute WHERE attrelid = c.oid AND attacl IS NOT NULL), '')
		FROM pg_class c WHERE oid = 'contacts'::regclass`).Scan(&acl)
	if err != nil {
		t.Fatal(err)
	}
	return acl
}

func TestMigrateClosesItsObjectsOnProduction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := schematest.Pool(t, schematest.NewProductionURL(t))

	// The fixture is what production looks like: the API roles can reach
	// contacts, and will get ALL on whatever migrate creates.
	before := contactsACL(t, pool)
	for _, role := range apiRoles {
		if !strings.Contains(before, role+"=arwdDxt") {
			t.Fatalf("fixture: contacts ACL %s does not grant ALL to %s", before, role)
		}
	}

	if applied := migrate(t, pool); len(applied) == 0 {
		t.Fatal("first Migrate applied nothing")
	}
	if applied := migrate(t, pool); len(applied) != 0 {
		t.Fatalf("second Migrate applied %v, want nothing", applied)
	}

	tables := []string{"brevosync_webhook_events", "brevosync_nodes", schema.VersionTable}
	sequences := []string{"brevosync_webhook_events_id_seq", schema.VersionTable + "_id_seq"}
	for _, role := range apiRoles {
		for _, tbl := range tables {
			for _, priv := range []string{"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"} {
				if hasPrivilege(t, pool, "has_table_privilege", role, tbl, priv) {
					t.Errorf("%s has %s on %s after migrate", role, priv, tbl)
				}
			}
		}
		for _, seq := range sequences {
			for _, priv := range []string{"USAGE", "SELECT", "UPDATE"} {
				if hasPrivilege(t, pool, "has_sequence_privilege", role, seq, priv) {
					t.Errorf("%s has %s on sequence %s after migrate", role, priv, seq)
				}
			}
		}
		if hasPrivilege(t, pool, "has_function_privilege", role, "brevosync_request()", "EXECUTE") {
			t.Errorf("%s may execute brevosync_request() after migrate", role)
		}
		// And for real: a read and a write under SET ROLE are refused.
		for _, tbl := range tables {
			err := asRole(ctx, pool, role, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, "SELECT * FROM "+tbl+" LIMIT 1")
				return err
			})
			if !isInsufficientPrivilege(err) {
				t.Errorf("SELECT from %s as %s: %v, want insufficient_privilege (42501)", tbl, role, err)
			}
		}
		err := asRole(ctx, pool, role, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO brevosync_nodes (id, hostname) VALUES (gen_random_uuid(), 'intruder')`)
			return err
		})
		if !isInsufficientPrivilege(err) {
			t.Errorf("INSERT into brevosync_nodes as %s: %v, want insufficient_privilege (42501)", role, err)
		}
	}

	// Nothing of brevosync's is left open to anyone but its owner, PUBLIC
	// included, and its tables have row-level security.
	var open []string
	err := pool.QueryRow(ctx, `SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM (
		SELECT c.relname::text AS name FROM pg_class c, aclexplode(c.relacl) a
		WHERE c.relname LIKE 'brevosync\_%' AND a.grantee <> c.relowner
		UNION
		SELECT p.proname::text FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
		WHERE p.proname LIKE 'brevosync\_%' AND a.grantee <> p.proowner) o`).Scan(&open)
	if err != nil {
		t.Fatal(err)
	}
	if len(open) > 0 {
		t.Errorf("open to PUBLIC or other roles after migrate: %v", open)
	}
	var noRLS []string
	err = pool.QueryRow(ctx, `SELECT coalesce(array_agg(relname::text ORDER BY relname), '{}') FROM pg_class
		WHERE relname LIKE 'brevosync\_%' AND relkind = 'r' AND NOT relrowsecurity`).Scan(&noRLS)
	if err != nil {
		t.Fatal(err)
	}
	if len(noRLS) > 0 {
		t.Errorf("tables without row-level security after migrate: %v", noRLS)
	}

	// The application's grants on contacts are untouched, and its roles'
	// writes still make requests: the trigger fires for them although they
	// may not execute its function.
	if after := contactsACL(t, pool); after != before {
		t.Errorf("contacts ACL changed by migrate:\n before %s\n after  %s", before, after)
	}
	for i, role := range apiRoles {
		id := []string{"c0000000-0000-0000-0000-000000000002", "c0000000-0000-0000-0000-000000000010"}[i]
		var requested *time.Time
		var retries int
		err := asRole(ctx, pool, role, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `UPDATE contacts SET brevo_sync_status = 'Selected', brevo_processing_status = 'Queued'
				WHERE id = $1 RETURNING brevo_requested_at, brevo_retry_count`, id).Scan(&requested, &retries)
		})
		if err != nil {
			t.Fatalf("select contact %s as %s: %v", id, role, err)
		}
		if requested == nil || retries != 0 {
			t.Errorf("select as %s: brevo_requested_at %v, retry count %d; want set and 0 (the request trigger ran)",
				role, requested, retries)
		}
	}
}

// hasPrivilege calls one of Postgres's has_*_privilege functions.
func hasPrivilege(t *testing.T, pool *pgxpool.Pool, fn, role, object, priv string) bool {
	t.Helper()
	var ok bool
	if err := pool.QueryRow(t.Context(), "SELECT "+fn+"($1, $2, $3)", role, object, priv).Scan(&ok); err != nil {
		t.Fatalf("%s(%s, %s, %s): %v", fn, role, object, priv, err)
	}
	return ok
}

func isInsufficientPrivilege(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42501"
}

func TestMigrateClosesItsObjectsOnFreshDatabase(t *testing.T) {
	t.Parallel()
	pool := schematest.Pool(t, schematest.NewEmptyURL(t))
	migrate(t, pool)
	// No API roles here, but PUBLIC may execute every new function.
	var public bool
	err := pool.QueryRow(t.Context(), `SELECT has_function_privilege('public', 'brevosync_request()', 'EXECUTE')`).Scan(&public)
	if err != nil {
		t.Fatal(err)
	}
	if public {
		t.Error("PUBLIC may execute brevosync_request() after migrate")
	}
}

// An object of brevosync's that the migrating role does not own cannot be
// closed: Migrate says so instead of leaving it open.
func TestMigrateFailsOnAnObjectItCannotClose(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := schematest.NewProductionURL(t)
	pool := schematest.Pool(t, dsn)
	migrate(t, pool)

	su := schematest.Pool(t, schematest.SuperuserURL(t, dsn))
	if _, err := su.Exec(ctx, `CREATE TABLE brevosync_rogue (id int); GRANT SELECT ON brevosync_rogue TO anon`); err != nil {
		t.Fatal(err)
	}
	_, err := schema.Migrate(ctx, pool, nil)
	if err == nil || !strings.Contains(err.Error(), "brevosync_rogue") {
		t.Fatalf("Migrate with a table it does not own = %v, want an error naming brevosync_rogue", err)
	}
	if !hasPrivilege(t, pool, "has_table_privilege", "anon", "brevosync_rogue", "SELECT") {
		t.Fatal("the rogue table was closed after all; the test proves nothing")
	}
	if _, err := su.Exec(ctx, `DROP TABLE brevosync_rogue`); err != nil {
		t.Fatal(err)
	}
}

// TestMirrorTriggersWorkForTheApplicationsRoles: after migrate has closed
// brevosync's objects, the application's roles still change, unselect and
// delete synced contacts, and the mirror's triggers (which read brevosync's
// settings and record removals, as their owner) still do their work.
func TestMirrorTriggersWorkForTheApplicationsRoles(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := schematest.Pool(t, schematest.NewProductionURL(t))
	migrate(t, pool)
	var ids []string
	err := pool.QueryRow(ctx, `WITH s AS (
		UPDATE contacts SET brevo_sync_status = 'Complete', brevo_processing_status = 'Complete', brevo_synced_at = now()
		WHERE id IN (SELECT id FROM contacts ORDER BY id LIMIT 3) RETURNING id)
		SELECT array_agg(id::text ORDER BY id) FROM s`).Scan(&ids)
	if err != nil || len(ids) != 3 {
		t.Fatalf("sync three contacts: %v %v", ids, err)
	}
	for _, step := range []struct {
		sql, want string
	}{
		{`UPDATE contacts SET name = 'Renamed' WHERE id = $1 RETURNING brevo_sync_status || '/' || brevo_processing_status`, "Complete/Queued"},
		{`UPDATE contacts SET brevo_sync_status = 'New', brevo_processing_status = NULL WHERE id = $1
			RETURNING brevo_sync_status || '/' || brevo_processing_status`, "New/Queued"},
		{`DELETE FROM contacts WHERE id = $1 RETURNING 'deleted'`, "deleted"},
	} {
		id := ids[0]
		ids = ids[1:]
		var got string
		var removals int
		err := asRole(ctx, pool, "authenticated", func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, step.sql, id).Scan(&got); err != nil {
				return err
			}
			// Counted as the owner, in the role's transaction (rolled back).
			if _, err := tx.Exec(ctx, "RESET ROLE"); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT count(*) FROM brevosync_removals`).Scan(&removals)
		})
		if err != nil || got != step.want {
			t.Errorf("as authenticated, %s: %q, %v; want %q", step.sql, got, err, step.want)
		}
		if want := map[bool]int{true: 1, false: 0}[step.want == "deleted"]; removals != want {
			t.Errorf("after %s: %d removals recorded, want %d", step.want, removals, want)
		}
	}
}
