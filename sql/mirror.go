package schema

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// mirrorFunctions are the trigger functions that read BREVO_SYNC_MIRROR
// (part 9). The setting is a constant in their bodies, so a trigger looks
// nothing up per row.
var mirrorFunctions = []string{"brevosync_request", "brevosync_mirror_change", "brevosync_mirror_delete"}

const (
	mirrorOn  = "mirror CONSTANT boolean := true;"
	mirrorOff = "mirror CONSTANT boolean := false;"
)

// SetMirror turns the mirror's triggers on or off (BREVO_SYNC_MIRROR): it
// rewrites the constant in each function that differs, in one transaction.
// It takes no lock on contacts: CREATE OR REPLACE FUNCTION keeps the
// functions' owner, grants and SECURITY DEFINER, and sessions pick up the
// new body at their next call. It must run as the functions' owner, the role
// that migrated.
func SetMirror(ctx context.Context, db *pgxpool.Pool, on bool) error {
	from, to := mirrorOn, mirrorOff
	if on {
		from, to = mirrorOff, mirrorOn
	}
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		for _, fn := range mirrorFunctions {
			var def *string
			if err := tx.QueryRow(ctx, `SELECT pg_get_functiondef(to_regproc($1))`, fn).Scan(&def); err != nil {
				return fmt.Errorf("read %s: %w", fn, err)
			}
			switch {
			case def == nil || !strings.Contains(*def, from) && !strings.Contains(*def, to):
				return fmt.Errorf("%s has no mirror constant (is the schema migrated?)", fn)
			case !strings.Contains(*def, from):
				continue
			}
			if _, err := tx.Exec(ctx, strings.Replace(*def, from, to, 1)); err != nil {
				return fmt.Errorf("rewrite %s: %w", fn, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set the mirror: %w", err)
	}
	return nil
}
