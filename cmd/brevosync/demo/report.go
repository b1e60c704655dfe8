package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brevosync/brevosync/cmd/brevosync/cli"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
	"github.com/brevosync/brevosync/syncer/operator"
)

// demoState counts the whole contacts table by brevo_sync_status, as
// `brevosync status` does.
type demoState struct {
	Total      int `json:"total"`
	New        int `json:"new"`
	Pending    int `json:"pending"` // Selected or Queued (including retries scheduled)
	Processing int `json:"processing"`
	Complete   int `json:"complete"`
	Failed     int `json:"failed"` // Error
	Skipped    int `json:"skipped"`
	Confirmed  int `json:"confirmed"` // brevo_confirmed_at set
}

// line is the machine-checkable form.
func (s demoState) line() string {
	return fmt.Sprintf("total=%d new=%d pending=%d processing=%d complete=%d failed=%d skipped=%d confirmed=%d",
		s.Total, s.New, s.Pending, s.Processing, s.Complete, s.Failed, s.Skipped, s.Confirmed)
}

// demoResult is what -json prints.
type demoResult struct {
	OK      bool    `json:"ok"`
	Mode    string  `json:"mode"`
	Seconds float64 `json:"elapsed_seconds"`
	demoState
	DemoContacts      int      `json:"demo_contacts"`
	BrevoRequests     int      `json:"brevo_requests"` // upserts the simulator received
	WebhooksDelivered int      `json:"webhooks_delivered"`
	CommitToBrevoMS   float64  `json:"commit_to_brevo_median_ms"` // one by one
	BulkPerSecond     float64  `json:"bulk_per_second"`
	Problems          []string `json:"problems,omitempty"`
}

// report checks the outcome against what the demo set up, prints the final
// state, the verdict and the final line, and returns the result.
func (d *demo) report(ctx context.Context, pool *pgxpool.Pool, sim *brevotest.Server) (demoResult, error) {
	rep, err := operator.Status(ctx, pool) // what `brevosync status` shows
	if err != nil {
		return demoResult{}, err
	}
	st := demoStateOf(rep)
	problems, err := d.verify(ctx, pool, sim)
	if err != nil {
		return demoResult{}, err
	}
	stats := sim.Stats()
	res := demoResult{
		OK:                len(problems) == 0,
		Mode:              d.mode,
		Seconds:           math.Round(time.Since(d.start).Seconds()*100) / 100,
		demoState:         st,
		DemoContacts:      len(d.cast),
		BrevoRequests:     stats.Upserts,
		WebhooksDelivered: stats.WebhooksDelivered,
		CommitToBrevoMS:   float64(d.oneByOneMedian.Microseconds()) / 1000,
		BulkPerSecond:     math.Round(d.bulkRate*10) / 10,
		Problems:          problems,
	}

	d.endProgress()
	fmt.Fprintf(d.out, "\n--- brevosync status ---\n")
	cli.WriteStatus(d.out, rep)
	fmt.Fprintf(d.out, "-----------------------\n\n")
	if len(problems) == 0 {
		var retried, waited, rejected int
		for _, c := range d.cast {
			switch c.role {
			case demoFlaky:
				retried++
			case demoLimited:
				waited++
			case demoInvalid:
				rejected++
			}
		}
		d.sayf("demo: OK: %d contacts in %.1fs: %d complete (%d after a retry, %d after a 429 wait), %d rejected by Brevo at once; "+
			"%d requests to Brevo; %d confirmed by webhook",
			len(d.cast), res.Seconds, len(d.cast)-rejected, retried, waited, rejected, stats.Upserts, st.Confirmed)
	} else {
		d.sayf("demo: FAILED: %d expectation(s) not met:", len(problems))
		for _, p := range problems {
			d.sayf("  - %s", p)
		}
	}
	d.sayf("demo: final state %s", st.line())
	return res, nil
}

// demoStateOf sums the status report's states by brevo_sync_status.
func demoStateOf(rep *operator.Report) demoState {
	st := demoState{Total: int(rep.Total)}
	for _, sc := range rep.States {
		n := int(sc.Count)
		switch sc.SyncStatus {
		case "New":
			st.New += n
		case "Selected", "Queued":
			st.Pending += n
		case "Processing":
			st.Processing += n
		case "Complete":
			st.Complete += n
		case "Error":
			st.Failed += n
		case "Skipped":
			st.Skipped += n
		}
	}
	if c := rep.Webhooks.ConfirmedContacts; c != nil {
		st.Confirmed = int(*c)
	}
	return st
}

// verify compares every demo contact's row and requests with what its role
// should have produced.
func (d *demo) verify(ctx context.Context, pool *pgxpool.Pool, sim *brevotest.Server) ([]string, error) {
	type row struct {
		sync, proc, err, brevoID string
		synced, confirmed        bool
	}
	got := map[string]row{}
	rs, err := pool.Query(ctx, `SELECT id::text, brevo_sync_status::text, coalesce(brevo_processing_status::text, ''),
		coalesce(brevo_processing_error, ''), coalesce(brevo_contact_id, ''),
		brevo_synced_at IS NOT NULL, brevo_confirmed_at IS NOT NULL
		FROM contacts WHERE `+demoEmailMatch)
	if err != nil {
		return nil, fmt.Errorf("read demo contacts: %w", err)
	}
	for rs.Next() {
		var id string
		var r row
		if err := rs.Scan(&id, &r.sync, &r.proc, &r.err, &r.brevoID, &r.synced, &r.confirmed); err != nil {
			rs.Close()
			return nil, fmt.Errorf("read demo contacts: %w", err)
		}
		got[id] = r
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read demo contacts: %w", err)
	}

	var problems []string
	for _, c := range d.cast {
		r, ok := got[c.key]
		if !ok {
			problems = append(problems, c.email+": row missing")
			continue
		}
		var statuses []int
		for _, req := range sim.UpsertsFor(c.email) {
			statuses = append(statuses, req.Status)
		}
		want := []int{http.StatusCreated}
		switch c.role {
		case demoInvalid:
			want = []int{http.StatusBadRequest}
		case demoFlaky:
			want = []int{http.StatusInternalServerError, http.StatusCreated}
		case demoLimited:
			want = []int{http.StatusTooManyRequests, http.StatusCreated}
		}
		if !slices.Equal(statuses, want) {
			problems = append(problems, fmt.Sprintf("%s: Brevo answered %v, want %v", c.email, statuses, want))
		}
		if c.role == demoInvalid {
			if r.sync != "Error" || r.proc != "Error" || !strings.Contains(r.err, "400") {
				problems = append(problems, fmt.Sprintf("%s: %s/%s %q, want Error/Error with Brevo's 400",
					c.email, r.sync, r.proc, r.err))
			}
			continue
		}
		switch {
		case r.sync != "Complete" || r.proc != "Complete" || r.err != "":
			problems = append(problems, fmt.Sprintf("%s: %s/%s %q, want Complete/Complete", c.email, r.sync, r.proc, r.err))
		case r.brevoID == "" || !r.synced:
			problems = append(problems, c.email+": complete without brevo_contact_id or brevo_synced_at")
		case !r.confirmed:
			problems = append(problems, c.email+": no webhook confirmation (brevo_confirmed_at)")
		}
		if bc, ok := sim.Contact(c.email); !ok || bc.Upserts != 1 {
			problems = append(problems, fmt.Sprintf("%s: in Brevo %v, upserted %d times, want once", c.email, ok, bc.Upserts))
		}
	}
	return problems, nil
}

// sayf prints a line of the narrative.
func (d *demo) sayf(format string, args ...any) {
	d.endProgress()
	fmt.Fprintf(d.out, format+"\n", args...)
}

// stepf prints a narrative line with the time since the start.
func (d *demo) stepf(format string, args ...any) {
	d.sayf("[%5.2fs] "+format, append([]any{time.Since(d.start).Seconds()}, args...)...)
}

// debugf prints details with -v.
func (d *demo) debugf(format string, args ...any) {
	if d.opts.Verbose {
		d.sayf("         · "+format, args...)
	}
}

// progressf shows a progress line: rewritten in place on a terminal, a new
// line otherwise.
func (d *demo) progressf(format string, args ...any) {
	if !d.tty {
		fmt.Fprintf(d.out, format+"\n", args...)
		return
	}
	fmt.Fprintf(d.out, "\r\033[K"+format, args...)
	d.progress = true
}

// endProgress ends a progress line left on screen.
func (d *demo) endProgress() {
	if d.progress {
		fmt.Fprint(d.out, "\r\033[K")
		d.progress = false
	}
}

func demoRandom(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// demoShortError trims the syncer's error text to its Brevo part.
func demoShortError(s string) string {
	if i := strings.Index(s, "brevo: "); i >= 0 {
		s = s[i+len("brevo: "):]
	}
	return s
}

func demoMillis(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func demoSeconds(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func demoMedian(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func demoErrOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
