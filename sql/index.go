package schema

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"
)

// concurrentIndexRE finds the indexes a migration builds concurrently, and
// captures the name (quoted or not).
var concurrentIndexRE = regexp.MustCompile(`(?is)\bcreate\s+(?:unique\s+)?index\s+concurrently\s+` +
	`(?:if\s+not\s+exists\s+)?("(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)`)

// concurrentIndexes returns the indexes the *.sql migrations of fsys build
// with CREATE INDEX CONCURRENTLY, by name as the catalog spells it, with the
// version of the migration that builds each.
func concurrentIndexes(fsys fs.FS) (map[string]int64, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	out := map[string]int64{}
	for _, name := range names {
		version, err := goose.NumericComponent(name)
		if err != nil {
			continue // not a migration; goose ignores it too
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		for _, m := range concurrentIndexRE.FindAllStringSubmatch(string(b), -1) {
			id := m[1]
			if strings.HasPrefix(id, `"`) {
				id = strings.ReplaceAll(id[1:len(id)-1], `""`, `"`)
			} else {
				id = strings.ToLower(id)
			}
			out[id] = version
		}
	}
	return out, nil
}

// invalidIndexesSQL lists the INVALID indexes among $1 in the current
// schema, and whether an index build is running in this database (then
// the index may be one being built right now, not a leftover: a build by
// another role shows no index in pg_stat_progress_create_index, so any
// such build counts).
const invalidIndexesSQL = `
SELECT i.indexrelid::regclass::text,
       c.relname::text,
       EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
               WHERE p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
                 AND (p.index_relid IS NULL OR p.index_relid = i.indexrelid))
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
WHERE NOT i.indisvalid
  AND c.relnamespace = to_regnamespace(current_schema())
  AND c.relname = ANY ($1)
ORDER BY 1`

// appliedSQL reports whether migration $1 is recorded as applied.
var appliedSQL = `SELECT to_regclass('` + VersionTable + `') IS NOT NULL
	AND EXISTS (SELECT 1 FROM ` + VersionTable + ` WHERE version_id = $1 AND is_applied)`

// repairInvalidIndexes deals with each index of builds that an interrupted
// CREATE INDEX CONCURRENTLY left INVALID (unusable, yet maintained on every
// write). Otherwise its migration's CREATE INDEX CONCURRENTLY IF NOT EXISTS
// would find it and skip it, and it would stay invalid forever.
//
// When that migration is still pending, the index is dropped with DROP
// INDEX CONCURRENTLY and the migration builds it again. When the migration
// is recorded as applied (an older brevosync skipped the invalid index and
// recorded it), nothing would build it again, so it is rebuilt in place
// with REINDEX INDEX CONCURRENTLY.
//
// The caller holds the migrate lock, so no other migrate is building one
// of them. conn must not be in a transaction: both statements wait for
// older transactions, as the build does, without blocking writers.
func repairInvalidIndexes(ctx context.Context, conn *pgx.Conn, builds map[string]int64, logger *slog.Logger) error {
	if len(builds) == 0 {
		return nil
	}
	type index struct {
		Name     string // as regclass prints it
		RelName  string
		Building bool
	}
	rows, err := conn.Query(ctx, invalidIndexesSQL, slices.Collect(maps.Keys(builds)))
	if err != nil {
		return fmt.Errorf("find invalid indexes: %w", err)
	}
	invalid, err := pgx.CollectRows(rows, pgx.RowToStructByPos[index])
	if err != nil {
		return fmt.Errorf("find invalid indexes: %w", err)
	}
	for _, ix := range invalid {
		if ix.Building {
			logger.InfoContext(ctx, "migrate: leaving an invalid index alone while an index build runs in this database",
				slog.String("index", ix.Name))
			continue
		}
		version := builds[ix.RelName]
		var applied bool
		if err := conn.QueryRow(ctx, appliedSQL, version).Scan(&applied); err != nil {
			return fmt.Errorf("check whether migration %d is applied: %w", version, err)
		}
		if applied {
			if _, err := conn.Exec(ctx, "REINDEX INDEX CONCURRENTLY "+ix.Name); err != nil {
				return fmt.Errorf("rebuild invalid index %s: %w", ix.Name, err)
			}
			logger.WarnContext(ctx, "migrate: rebuilt an invalid index left by an interrupted CREATE INDEX CONCURRENTLY",
				slog.String("index", ix.Name), slog.Int64("version", version))
			continue
		}
		if _, err := conn.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+ix.Name); err != nil {
			return fmt.Errorf("drop invalid index %s: %w", ix.Name, err)
		}
		logger.InfoContext(ctx, "migrate: dropped an invalid index left by an interrupted CREATE INDEX CONCURRENTLY; "+
			"its migration builds it again", slog.String("index", ix.Name), slog.Int64("version", version))
	}
	return nil
}
