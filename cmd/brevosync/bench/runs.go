package bench

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brevosync/brevosync/cmd/brevosync/service"
	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

const benchKey = "bench-key"

type latencyResult struct {
	CommitToRequest  Percentiles `json:"commit_to_request"`
	CommitToComplete Percentiles `json:"commit_to_complete"`
	NotifyDelivery   Percentiles `json:"notify_delivery"`
	ClaimMeanMs      float64     `json:"claim_mean_ms"`
	RequestMeanMs    float64     `json:"brevo_request_mean_ms"`
	FinalizeMeanMs   float64     `json:"finalize_mean_ms"`
}

// serviceVars is the environment of a measured service.
func (b *bench) serviceVars(dsn, simURL string, extra ...string) map[string]string {
	v := map[string]string{
		"DATABASE_URL":              dsn,
		"BREVO_API_KEY":             benchKey,
		"BREVO_API_BASE_URL":        simURL,
		"BREVO_SYNC_CONCURRENCY":    strconv.Itoa(b.opts.Concurrency),
		"BREVO_SYNC_RATE_LIMIT":     "0",
		"BREVO_SYNC_SWEEP_INTERVAL": "5m",
		"LOG_LEVEL":                 "warn",
	}
	if b.opts.Verbose {
		v["LOG_LEVEL"] = "info"
	}
	for i := 0; i+1 < len(extra); i += 2 {
		v[extra[i]] = extra[i+1]
	}
	return v
}

// seed inserts n unselected contacts named prefix<i>@bench.brevosync.test.
func seed(ctx context.Context, pool *pgxpool.Pool, prefix string, n int) error {
	_, err := pool.Exec(ctx, `INSERT INTO contacts (email, name, phone_number, source_url, has_gmail)
		SELECT $1 || i || '@bench.brevosync.test', 'Bench Contact ' || i, '+3361' || lpad(i::text, 7, '0'),
		       'https://example.com/' || i, i % 2 = 0
		FROM generate_series(1, $2) AS i`, prefix, n)
	return err
}

// latency runs the service in this process, so both ends of every
// measurement use one clock: the commit returning to the application, the
// simulator receiving the request, the syncer having written the outcome.
func (b *bench) latency(ctx context.Context) (*latencyResult, error) {
	dsn, err := b.srv.newDatabase(ctx, "latency")
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	const warmup = 20
	n := b.opts.LatencyN
	if err := seed(ctx, pool, "l", n+warmup); err != nil {
		return nil, err
	}
	rows, err := pool.Query(ctx, `SELECT id::text, email FROM contacts ORDER BY email`)
	if err != nil {
		return nil, err
	}
	type contact struct{ id, email string }
	contacts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (contact, error) {
		var c contact
		return c, r.Scan(&c.id, &c.email)
	})
	if err != nil {
		return nil, err
	}

	sim := brevotest.NewServer(brevotest.Config{APIKey: benchKey, NoRequestLog: true})
	defer sim.Close()
	var mu sync.Mutex
	requested := map[string]time.Time{}
	completed := map[string]chan time.Time{}
	for _, c := range contacts {
		completed[c.id] = make(chan time.Time, 1)
	}
	sim.OnUpsert(func(r brevotest.Request) {
		now := time.Now()
		mu.Lock()
		requested[r.Email] = now
		mu.Unlock()
	})

	cfg, err := service.Load(mapGetenv(b.serviceVars(dsn, sim.URL())))
	if err != nil {
		return nil, err
	}
	logger := service.NewLogger(b.stderr, "text", cfg.LogLevel)
	sctx, stop := context.WithCancel(ctx)
	started := make(chan service.Serving, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- service.Run(sctx, cfg, logger, service.Hooks{
			Started: func(s service.Serving) { started <- s },
			OnOutcome: func(o syncer.Outcome) {
				if ch, ok := completed[o.ContactID]; ok && o.Result == syncer.ResultComplete {
					select {
					case ch <- time.Now():
					default:
					}
				}
			},
		})
	}()
	defer func() { stop(); <-errc }()
	var sv service.Serving
	select {
	case sv = <-started:
	case err := <-errc:
		return nil, err
	}
	if err := sv.WaitListening(ctx); err != nil {
		return nil, err
	}

	var toRequest, toComplete []time.Duration
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i, c := range contacts {
		<-tick.C
		if _, err := pool.Exec(ctx, `UPDATE contacts SET `+schema.RequestSet+`
			WHERE id = $1`, c.id); err != nil {
			return nil, err
		}
		committed := time.Now()
		var done time.Time
		select {
		case done = <-completed[c.id]:
		case <-time.After(10 * time.Second):
			return nil, fmt.Errorf("contact %s not complete after 10s", c.id)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if i < warmup {
			continue
		}
		mu.Lock()
		req := requested[c.email]
		mu.Unlock()
		toRequest = append(toRequest, req.Sub(committed))
		toComplete = append(toComplete, done.Sub(committed))
	}
	r := &latencyResult{CommitToRequest: percentiles(toRequest), CommitToComplete: percentiles(toComplete)}
	means, err := scrapeMeans(ctx, "http://"+sv.Addr.String()+"/metrics")
	if err != nil {
		return nil, err
	}
	r.ClaimMeanMs = means[`brevosync_db_statement_duration_seconds{statement="claim"}`]
	r.FinalizeMeanMs = means[`brevosync_db_statement_duration_seconds{statement="finalize"}`]
	r.RequestMeanMs = means[`brevosync_brevo_request_duration_seconds`]
	r.NotifyDelivery, err = notifyDelivery(ctx, dsn, 200)
	return r, err
}

func mapGetenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// scrapeMeans reads histogram means (sum/count, in milliseconds) from a
// Prometheus text endpoint, keyed by name{labels}.
func scrapeMeans(ctx context.Context, url string) (map[string]float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sums, counts := map[string]float64{}, map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		key, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		name, labels, _ := strings.Cut(key, "{")
		if labels != "" {
			labels = "{" + labels
		}
		if base, ok := strings.CutSuffix(name, "_sum"); ok {
			sums[base+labels] = v
		} else if base, ok := strings.CutSuffix(name, "_count"); ok {
			counts[base+labels] = v
		}
	}
	means := map[string]float64{}
	for k, s := range sums {
		if c := counts[k]; c > 0 {
			means[k] = s / c * 1000
		}
	}
	return means, sc.Err()
}

// notifyDelivery measures NOTIFY alone: commit of pg_notify on one
// connection to its arrival on a listening one.
func notifyDelivery(ctx context.Context, dsn string, n int) (Percentiles, error) {
	lc, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return Percentiles{}, err
	}
	defer lc.Close(ctx)
	sc, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return Percentiles{}, err
	}
	defer sc.Close(ctx)
	if _, err := lc.Exec(ctx, "LISTEN bench_probe"); err != nil {
		return Percentiles{}, err
	}
	var ds []time.Duration
	for range n {
		if _, err := sc.Exec(ctx, "SELECT pg_notify('bench_probe', '')"); err != nil {
			return Percentiles{}, err
		}
		committed := time.Now()
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := lc.WaitForNotification(wctx)
		cancel()
		if err != nil {
			return Percentiles{}, err
		}
		ds = append(ds, time.Since(committed))
	}
	return percentiles(ds), nil
}

type throughputRun struct {
	SimLatencyMs int     `json:"simulator_latency_ms"`
	Concurrency  int     `json:"concurrency"`
	Contacts     int     `json:"contacts"`
	DrainSeconds float64 `json:"drain_seconds"`
	PerSecond    float64 `json:"contacts_per_second"`
	Upserts      int     `json:"brevo_upserts"`
	Target       string  `json:"target"`
}

type memoryResult struct {
	IdleRSSMB float64 `json:"idle_rss_mb"`
	PeakRSSMB float64 `json:"peak_rss_mb"`
}

// throughput selects N contacts in one statement against `brevosync serve`
// in its own process and measures the time until all are Complete.
func (b *bench) throughput(ctx context.Context) ([]throughputRun, *memoryResult, error) {
	var runs []throughputRun
	mem := &memoryResult{}
	for i, lat := range []time.Duration{0, 50 * time.Millisecond} {
		run, rss, peak, err := b.throughputRun(ctx, lat, i == 0)
		if err != nil {
			return nil, nil, err
		}
		if i == 0 {
			mem.IdleRSSMB = rss
		}
		mem.PeakRSSMB = max(mem.PeakRSSMB, peak)
		runs = append(runs, run)
	}
	return runs, mem, nil
}

func (b *bench) throughputRun(ctx context.Context, lat time.Duration, idle bool) (throughputRun, float64, float64, error) {
	n := b.opts.ThroughputN
	run := throughputRun{SimLatencyMs: int(lat.Milliseconds()), Concurrency: b.opts.Concurrency, Contacts: n}
	dsn, err := b.srv.newDatabase(ctx, "throughput")
	if err != nil {
		return run, 0, 0, err
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return run, 0, 0, err
	}
	defer pool.Close()
	if err := seed(ctx, pool, "t", n); err != nil {
		return run, 0, 0, err
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE contacts"); err != nil { // a table at rest, as in production
		return run, 0, 0, err
	}
	sim := brevotest.NewServer(brevotest.Config{APIKey: benchKey, Latency: lat, NoRequestLog: true})
	defer sim.Close()
	c, err := StartChild(ctx, b.opts.Exe, b.serviceVars(dsn, sim.URL()))
	if err != nil {
		return run, 0, 0, err
	}
	defer c.Stop()
	var idleRSS float64
	if idle {
		// Let start-up garbage be collected before reading idle memory.
		time.Sleep(3 * time.Second)
		if idleRSS, _, err = c.Memory(); err != nil {
			return run, 0, 0, err
		}
	}

	if _, err := pool.Exec(ctx, `UPDATE contacts SET `+schema.RequestSet); err != nil {
		return run, 0, 0, err
	}
	committed := time.Now()
	// Wait for Brevo to have every contact (a signal, costing the database
	// nothing), then for the last outcomes to be written.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := sim.WaitUpserts(wctx, n); err != nil {
		return run, 0, 0, fmt.Errorf("waiting for %d upserts: %w", n, err)
	}
	for {
		var done int
		if err := pool.QueryRow(wctx, `SELECT count(*) FROM contacts WHERE `+schema.Complete.Is()).Scan(&done); err != nil {
			return run, 0, 0, err
		}
		if done == n {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	drain := time.Since(committed)
	_, peak, err := c.Memory()
	if err != nil {
		return run, 0, 0, err
	}
	run.DrainSeconds = drain.Seconds()
	run.PerSecond = float64(n) / drain.Seconds()
	run.Upserts = sim.Stats().Upserts
	if lat == 0 {
		run.Target = fmt.Sprintf(">= 8000/s: %s", okMissed(run.PerSecond >= 8000))
	} else {
		ideal := float64(b.opts.Concurrency) / lat.Seconds()
		run.Target = fmt.Sprintf(">= 90%% of %.0f/s: %s (%.0f%%)", ideal, okMissed(run.PerSecond >= 0.9*ideal), 100*run.PerSecond/ideal)
	}
	return run, idleRSS, peak, nil
}

func okMissed(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

type rateLimitRun struct {
	Replicas          int     `json:"replicas"`
	Contacts          int     `json:"contacts"`
	AchievedPerSecond float64 `json:"achieved_per_second"`
	TooManyRequests   int     `json:"too_many_requests"`
}

// rateLimit runs BREVO_SYNC_RATE_LIMIT=10 against a simulator that
// enforces 10/s, with one and with two replicas sharing the budget.
func (b *bench) rateLimit(ctx context.Context) ([]rateLimitRun, error) {
	var runs []rateLimitRun
	for _, replicas := range []int{1, 2} {
		r, err := b.rateLimitRun(ctx, replicas)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return runs, nil
}

func (b *bench) rateLimitRun(ctx context.Context, replicas int) (rateLimitRun, error) {
	n := b.opts.RateN
	run := rateLimitRun{Replicas: replicas, Contacts: n}
	dsn, err := b.srv.newDatabase(ctx, "ratelimit")
	if err != nil {
		return run, err
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return run, err
	}
	defer pool.Close()
	if err := seed(ctx, pool, "r", n); err != nil {
		return run, err
	}
	sim := brevotest.NewServer(brevotest.Config{APIKey: benchKey, RateLimit: 10})
	defer sim.Close()
	vars := b.serviceVars(dsn, sim.URL(), "BREVO_SYNC_RATE_LIMIT", "10", "BREVO_SYNC_CONCURRENCY", "4", "LOG_LEVEL", "info")
	var children []*Child
	defer func() {
		for _, c := range children {
			c.Stop()
		}
	}()
	for range replicas {
		c, err := StartChild(ctx, b.opts.Exe, vars)
		if err != nil {
			return run, err
		}
		children = append(children, c)
	}
	if replicas > 1 {
		// The first replica learns of the second at its next heartbeat.
		if err := children[0].WaitLog(ctx, fmt.Sprintf(`"replicas":%d`, replicas), 15*time.Second); err != nil {
			return run, err
		}
	}
	if _, err := pool.Exec(ctx, `UPDATE contacts SET `+schema.RequestSet); err != nil {
		return run, err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Duration(n)*time.Second/5+30*time.Second)
	defer cancel()
	if err := sim.WaitStats(wctx, func(s brevotest.Stats) bool { return s.Created >= n }); err != nil {
		return run, fmt.Errorf("waiting for %d contacts at 10/s: %w", n, err)
	}
	var ok []time.Time
	for _, r := range sim.Upserts() {
		if r.Status == http.StatusCreated {
			ok = append(ok, r.At)
		}
	}
	slices.SortFunc(ok, func(a, b time.Time) int { return a.Compare(b) })
	run.AchievedPerSecond = float64(len(ok)-1) / ok[len(ok)-1].Sub(ok[0]).Seconds()
	run.TooManyRequests = sim.Stats().RateLimited
	return run, nil
}

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
	pool, err := service.OpenPool(ctx, dsn, "brevosync-bench", syncer.SessionSettings)
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
			     ELSE `+lit(schema.Released.Sync)+` END::crm_sync_status,
			CASE WHEN i % 100 <> 0 THEN `+lit(schema.Complete.Proc)+`
			     WHEN (i / 100) % 4 = 0 THEN `+lit(schema.Waiting.Proc)+`
			     WHEN (i / 100) % 4 = 1 THEN `+lit(schema.RetryScheduled.Proc)+`
			     WHEN (i / 100) % 4 = 2 THEN `+lit(schema.Processing.Proc)+`
			     ELSE `+lit(schema.Released.Proc)+` END::crm_processing_status,
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
