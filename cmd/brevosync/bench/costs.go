package bench

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brevosync/brevosync/cmd/brevosync/service"
	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo"
)

type writeCostResult struct {
	Rows         int     `json:"rows"`
	Samples      int     `json:"samples"`
	WithoutMs    float64 `json:"without_trigger_ms"`
	NoNotifyMs   float64 `json:"trigger_without_notify_ms"`
	WithMs       float64 `json:"with_trigger_ms"`
	AddedPercent float64 `json:"added_percent"`
}

// writeCost times the application's selecting UPDATE on contacts without
// the request trigger (a twin table with the same columns and indexes), with
// it but NOTIFY skipped (brevosync.skip_notify), and with it as in
// production, one connection per variant, interleaved statement by statement
// so that drift on the machine hits all three alike, with another session
// LISTENing as the service's would be.
func (b *bench) writeCost(ctx context.Context) ([]writeCostResult, error) {
	dsn, err := b.srv.newDatabase(ctx, "writecost")
	if err != nil {
		return nil, err
	}
	const bulk, single, rounds = 10000, 200, 6
	type variant struct {
		name, table string
		conn        *pgx.Conn
		ids         []string
	}
	setup, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer setup.Close(ctx)
	for _, q := range []string{
		`CREATE TABLE contacts_plain (LIKE contacts INCLUDING ALL)`, // no triggers
		`INSERT INTO contacts (email, name) SELECT 'w' || i || '@bench.brevosync.test', 'Bench ' || i
			FROM generate_series(1, ` + strconv.Itoa(2*bulk) + `) AS i`,
		`INSERT INTO contacts_plain SELECT * FROM contacts WHERE email LIKE 'w%' ORDER BY email LIMIT ` + strconv.Itoa(bulk),
		`VACUUM ANALYZE contacts`,
		`VACUUM ANALYZE contacts_plain`,
		`LISTEN brevosync`,
	} {
		if _, err := setup.Exec(ctx, q); err != nil {
			return nil, err
		}
	}
	variants := []*variant{{name: "plain", table: "contacts_plain"}, {name: "nonotify", table: "contacts"}, {name: "full", table: "contacts"}}
	for _, v := range variants {
		if v.conn, err = pgx.Connect(ctx, dsn); err != nil {
			return nil, err
		}
		defer v.conn.Close(ctx)
		if v.name == "nonotify" {
			if _, err := v.conn.Exec(ctx, "SET brevosync.skip_notify = 'on'"); err != nil {
				return nil, err
			}
		}
		// Each variant updates its own rows: the two on contacts, disjoint halves.
		offset := 0
		if v.name == "full" {
			offset = bulk
		}
		rows, err := v.conn.Query(ctx, `SELECT id::text FROM `+v.table+` ORDER BY email OFFSET $1 LIMIT $2`, offset, bulk)
		if err != nil {
			return nil, err
		}
		if v.ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return nil, err
		}
	}
	sel := `SET ` + schema.RequestSet
	reset := func() error {
		for _, t := range []string{"contacts", "contacts_plain"} {
			if _, err := setup.Exec(ctx, `UPDATE `+t+` SET `+schema.New.Set()); err != nil {
				return err
			}
		}
		for { // read what the listening session received, as the service would
			wctx, cancel := context.WithTimeout(ctx, time.Millisecond)
			_, err := setup.WaitForNotification(wctx)
			cancel()
			if err != nil {
				return nil
			}
		}
	}
	singleTimes := map[string][]time.Duration{}
	bulkTimes := map[string][]time.Duration{}
	for round := range rounds {
		if err := reset(); err != nil {
			return nil, err
		}
		for i := range single {
			for k := range variants {
				v := variants[(k+i+round)%len(variants)] // rotate who goes first
				t0 := time.Now()
				if _, err := v.conn.Exec(ctx, `UPDATE `+v.table+` `+sel+` WHERE id = $1`, v.ids[i]); err != nil {
					return nil, err
				}
				singleTimes[v.name] = append(singleTimes[v.name], time.Since(t0))
			}
		}
		for k := range variants {
			if err := reset(); err != nil {
				return nil, err
			}
			v := variants[(k+round)%len(variants)]
			t0 := time.Now()
			if _, err := v.conn.Exec(ctx, `UPDATE `+v.table+` `+sel+` WHERE id = ANY($1::uuid[])`, v.ids); err != nil {
				return nil, err
			}
			bulkTimes[v.name] = append(bulkTimes[v.name], time.Since(t0))
		}
	}
	result := func(rows int, m map[string][]time.Duration) writeCostResult {
		without, with := median(m["plain"]), median(m["full"])
		return writeCostResult{Rows: rows, Samples: len(m["full"]), WithoutMs: ms(without),
			NoNotifyMs: ms(median(m["nonotify"])), WithMs: ms(with),
			AddedPercent: 100 * (float64(with) - float64(without)) / float64(without)}
	}
	return []writeCostResult{result(1, singleTimes), result(bulk, bulkTimes)}, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

type sweepResult struct {
	Rows         int           `json:"rows"`
	WorkRows     int           `json:"work_rows"`
	FirstSweepMs float64       `json:"first_sweep_ms"`
	SweepMs      float64       `json:"sweep_ms"`
	Plans        []syncer.Plan `json:"plans"`
}

// sweep builds a large contacts table with 1% in work states and times a
// sweep pass and the hot statements on it.
func (b *bench) sweep(ctx context.Context) (*sweepResult, error) {
	dsn, err := b.srv.newDatabase(ctx, "sweep")
	if err != nil {
		return nil, err
	}
	// The service's syncer connections carry these settings; measure with them.
	pool, err := service.OpenPool(ctx, "DATABASE_URL", dsn, service.PoolOptions{AppName: "brevosync-bench", Params: syncer.SessionSettings})
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	n := b.opts.Rows
	b.progress("sweep: building a %d-row contacts table", n)
	// Every 100th row is in a work state, in turn: waiting, a scheduled
	// retry (half due), a claim in flight (one in ten expired), released.
	lit := schema.Literal
	_, err = pool.Exec(ctx, `
		INSERT INTO contacts (email, name, brevo_sync_status, brevo_processing_status, brevo_synced_at,
			brevo_retry_count, brevo_next_retry_at, brevo_lease_until, brevo_claim_token)
		SELECT 's' || i || '@bench.brevosync.test', 'Sweep ' || i,
			CASE WHEN i % 100 <> 0 THEN `+lit(schema.Complete.Sync)+`
			     WHEN (i / 100) % 4 = 0 THEN `+lit(schema.Waiting.Sync)+`
			     WHEN (i / 100) % 4 = 1 THEN `+lit(schema.RetryScheduled.Sync)+`
			     WHEN (i / 100) % 4 = 2 THEN `+lit(schema.Processing.Sync)+`
			     ELSE `+lit(schema.Queued.Sync)+` END::crm_sync_status,
			CASE WHEN i % 100 <> 0 THEN `+lit(schema.Complete.Proc)+`
			     WHEN (i / 100) % 4 = 0 THEN `+lit(schema.Waiting.Proc)+`
			     WHEN (i / 100) % 4 = 1 THEN `+lit(schema.RetryScheduled.Proc)+`
			     WHEN (i / 100) % 4 = 2 THEN `+lit(schema.Processing.Proc)+`
			     ELSE `+lit(schema.Queued.Proc)+` END::crm_processing_status,
			CASE WHEN i % 100 <> 0 THEN now() END,
			CASE WHEN i % 100 = 0 AND (i / 100) % 4 = 1 THEN 1 ELSE 0 END,
			CASE WHEN i % 100 = 0 AND (i / 100) % 4 = 1
			     THEN now() + CASE WHEN (i / 100) % 8 = 1 THEN interval '-1 minute' ELSE interval '1 hour' END END,
			CASE WHEN i % 100 = 0 AND (i / 100) % 4 = 2
			     THEN now() + CASE WHEN (i / 100) % 40 = 2 THEN interval '-1 minute' ELSE interval '1 hour' END END,
			CASE WHEN i % 100 = 0 AND (i / 100) % 4 = 2 THEN gen_random_uuid() END
		FROM generate_series(1, $1) AS i`, n)
	if err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE contacts"); err != nil {
		return nil, err
	}
	r := &sweepResult{Rows: n, WorkRows: n / 100}

	client := brevo.NewClient(brevo.Config{BaseURL: "http://127.0.0.1:1/v3", APIKey: benchKey})
	s, err := syncer.New(pool, brevo.NewCRM(client, nil), syncer.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	var times []time.Duration
	for i := range 6 {
		rep, err := s.Sweep(ctx)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			r.FirstSweepMs = ms(rep.Duration)
			continue
		}
		times = append(times, rep.Duration)
	}
	r.SweepMs = ms(median(times))
	r.Plans, err = syncer.Explain(ctx, pool, 100)
	return r, err
}
