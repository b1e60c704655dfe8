package schematest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/peterldowns/pgtestdb"
)

// apiRoles are Supabase's API roles, which hold ALL on the application's
// tables and get ALL on every new object through default privileges.
var apiRoles = []string{"anon", "authenticated"}

// ProductionFixture is the path of testdata/production.sql: the
// application's real database before brevosync (contract §2, "The
// application's real database"), with a few rows in each state the
// application and its old scheduler leave.
func ProductionFixture() string {
	return filepath.Join(schemaDir(), "testdata", "production.sql")
}

// NewProductionURL creates a database for this test shaped like the
// application's production database (the [ProductionFixture] loaded, nothing
// of brevosync's: Migrate has not run), dropped when the test passes, and
// returns its connection string. Databases are cloned from a template
// loaded once, as with [NewURL].
//
// Roles. The connection string is pgtestdb's role
// ([pgtestdb.DefaultRoleUsername], NOSUPERUSER NOCREATEDB NOCREATEROLE),
// which owns the database, loaded the fixture (so it owns contacts and the
// default privileges are its own) and is the role tests run Migrate as: on
// Supabase the application's tables and brevosync's belong to one role,
// postgres, which also runs migrate. The API roles anon and authenticated (NOLOGIN)
// are cluster-wide, so the superuser of TEST_DATABASE_URL creates them, once
// per process and safely when several test processes do so at once, and
// makes pgtestdb's role a member of both, so that a test on the returned
// connection can SET ROLE anon or authenticated to act as the application's
// API does (as Supabase's postgres can).
func NewProductionURL(t testing.TB) string {
	t.Helper()
	u := pgtestdb.Custom(t, Config(t), productionMigrator{}).URL()
	if err := ensureAPIRoles(); err != nil {
		t.Fatalf("create the API roles: %v", err)
	}
	return u
}

// ensureAPIRoles creates the API roles and grants them to pgtestdb's role,
// once per process.
var ensureAPIRoles = sync.OnceValue(func() error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		return fmt.Errorf("connect to the test server as its superuser: %w", err)
	}
	defer conn.Close(ctx)
	// The advisory lock serializes our own processes; the exception
	// handlers cover anyone else creating the same roles concurrently
	// (CREATE ROLE then fails with unique_violation, not duplicate_object).
	var b strings.Builder
	b.WriteString("DO $$\nBEGIN\n    PERFORM pg_advisory_xact_lock(hashtext('brevosync schematest API roles'));\n")
	member := pgx.Identifier{pgtestdb.DefaultRoleUsername}.Sanitize()
	for _, r := range apiRoles {
		role := pgx.Identifier{r}.Sanitize()
		for _, stmt := range []string{"CREATE ROLE " + role + " NOLOGIN", "GRANT " + role + " TO " + member} {
			fmt.Fprintf(&b, "    BEGIN\n        %s;\n    EXCEPTION WHEN duplicate_object OR unique_violation THEN\n"+
				"        NULL;\n    END;\n", stmt)
		}
	}
	b.WriteString("END\n$$")
	_, err = conn.Exec(ctx, b.String())
	if err != nil {
		return fmt.Errorf("create roles %v: %w", apiRoles, err)
	}
	return nil
})

// productionMigrator loads the production fixture into pgtestdb's template.
type productionMigrator struct{}

func (productionMigrator) Hash() (string, error) {
	b, err := os.ReadFile(ProductionFixture())
	if err != nil {
		return "", fmt.Errorf("read the production fixture: %w", err)
	}
	h := sha256.Sum256(append([]byte("production\x00"), b...))
	return hex.EncodeToString(h[:])[:16], nil
}

func (productionMigrator) Migrate(ctx context.Context, _ *sql.DB, conf pgtestdb.Config) error {
	if err := ensureAPIRoles(); err != nil {
		return err
	}
	b, err := os.ReadFile(ProductionFixture())
	if err != nil {
		return fmt.Errorf("read the production fixture: %w", err)
	}
	conn, err := pgx.Connect(ctx, conf.URL())
	if err != nil {
		return fmt.Errorf("connect to the template: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, string(b)); err != nil {
		return fmt.Errorf("load %s: %w", ProductionFixture(), err)
	}
	return nil
}
