package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	schema "github.com/brevosync/brevosync/sql"
)

// mirrorCostResult is what the mirror's trigger adds to the application's
// UPDATE of a synced contact.
type mirrorCostResult struct {
	Column       string  `json:"column"`
	Mapped       bool    `json:"mapped"`
	Samples      int     `json:"samples"`
	WithoutMs    float64 `json:"without_trigger_ms"`
	WithMs       float64 `json:"with_trigger_ms"`
	AddedPercent float64 `json:"added_percent"`
}

// mirrorCost times a one-row UPDATE of a synced (Complete) contact: of a
// column the mapping does not send (the trigger is not even considered:
// UPDATE OF), and of a mapped one (the contact becomes Update pending and a
// notification is queued), each against a twin table without triggers,
// interleaved statement by statement, with a session LISTENing.
func (b *bench) mirrorCost(ctx context.Context) ([]mirrorCostResult, error) {
	dsn, err := b.srv.newDatabase(ctx, "mirror")
	if err != nil {
		return nil, err
	}
	const n, rounds = 400, 6
	setup, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer setup.Close(ctx)
	for _, q := range []string{
		`CREATE TABLE contacts_plain (LIKE contacts INCLUDING ALL)`,
		`INSERT INTO contacts (email, name, ` + "brevo_sync_status, brevo_processing_status" + `)
			SELECT 'm' || i || '@bench.brevosync.test', 'Bench ' || i, ` + schema.Literal(schema.Complete.Sync) + `, ` +
			schema.Literal(schema.Complete.Proc) + ` FROM generate_series(1, ` + strconv.Itoa(n) + `) AS i`,
		`INSERT INTO contacts_plain SELECT * FROM contacts`,
		`VACUUM ANALYZE contacts`,
		`VACUUM ANALYZE contacts_plain`,
		`LISTEN brevosync`,
	} {
		if _, err := setup.Exec(ctx, q); err != nil {
			return nil, err
		}
	}
	conns := map[string]*pgx.Conn{}
	for _, table := range []string{"contacts", "contacts_plain"} {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return nil, err
		}
		defer c.Close(ctx)
		conns[table] = c
	}
	rows, err := setup.Query(ctx, `SELECT id::text FROM contacts ORDER BY email`)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	drain := func() {
		for {
			wctx, cancel := context.WithTimeout(ctx, time.Millisecond)
			_, err := setup.WaitForNotification(wctx)
			cancel()
			if err != nil {
				return
			}
		}
	}
	var out []mirrorCostResult
	for _, col := range []struct {
		name, set string
		mapped    bool
	}{
		{"updated_at (unmapped)", "updated_at = now()", false},
		{"name (mapped)", "name = 'Changed ' || md5(random()::text)", true},
	} {
		times := map[string][]time.Duration{}
		for round := range rounds {
			// Synced again, so that every UPDATE finds a Complete row.
			for _, t := range []string{"contacts", "contacts_plain"} {
				if _, err := setup.Exec(ctx, `UPDATE `+t+` SET `+schema.Complete.Set()); err != nil {
					return nil, err
				}
			}
			drain()
			for i, id := range ids {
				for k, t := range []string{"contacts", "contacts_plain"} {
					t = []string{"contacts", "contacts_plain"}[(k+i+round)%2]
					t0 := time.Now()
					if _, err := conns[t].Exec(ctx, `UPDATE `+t+` SET `+col.set+` WHERE id = $1`, id); err != nil {
						return nil, err
					}
					times[t] = append(times[t], time.Since(t0))
				}
			}
		}
		without, with := median(times["contacts_plain"]), median(times["contacts"])
		out = append(out, mirrorCostResult{Column: col.name, Mapped: col.mapped, Samples: len(times["contacts"]),
			WithoutMs: ms(without), WithMs: ms(with), AddedPercent: 100 * (float64(with) - float64(without)) / float64(without)})
	}
	return out, nil
}

// printMirror prints the section.
func printMirror(row func(...string), rs []mirrorCostResult) {
	if len(rs) == 0 {
		return
	}
	row("\nMIRROR COST", "UPDATE of one synced contact", "no trigger (ms)", "trigger (ms)", "added", "target")
	for _, r := range rs {
		target := ""
		if !r.Mapped {
			target = fmt.Sprintf("within 2%%: %s", okMissed(r.AddedPercent <= 2))
		}
		row("", fmt.Sprintf("%s (median of %d)", r.Column, r.Samples), f3(r.WithoutMs), f3(r.WithMs),
			fmt.Sprintf("%+.1f%%", r.AddedPercent), target)
	}
}
