package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// The imports section: a large selection through Brevo's import, against
// a simulator that enforces Brevo's limits, beside what the per-contact
// path would take.

// importRate is BREVO_SYNC_RATE_LIMIT and the simulator's per-second limit
// in this section: Brevo's on most plans.
const importRate = 10

type importRun struct {
	Variant  string `json:"variant"` // "poll": no public URL; "notify": notifyUrl calls
	Contacts int    `json:"contacts"`
	// CompleteSeconds: from the selecting commit to every row Complete;
	// IDsSeconds: from then to every row's brevo_contact_id filled.
	CompleteSeconds float64 `json:"complete_seconds"`
	IDsSeconds      float64 `json:"ids_after_complete_seconds"`
	IDsFilled       int     `json:"ids_filled"`
	ImportRequests  int     `json:"import_requests"`
	LargestImport   int     `json:"largest_import_contacts"`
	ProcessRequests int     `json:"process_requests"`
	ListRequests    int     `json:"list_requests"`
	Upserts         int     `json:"upserts"`
	TooManyRequests int     `json:"too_many_requests"`
	// Singles are single-row selections made while the imports run, one a
	// second; SingleMaxMs the longest from commit to Brevo's request. Those
	// made while the per-contact path still sends the backlog contacts it
	// took before the import path claimed the rest (two seconds' worth at
	// the rate limit, taken at once) wait behind them: SingleHeadMaxMs.
	Singles         int     `json:"single_selections"`
	SingleMaxMs     float64 `json:"single_selection_max_ms"`
	SinglesHead     int     `json:"single_selections_behind_the_head"`
	SingleHeadMaxMs float64 `json:"single_selection_behind_the_head_max_ms"`
	// PerContactSeconds is what one upsert a contact takes at the rate
	// limit, Speedup that over CompleteSeconds.
	PerContactSeconds float64 `json:"per_contact_seconds"`
	Speedup           float64 `json:"speedup"`
	Target            string  `json:"target"`
}

func (b *bench) imports(ctx context.Context) ([]importRun, error) {
	var runs []importRun
	for _, v := range []string{"poll", "notify"} {
		r, err := b.importRun(ctx, v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v, err)
		}
		runs = append(runs, r)
	}
	return runs, nil
}

func (b *bench) importRun(ctx context.Context, variant string) (importRun, error) {
	n := b.opts.ImportN
	run := importRun{Variant: variant, Contacts: n, PerContactSeconds: float64(n) / importRate}
	dsn, err := b.srv.newDatabase(ctx, "imports")
	if err != nil {
		return run, err
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return run, err
	}
	defer pool.Close()
	if err := seed(ctx, pool, "i", n); err != nil {
		return run, err
	}
	if _, err := pool.Exec(ctx, `INSERT INTO contacts (email, name)
		SELECT 'probe' || i || '@bench.brevosync.test', 'Probe ' || i FROM generate_series(1, 60) AS i`); err != nil {
		return run, err
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE contacts"); err != nil {
		return run, err
	}
	sim := brevotest.NewServer(brevotest.Config{APIKey: benchKey, RateLimit: importRate, ProcessesPerHour: 100,
		ImportRowsPerSecond: 20_000, NoRequestLog: true})
	defer sim.Close()
	vars := b.serviceVars(dsn, sim.URL(), "BREVO_SYNC_RATE_LIMIT", fmt.Sprint(importRate), "BREVO_LIST_ID", "2")
	if variant == "notify" {
		addr, err := FreeAddr()
		if err != nil {
			return run, err
		}
		vars["HTTP_ADDR"], vars["BREVO_SYNC_PUBLIC_URL"] = addr, "http://"+addr
	}
	c, err := StartChild(ctx, b.opts.Exe, vars)
	if err != nil {
		return run, err
	}
	defer func() {
		c.Stop()
		if b.opts.Verbose {
			fmt.Fprint(b.stderr, c.Stderr.String())
		}
	}()

	probes := newProbes(sim)
	if _, err := pool.Exec(ctx, `UPDATE contacts SET `+schema.RequestSet+` WHERE email NOT LIKE 'probe%'`); err != nil {
		return run, err
	}
	committed := time.Now()
	pctx, stopProbes := context.WithCancel(ctx)
	var probing sync.WaitGroup
	probing.Go(func() { probes.run(pctx, pool, sim) })
	defer func() { stopProbes(); probing.Wait() }()

	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	bulk := ` AND email NOT LIKE 'probe%'`
	if err := waitCount(wctx, pool, schema.Complete.Is()+bulk, n); err != nil {
		return run, fmt.Errorf("waiting for %d contacts Complete: %w", n, err)
	}
	complete := time.Since(committed)
	idsErr := waitCount(wctx, pool, schema.Complete.Is()+` AND brevo_contact_id IS NOT NULL`+bulk, n)
	ids := time.Since(committed) - complete
	stopProbes()
	probing.Wait()
	if idsErr != nil && !errors.Is(idsErr, context.DeadlineExceeded) {
		return run, idsErr
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM contacts WHERE brevo_contact_id IS NOT NULL`+bulk).Scan(&run.IDsFilled); err != nil {
		return run, err
	}

	st := sim.Stats()
	run.CompleteSeconds, run.IDsSeconds = complete.Seconds(), ids.Seconds()
	run.ImportRequests, run.ProcessRequests = st.ByRoute["POST /v3/contacts/import"], st.ProcessRequests
	run.ListRequests, run.Upserts, run.TooManyRequests = st.ByRoute["GET /v3/contacts"], st.Upserts, st.RateLimited
	run.Singles, run.SingleMaxMs, run.SinglesHead, run.SingleHeadMaxMs = probes.result()
	for _, p := range sim.Processes() {
		run.LargestImport = max(run.LargestImport, p.Rows)
	}
	run.Speedup = run.PerContactSeconds / run.CompleteSeconds
	ok := run.CompleteSeconds <= 30 && run.ImportRequests+run.ProcessRequests <= 20 && run.TooManyRequests == 0 &&
		run.IDsFilled == n && run.IDsSeconds <= 15
	run.Target = fmt.Sprintf("<= 30 s, <= 20 requests, no 429, ids +15 s: %s; single <= 1 s: %s, behind the head: %s",
		okMissed(ok), okMissed(run.Singles > 0 && run.SingleMaxMs <= 1000),
		okMissed(run.SinglesHead == 0 || run.SingleHeadMaxMs <= 1000))
	return run, nil
}

// waitCount polls until where matches n contacts (a count on the table:
// every 250 ms, so as not to load the server the service runs on).
func waitCount(ctx context.Context, pool *pgxpool.Pool, where string, n int) error {
	for {
		var got int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM contacts WHERE `+where).Scan(&got); err != nil {
			return err
		}
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// probes are the single selections made while the imports run.
type probes struct {
	mu      sync.Mutex
	arrived map[string]chan time.Time
	took    []time.Duration // after the per-contact path's head start
	head    []time.Duration // while it still sent backlog contacts
}

func newProbes(sim *brevotest.Server) *probes {
	p := &probes{arrived: map[string]chan time.Time{}}
	for i := 1; i <= 60; i++ {
		p.arrived[fmt.Sprintf("probe%d@bench.brevosync.test", i)] = make(chan time.Time, 1)
	}
	sim.OnUpsert(func(r brevotest.Request) {
		if ch, ok := p.arrived[r.Email]; ok {
			select {
			case ch <- time.Now():
			default:
			}
		}
	})
	return p
}

// headSQL is true while backlog contacts wait for, or are in, the
// per-contact path: due and not claimed, or claimed under a short lease.
var headSQL = `SELECT EXISTS (SELECT 1 FROM contacts WHERE email NOT LIKE 'probe%' AND (
	(` + schema.Claimable + ` AND ` + schema.DueAt + ` <= now())
	OR (` + schema.InFlight + ` AND ` + schema.LeaseEnd + ` < now() + interval '1 hour')))`

// run selects one probe a second once the first import is in process,
// until ctx ends, and times each to its request reaching Brevo.
func (p *probes) run(ctx context.Context, pool *pgxpool.Pool, sim *brevotest.Server) {
	if _, err := sim.WaitProcess(ctx, 1, "in_process", "completed"); err != nil {
		return
	}
	for i := 1; i <= 60 && ctx.Err() == nil; i++ {
		email := fmt.Sprintf("probe%d@bench.brevosync.test", i)
		var head bool
		if err := pool.QueryRow(ctx, headSQL).Scan(&head); err != nil {
			return
		}
		if _, err := pool.Exec(ctx, `UPDATE contacts SET `+schema.RequestSet+` WHERE email = $1`, email); err != nil {
			return
		}
		start := time.Now()
		took := 10 * time.Second
		select {
		case at := <-p.arrived[email]:
			took = at.Sub(start)
		case <-time.After(took):
		case <-ctx.Done():
			return
		}
		p.mu.Lock()
		if head {
			p.head = append(p.head, took)
		} else {
			p.took = append(p.took, took)
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (p *probes) result() (n int, maxMs float64, nHead int, headMaxMs float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	longest := func(ds []time.Duration) float64 {
		var m time.Duration
		for _, d := range ds {
			m = max(m, d)
		}
		return ms(m)
	}
	return len(p.took), longest(p.took), len(p.head), longest(p.head)
}

// printImports writes the section's table rows and the arithmetic for
// 500,000 contacts.
func printImports(row func(...string), runs []importRun) {
	if len(runs) == 0 {
		return
	}
	row("\nIMPORTS", fmt.Sprintf("%d contacts selected in one statement, BREVO_SYNC_RATE_LIMIT=%d, simulator %d/s "+
		"and 100 processes/h, imports 20,000 rows/s", runs[0].Contacts, importRate, importRate),
		"complete (s)", "ids +(s)", "import+process req", "429s", "ids filled", "single max ms (n)", "per-contact (s)", "speedup", "target")
	for _, r := range runs {
		row("", r.Variant+map[string]string{"poll": " (no public URL)", "notify": " (notifyUrl)"}[r.Variant],
			f3(r.CompleteSeconds), f3(r.IDsSeconds),
			fmt.Sprintf("%d+%d (list %d, upserts %d)", r.ImportRequests, r.ProcessRequests, r.ListRequests, r.Upserts),
			fmt.Sprint(r.TooManyRequests), fmt.Sprint(r.IDsFilled),
			fmt.Sprintf("%.0f (%d); %.0f (%d) behind the head", r.SingleMaxMs, r.Singles, r.SingleHeadMaxMs, r.SinglesHead),
			fmt.Sprintf("%.0f", r.PerContactSeconds),
			fmt.Sprintf("%.0fx", r.Speedup), r.Target)
	}
	r := runs[0]
	perRow := r.CompleteSeconds / float64(r.Contacts)
	imports := math.Ceil(500_000 / float64(max(r.LargestImport, 1)))
	row("", fmt.Sprintf("500,000 contacts: one by one %.0f s (%.1f h); through imports about %.0f s at this pace, "+
		"in about %.0f imports of %d contacts (~8 MB), %.0f list pages for the ids",
		500_000.0/importRate, 500_000.0/importRate/3600, 500_000*perRow, imports, r.LargestImport, 500_000.0/1000))
}
