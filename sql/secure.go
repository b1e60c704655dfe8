package schema

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ownObjectsSQL lists brevosync's own objects in the current schema: every
// table, view, sequence and function whose name starts with brevosync_
// (goose's version table and its sequence, brevosync_nodes,
// brevosync_webhook_events and its identity sequence, the request trigger's
// function, and whatever later migrations add under that prefix), each with
// the roles other than its owner that hold any privilege on it or on one of
// its columns (PUBLIC included; a function with no ACL has PUBLIC's default
// EXECUTE), and whether it is a table without row-level security.
const ownObjectsSQL = `
WITH objs AS (
    SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind,
           c.oid::regclass::text AS name,
           c.relowner AS owner,
           c.relkind IN ('r', 'p') AND NOT c.relrowsecurity AS needs_rls,
           ARRAY(SELECT a.grantee FROM aclexplode(c.relacl) a
                 UNION
                 SELECT a.grantee FROM pg_attribute att, aclexplode(att.attacl) a
                 WHERE att.attrelid = c.oid AND att.attacl IS NOT NULL) AS grantees
    FROM pg_class c
    WHERE c.relnamespace = to_regnamespace(current_schema())
      AND c.relname LIKE 'brevosync\_%'
      AND c.relkind IN ('r', 'p', 'S', 'v', 'm', 'f')
    UNION ALL
    SELECT 'ROUTINE', p.oid::regprocedure::text, p.proowner, false,
           ARRAY(SELECT a.grantee FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a)
    FROM pg_proc p
    WHERE p.pronamespace = to_regnamespace(current_schema())
      AND p.proname LIKE 'brevosync\_%'
)
SELECT kind, name, needs_rls,
       ARRAY(SELECT DISTINCT CASE WHEN g = 0 THEN 'PUBLIC' ELSE g::regrole::text END
             FROM unnest(grantees) AS g WHERE g <> owner ORDER BY 1) AS others
FROM objs
ORDER BY kind, name`

// ownObject is one row of ownObjectsSQL.
type ownObject struct {
	Kind     string   // TABLE, SEQUENCE or ROUTINE, as GRANT spells it
	Name     string   // quoted and qualified as needed
	NeedsRLS bool     // a table without row-level security
	Others   []string // roles other than the owner holding privileges; PUBLIC as PUBLIC
}

// open reports whether o is not yet as secure leaves it.
func (o ownObject) open() bool { return o.NeedsRLS || len(o.Others) > 0 }

// secure closes brevosync's own objects to everyone but their owner, which
// is the role brevosync runs as (contract §2, "Privileges"): it revokes
// every privilege PUBLIC and other roles hold on them (on Supabase, default
// privileges give anon and authenticated ALL on every new table, sequence
// and function, and PUBLIC may execute every function), and enables
// row-level security on the tables (with no policy: only the owner, which
// bypasses it, and superusers see rows). The application's objects,
// contacts included, are not touched: the request trigger fires for the
// application's writes whatever EXECUTE privilege they have on its
// function, since Postgres checks that privilege when the trigger is
// created, not when it fires.
//
// It runs after every migrate, so it also covers objects added later. It is
// idempotent and, when nothing is open, issues no statement at all (so it
// takes no lock). It runs in one transaction with the migrate lock timeout;
// a REVOKE that could not revoke (the migrating role does not own the
// object) is an error, not a silent gap.
func secure(ctx context.Context, conn *pgx.Conn, logger *slog.Logger) error {
	objs, err := ownObjects(ctx, conn)
	if err != nil {
		return err
	}
	var todo []ownObject
	for _, o := range objs {
		if o.open() {
			todo = append(todo, o)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, setLockTimeout(LockTimeout)); err != nil {
			return fmt.Errorf("set lock timeout: %w", err)
		}
		for _, o := range todo {
			if len(o.Others) > 0 {
				q := fmt.Sprintf("REVOKE ALL ON %s %s FROM %s CASCADE", o.Kind, o.Name, strings.Join(o.Others, ", "))
				if _, err := tx.Exec(ctx, q); err != nil {
					return fmt.Errorf("revoke privileges on %s from %s: %w", o.Name, strings.Join(o.Others, ", "), err)
				}
			}
			if o.NeedsRLS {
				if _, err := tx.Exec(ctx, "ALTER TABLE "+o.Name+" ENABLE ROW LEVEL SECURITY"); err != nil {
					return fmt.Errorf("enable row-level security on %s: %w", o.Name, err)
				}
			}
		}
		after, err := ownObjects(ctx, tx)
		if err != nil {
			return err
		}
		for _, o := range after {
			if o.open() {
				var user string
				_ = tx.QueryRow(ctx, "SELECT current_user").Scan(&user)
				return fmt.Errorf("%s %s is still open to %s after REVOKE: only its owner can close it, "+
					"and migrate runs as %s", strings.ToLower(o.Kind), o.Name, strings.Join(o.Others, ", "), user)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("close brevosync's objects to other roles: %w", err)
	}
	for _, o := range todo {
		logger.InfoContext(ctx, "migrate: closed one of brevosync's objects to other roles",
			slog.String("object", strings.ToLower(o.Kind)+" "+o.Name),
			slog.Any("revoked_from", o.Others), slog.Bool("enabled_rls", o.NeedsRLS))
	}
	return nil
}

// querier is a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// ownObjects runs ownObjectsSQL.
func ownObjects(ctx context.Context, q querier) ([]ownObject, error) {
	rows, err := q.Query(ctx, ownObjectsSQL)
	if err != nil {
		return nil, fmt.Errorf("list brevosync's objects: %w", err)
	}
	objs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ownObject])
	if err != nil {
		return nil, fmt.Errorf("list brevosync's objects: %w", err)
	}
	return objs, nil
}
