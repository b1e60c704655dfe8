package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brevosync/brevosync/cmd/brevosync/service"
	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/syncer"
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

	cfg, err := service.Load(mapGetenv(b.serviceVars(dsn, sim.URL())), service.Serve)
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
