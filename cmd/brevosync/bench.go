package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

func init() {
	register(&command{
		name:    "bench",
		summary: "measure latency, throughput, rate limiting and what every part costs",
		usage:   "[flags]",
		help: `Measures brevosync on this machine against a Postgres server and the Brevo
simulator (in process), and prints a table (--json: one JSON object).

  latency      single-row selections one at a time, 20ms apart:
               commit -> Brevo request received, and commit -> row Complete
  throughput   N contacts selected in one statement, simulator at 0ms and 50ms,
               rate limit off: drain time and contacts per second
  ratelimit    BREVO_SYNC_RATE_LIMIT=10 against a simulator enforcing 10/s,
               with one and with two replicas: achieved rate and 429s
  writecost    the application's selecting UPDATE with and without the
               trigger: single-row and 10,000-row statements
  sweep        one sweep pass and one claim on a 1,000,000-row table with 1%
               in work states, and whether their plans use the indexes
  memory       idle RSS of 'brevosync serve', and its peak during throughput

The server is DATABASE_URL's if set, else a local one that answers, else a
throwaway cluster (as for demo). Each section runs in its own database,
created and dropped by the bench. Stock Postgres settings are assumed.

Example:
  brevosync bench                     # everything, about 3 minutes
  brevosync bench --only latency,throughput --json`,
		flags: func(fs *flag.FlagSet) {
			fs.Bool("json", false, "print the results as one JSON object")
			fs.String("only", "", "comma-separated sections to run (default: all)")
			fs.Int("latency-n", 200, "single-row selections in the latency run")
			fs.Int("throughput-n", 10000, "contacts in each throughput run")
			fs.Int("concurrency", 50, "BREVO_SYNC_CONCURRENCY for latency and throughput")
			fs.Int("rate-n", 100, "contacts in each rate-limit run")
			fs.Int("rows", 1_000_000, "table size for the sweep section")
			fs.Bool("v", false, "log the service's info messages to stderr")
		},
		run: runBench,
	})
}

// benchSections are the sections in the order they run.
var benchSections = []string{"latency", "throughput", "memory", "ratelimit", "writecost", "sweep"}

// benchOptions are bench's flags.
type benchOptions struct {
	json        bool
	only        map[string]bool
	latencyN    int
	throughputN int
	concurrency int
	rateN       int
	rows        int
	verbose     bool
}

func runBench(ctx context.Context, e *env, fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return usagef("bench takes no arguments, only flags")
	}
	get := func(name string) any { return fs.Lookup(name).Value.(flag.Getter).Get() }
	o := benchOptions{
		json:        get("json").(bool),
		latencyN:    get("latency-n").(int),
		throughputN: get("throughput-n").(int),
		concurrency: get("concurrency").(int),
		rateN:       get("rate-n").(int),
		rows:        get("rows").(int),
		verbose:     get("v").(bool),
		only:        map[string]bool{},
	}
	for _, s := range strings.Split(get("only").(string), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(benchSections, s) {
			return usagef("unknown section %q (sections: %s)", s, strings.Join(benchSections, ", "))
		}
		o.only[s] = true
	}
	if o.latencyN < 1 || o.throughputN < 1 || o.concurrency < 1 || o.rateN < 2 || o.rows < 10000 {
		return usagef("counts must be positive (rate-n at least 2, rows at least 10000)")
	}

	tuneGC() // the simulator runs in this process and shares the CPU with the service
	// Progress goes to stderr; the table (or JSON) to stdout.
	progress := func(format string, args ...any) { fmt.Fprintf(e.stderr, "bench: "+format+"\n", args...) }
	srv, err := openBenchServer(ctx, e.getenv, progress)
	if err != nil {
		return err
	}
	defer srv.close()

	b := &bench{opts: o, srv: srv, progress: progress, stderr: e.stderr}
	rep := &benchReport{Machine: machineInfo(), Server: srv.version(ctx)}
	started := time.Now()
	for _, name := range benchSections {
		if len(o.only) > 0 && !o.only[name] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		progress("%s ...", name)
		t0 := time.Now()
		if err := b.runSection(ctx, name, rep); err != nil {
			return fmt.Errorf("bench %s: %w", name, err)
		}
		progress("%s done in %v", name, time.Since(t0).Round(100*time.Millisecond))
	}
	rep.Took = time.Since(started).Round(time.Second).String()
	if o.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.print(e.stdout)
	return nil
}

// bench holds what the sections share.
type bench struct {
	opts     benchOptions
	srv      *benchServer
	progress func(string, ...any)
	stderr   io.Writer
}

func (b *bench) runSection(ctx context.Context, name string, rep *benchReport) error {
	switch name {
	case "latency":
		r, err := b.latency(ctx)
		rep.Latency = r
		return err
	case "throughput", "memory":
		if rep.Throughput != nil {
			return nil // one run measures both
		}
		r, m, err := b.throughput(ctx)
		rep.Throughput, rep.Memory = r, m
		return err
	case "ratelimit":
		r, err := b.rateLimit(ctx)
		rep.RateLimit = r
		return err
	case "writecost":
		r, err := b.writeCost(ctx)
		rep.WriteCost = r
		return err
	case "sweep":
		r, err := b.sweep(ctx)
		rep.Sweep = r
		return err
	}
	return fmt.Errorf("unknown section %q", name)
}

// Percentiles summarizes a sample of durations, in milliseconds.
type Percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return ms(s[max(0, min(i, len(s)-1))])
	}
	return Percentiles{N: len(s), P50: at(.50), P95: at(.95), P99: at(.99), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// benchReport is everything bench measured.
type benchReport struct {
	Machine    string            `json:"machine"`
	Server     string            `json:"postgres"`
	Took       string            `json:"took"`
	Latency    *latencyResult    `json:"latency,omitempty"`
	Throughput []throughputRun   `json:"throughput,omitempty"`
	Memory     *memoryResult     `json:"memory,omitempty"`
	RateLimit  []rateLimitRun    `json:"rate_limit,omitempty"`
	WriteCost  []writeCostResult `json:"write_cost,omitempty"`
	Sweep      *sweepResult      `json:"sweep,omitempty"`
}

func (r *benchReport) print(w io.Writer) {
	fmt.Fprintf(w, "brevosync bench on %s, %s (took %s)\n", r.Machine, r.Server, r.Took)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cols ...string) { fmt.Fprintln(tw, strings.Join(cols, "\t")) }
	mark := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISSED"
	}
	if l := r.Latency; l != nil {
		row("\nLATENCY", fmt.Sprintf("%d single-row selections, 20ms apart", l.CommitToRequest.N), "p50", "p95", "p99", "max", "target")
		pr := func(name string, p Percentiles, target string) {
			row("", name, f3(p.P50), f3(p.P95), f3(p.P99), f3(p.Max), target)
		}
		pr("commit -> Brevo request (ms)", l.CommitToRequest,
			fmt.Sprintf("p50 <= 1.2, p99 <= 5: %s", mark(l.CommitToRequest.P50 <= 1.2 && l.CommitToRequest.P99 <= 5)))
		pr("commit -> row Complete (ms)", l.CommitToComplete, "")
		pr("NOTIFY delivery alone (ms)", l.NotifyDelivery, "")
		row("", "mean cost per part (ms)", fmt.Sprintf("claim %s, Brevo request %s, finalize %s",
			f3(l.ClaimMeanMs), f3(l.RequestMeanMs), f3(l.FinalizeMeanMs)))
	}
	if len(r.Throughput) > 0 {
		row("\nTHROUGHPUT", "contacts selected in one statement", "contacts", "drain (s)", "contacts/s", "target")
		for _, t := range r.Throughput {
			row("", fmt.Sprintf("simulator at %dms, concurrency %d", t.SimLatencyMs, t.Concurrency),
				fmt.Sprint(t.Contacts), f3(t.DrainSeconds), fmt.Sprintf("%.0f", t.PerSecond), t.Target)
		}
	}
	if m := r.Memory; m != nil {
		row("\nMEMORY", "brevosync serve", "idle RSS", "peak RSS (throughput)", "target")
		row("", "", fmt.Sprintf("%.1f MB", m.IdleRSSMB), fmt.Sprintf("%.1f MB", m.PeakRSSMB),
			fmt.Sprintf("idle <= 30 MB: %s", mark(m.IdleRSSMB <= 30)))
	}
	if len(r.RateLimit) > 0 {
		row("\nRATE LIMIT", "BREVO_SYNC_RATE_LIMIT=10, simulator enforces 10/s", "contacts", "achieved/s", "429s", "target")
		for _, rl := range r.RateLimit {
			ok := math.Abs(rl.AchievedPerSecond-10) <= 0.5 && rl.TooManyRequests == 0
			row("", fmt.Sprintf("%d replica(s)", rl.Replicas), fmt.Sprint(rl.Contacts),
				fmt.Sprintf("%.2f", rl.AchievedPerSecond), fmt.Sprint(rl.TooManyRequests),
				fmt.Sprintf("10/s +-5%%, no 429: %s", mark(ok)))
		}
	}
	if len(r.WriteCost) > 0 {
		row("\nWRITE COST", "the application's selecting UPDATE", "no trigger (ms)", "trigger, no NOTIFY", "trigger (ms)", "added", "target")
		for _, c := range r.WriteCost {
			target := ""
			if c.Rows == 1 {
				target = fmt.Sprintf("<= 10%%: %s", mark(c.AddedPercent <= 10))
			}
			row("", fmt.Sprintf("%d-row statement (median of %d)", c.Rows, c.Samples),
				f3(c.WithoutMs), f3(c.NoNotifyMs), f3(c.WithMs), fmt.Sprintf("%+.1f%%", c.AddedPercent), target)
		}
	}
	if s := r.Sweep; s != nil {
		row("\nSWEEP", fmt.Sprintf("%d rows, %d in work states", s.Rows, s.WorkRows), "ms", "uses indexes", "target")
		row("", "sweep pass (median of 5)", f3(s.SweepMs), "", fmt.Sprintf("<= 10ms: %s", mark(s.SweepMs <= 10)))
		row("", "first sweep pass (takes back expired claims)", f3(s.FirstSweepMs), "", "")
		for _, p := range s.Plans {
			row("", p.Statement+" (EXPLAIN ANALYZE)", f3(p.ExecutionMs), fmt.Sprint(p.UsesIndex), "")
		}
	}
	tw.Flush()
}

func f3(v float64) string { return fmt.Sprintf("%.3f", v) }
