package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/brevosync/brevosync/cmd/brevosync/cli"
	"github.com/brevosync/brevosync/cmd/brevosync/service"
)

// Sections are the sections in the order they run.
var Sections = []string{"latency", "throughput", "memory", "ratelimit", "writecost", "mirror", "sweep", "retention", "imports"}

// Options are bench's flags.
type Options struct {
	// JSON prints one JSON object instead of tables.
	JSON bool
	// Only names the sections to run (default: all).
	Only []string
	// LatencyN, ThroughputN, RateN: contacts in those runs; Concurrency:
	// BREVO_SYNC_CONCURRENCY for latency and throughput; Rows: the sweep
	// section's table size.
	LatencyN, ThroughputN, Concurrency, RateN, Rows int
	// ImportN: contacts in the imports section.
	ImportN int
	// Verbose logs the service's info messages to stderr.
	Verbose bool
	// Exe is the brevosync binary run as `serve` children; default this
	// process's own executable.
	Exe string
}

// Run is `brevosync bench`: it measures, then prints a table (or JSON) on
// Stdout; progress goes to Stderr. Bad options are cli usage errors.
func Run(ctx context.Context, e *cli.Env, o Options) error {
	only := map[string]bool{}
	for _, s := range o.Only {
		if !slices.Contains(Sections, s) {
			return cli.Usagef("unknown section %q (sections: %s)", s, strings.Join(Sections, ", "))
		}
		only[s] = true
	}
	if o.LatencyN < 1 || o.ThroughputN < 1 || o.Concurrency < 1 || o.RateN < 2 || o.Rows < 10000 || o.ImportN < 1000 {
		return cli.Usagef("counts must be positive (rate-n at least 2, rows at least 10000, import-n at least 1000)")
	}
	if o.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this program to run it as serve: %w", err)
		}
		o.Exe = exe
	}

	service.TuneGC() // the simulator runs in this process and shares the CPU with the service
	// Progress goes to stderr; the table (or JSON) to stdout.
	progress := func(format string, args ...any) { fmt.Fprintf(e.Stderr, "bench: "+format+"\n", args...) }
	srv, err := openBenchServer(ctx, e.Getenv, progress)
	if err != nil {
		return err
	}
	defer srv.close()

	b := &bench{opts: o, srv: srv, progress: progress, stderr: e.Stderr}
	rep := &benchReport{Machine: machineInfo(), Server: srv.version(ctx)}
	started := time.Now()
	for _, name := range Sections {
		if len(only) > 0 && !only[name] {
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
	if o.JSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.print(e.Stdout)
	return nil
}

// bench holds what the sections share.
type bench struct {
	opts     Options
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
	case "mirror":
		r, err := b.mirrorCost(ctx)
		rep.Mirror = r
		return err
	case "retention":
		r, err := b.retention(ctx)
		rep.Retention = r
		return err
	case "sweep":
		r, err := b.sweep(ctx)
		rep.Sweep = r
		return err
	case "imports":
		r, err := b.imports(ctx)
		rep.Imports = r
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
	Machine    string             `json:"machine"`
	Server     string             `json:"postgres"`
	Took       string             `json:"took"`
	Latency    *latencyResult     `json:"latency,omitempty"`
	Throughput []throughputRun    `json:"throughput,omitempty"`
	Memory     *memoryResult      `json:"memory,omitempty"`
	RateLimit  []rateLimitRun     `json:"rate_limit,omitempty"`
	WriteCost  []writeCostResult  `json:"write_cost,omitempty"`
	Mirror     []mirrorCostResult `json:"mirror_cost,omitempty"`
	Retention  *retentionResult   `json:"retention,omitempty"`
	Sweep      *sweepResult       `json:"sweep,omitempty"`
	Imports    []importRun        `json:"imports,omitempty"`
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
	printMirror(row, r.Mirror)
	if s := r.Sweep; s != nil {
		row("\nSWEEP", fmt.Sprintf("%d rows, %d in work states", s.Rows, s.WorkRows), "ms", "uses indexes", "target")
		row("", "sweep pass (median of 5)", f3(s.SweepMs), "", fmt.Sprintf("<= 10ms: %s", mark(s.SweepMs <= 10)))
		row("", "first sweep pass (takes back expired claims)", f3(s.FirstSweepMs), "", "")
		for _, p := range s.Plans {
			row("", p.Statement+" (EXPLAIN ANALYZE)", f3(p.ExecutionMs), fmt.Sprint(p.UsesIndex), "")
		}
	}
	printRetention(row, r.Retention)
	printImports(row, r.Imports)
	tw.Flush()
}

func f3(v float64) string { return fmt.Sprintf("%.3f", v) }
