package syncer

import (
	"context"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// The bulk path: large backlogs through the CRM's import (see the package
// documentation, "Large backlogs"). This file holds its settings, the
// driver's lease and the claim loop; import_run.go submits and tracks the
// jobs, import_ids.go fills in the CRM's ids.

// Defaults of ImportConfig. The service uses DefaultImportThreshold; a zero
// Threshold in Config.Import turns the bulk path off.
const (
	DefaultImportThreshold  = 500
	DefaultProcessesPerHour = 80
	DefaultImportCheck      = time.Second
	DefaultImportTimeout    = time.Hour
	// DefaultImportCooldown is how long imports stay off after the CRM
	// refused an import request as a whole.
	DefaultImportCooldown = 15 * time.Minute
	DefaultImportHandover = 30 * time.Second
)

// ImportConfig tunes the bulk path. Zero values take the defaults above,
// except Threshold.
type ImportConfig struct {
	// Threshold is how many due contacts make a backlog that is imported
	// rather than sent one by one; 0 turns imports off.
	Threshold int
	// PublicURL is the service's externally reachable base URL
	// (BREVO_SYNC_PUBLIC_URL). When set, each import carries a notifyUrl
	// below it (ImportNotifyPath) and its process is read once the CRM
	// calls it; when empty, the process is polled.
	PublicURL string
	// ProcessesPerHour caps the requests to the CRM's processes endpoint
	// (Brevo: 100 an hour on most plans) for all replicas together, in any
	// hour: a quarter at once, the rest spread over the hour.
	ProcessesPerHour int
	// CheckInterval is the first wait between polls of an import's
	// process; it doubles up to 5 minutes.
	CheckInterval time.Duration
	// Timeout is how long after its submission an unfinished import is
	// given up: its contacts are retried under the retry policy.
	Timeout time.Duration
	// Cooldown is how long imports stay off after the CRM refused one as a
	// whole (its contacts go one by one meanwhile).
	Cooldown time.Duration
	// Handover is how long the per-contact path leaves a due backlog to the
	// bulk path at most: should no import claim it by then (imports
	// refused on the replica that drives them, or none drives), it sends
	// the backlog one by one, as with imports off.
	Handover time.Duration
	// OnIDs, when set, is called after each round of the id listing with
	// the ids it filled and the imports it finished; it must not block.
	// Tests use it to wait without polling.
	OnIDs func(filled, imports int64)
}

func (c ImportConfig) withDefaults() ImportConfig {
	if c.ProcessesPerHour <= 0 {
		c.ProcessesPerHour = DefaultProcessesPerHour
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = DefaultImportCheck
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultImportTimeout
	}
	if c.Cooldown <= 0 {
		c.Cooldown = DefaultImportCooldown
	}
	if c.Handover <= 0 {
		c.Handover = DefaultImportHandover
	}
	return c
}

// procBudget is the processes budget as a token bucket: burst at once and
// rate per second after, so that no hour sees more than ProcessesPerHour.
func (c ImportConfig) procBudget() (rate, burst float64) {
	burst = max(1, math.Floor(float64(c.ProcessesPerHour)/4))
	return (float64(c.ProcessesPerHour) - burst) / 3600, burst
}

// importer is the bulk path of one Syncer; nil when it is off.
type importer struct {
	s   *Syncer
	crm Importer
	cfg ImportConfig
	log *slog.Logger

	claimWake, runWake, idsWake, fallbackWake chan struct{}

	rowBytes atomic.Int64  // measured body bytes per contact; 0 until measured
	speed    atomic.Uint64 // float64 bits: the CRM's import speed, rows a second; 0 until measured
	offUntil atomic.Int64  // unix nanoseconds: imports off until then
	running  atomic.Bool   // run found imports possible and has not ended
}

// newImporter returns s's bulk path, or nil when cfg or the CRM leaves it
// off.
func newImporter(s *Syncer, cfg ImportConfig) *importer {
	crm, ok := s.crm.(Importer)
	if cfg.Threshold <= 0 || !ok {
		return nil
	}
	return &importer{
		s: s, crm: crm, cfg: cfg.withDefaults(), log: s.log.With("path", "import"),
		claimWake: make(chan struct{}, 1), runWake: make(chan struct{}, 1),
		idsWake: make(chan struct{}, 1), fallbackWake: make(chan struct{}, 1),
	}
}

// signal wakes a loop without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// wake is called by Syncer.Wake: new requests may make a backlog, and a
// notifyUrl call may have come (its NOTIFY wakes every replica).
func (im *importer) wake() {
	if im == nil {
		return
	}
	signal(im.claimWake)
	signal(im.runWake)
}

// backlog reports whether imports are on here and at least Threshold
// contacts are due, with the database's clock when it counted, and then
// wakes the bulk path to claim them; and how long the per-contact path
// leaves a backlog to it at most.
func (im *importer) backlog(ctx context.Context) (now time.Time, handover time.Duration, ok bool) {
	if im == nil || !im.running.Load() || im.off() > 0 {
		return time.Time{}, 0, false
	}
	n, now, err := countDue(ctx, im.s.db, im.cfg.Threshold, time.Time{})
	if err != nil || n < im.cfg.Threshold {
		// On an error the per-contact path takes everything, as without
		// imports; the claim that follows reports what went wrong.
		return time.Time{}, 0, false
	}
	signal(im.claimWake)
	return now, im.cfg.Handover, true
}

// retriesScheduled is called when outcomes set new due times: retries
// that come due together may make a backlog.
func (im *importer) retriesScheduled() {
	if im != nil {
		signal(im.claimWake)
	}
}

// sleep waits d, or until ch (nil: never) or ctx; it reports false when ctx
// ended.
func sleep(ctx context.Context, d time.Duration, ch <-chan struct{}) bool {
	t := time.NewTimer(max(d, 0))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-ch:
	}
	return true
}

// run is the bulk path until ctx ends: every replica competes for the
// driver's lease, and the one holding it does all the import work.
func (im *importer) run(ctx context.Context) {
	if im == nil {
		return
	}
	if err := im.crm.ImportReady(); err != nil {
		im.log.WarnContext(ctx, "imports are off; large backlogs go one by one", slog.Any("reason", err))
		return
	}
	for ctx.Err() == nil {
		ok, err := hasImportTables(ctx, im.s.db)
		if err == nil && !ok {
			im.log.WarnContext(ctx, "imports are off: the database lacks brevosync_imports; run 'brevosync migrate'")
			return
		}
		if err == nil {
			break
		}
		im.s.logUnlessDone(ctx, "look for the import tables", err)
		sleep(ctx, 5*time.Second, nil)
	}
	_, burst := im.cfg.procBudget()
	im.running.Store(true)
	defer im.running.Store(false)
	im.log.InfoContext(ctx, "imports on", slog.Int("threshold", im.cfg.Threshold),
		slog.Bool("notify_url", im.cfg.PublicURL != ""), slog.Int("processes_per_hour", im.cfg.ProcessesPerHour))
	backoff := dbBackoff()
	for ctx.Err() == nil {
		mine, remaining, err := acquireDriver(ctx, im.s.db, im.s.node, im.s.cfg.Lease, burst)
		switch {
		case err != nil:
			im.s.logUnlessDone(ctx, "import driver", err)
			d, _ := backoff.Next()
			sleep(ctx, d, nil)
		case mine:
			backoff = dbBackoff()
			im.drive(ctx)
		default:
			// Another replica drives; take over if its lease lapses.
			sleep(ctx, remaining+time.Duration(rand.Int64N(int64(100*time.Millisecond))), nil)
		}
	}
}

// drive does the import work while this replica holds the driver's lease:
// claiming backlogs into jobs, running the jobs one at a time, the
// per-contact fallback and the id listing. It returns when ctx ends or the
// lease is lost; the jobs stay in the database for the next driver.
func (im *importer) drive(ctx context.Context) {
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	im.log.InfoContext(ctx, "driving imports")
	for _, ch := range []chan struct{}{im.claimWake, im.runWake, im.idsWake, im.fallbackWake} {
		signal(ch) // look at what the last driver left
	}
	var wg sync.WaitGroup
	wg.Go(func() { im.keepLease(dctx, cancel) })
	wg.Go(func() { im.claimLoop(dctx) })
	wg.Go(func() { im.runLoop(dctx) })
	wg.Go(func() { im.fallbackLoop(dctx) })
	wg.Go(func() { im.idLoop(dctx) })
	wg.Wait()
	if ctx.Err() != nil {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		if err := releaseDriver(rctx, im.s.db, im.s.node); err != nil {
			im.log.WarnContext(ctx, "could not release the import driver's lease; another replica takes over when it expires",
				slog.Any("err", err))
		}
	}
}

// keepLease renews the driver's lease every third of Lease, and cancels
// the driving when it is lost or cannot be renewed in time.
func (im *importer) keepLease(ctx context.Context, lost context.CancelFunc) {
	lease := im.s.cfg.Lease
	_, burst := im.cfg.procBudget()
	renewed := time.Now()
	for sleep(ctx, lease/3, nil) {
		mine, _, err := acquireDriver(ctx, im.s.db, im.s.node, lease, burst)
		switch {
		case err == nil && mine:
			renewed = time.Now()
			continue
		case err == nil:
			im.log.WarnContext(ctx, "another replica took over the imports")
		case time.Since(renewed) < 2*lease/3:
			im.s.logUnlessDone(ctx, "renew the import driver's lease", err)
			continue
		default:
			im.log.WarnContext(ctx, "could not renew the import driver's lease; stopping imports here", slog.Any("err", err))
		}
		lost()
		return
	}
}

// off reports how long imports stay off after a refused import, 0 if on.
func (im *importer) off() time.Duration {
	return time.Until(time.Unix(0, im.offUntil.Load()))
}

// claimLoop claims every due backlog of at least Threshold contacts into
// pending jobs, at once: the per-contact claim then finds only newer
// requests, so that single selections never queue behind a backlog.
func (im *importer) claimLoop(ctx context.Context) {
	for {
		wait := im.claimBacklog(ctx)
		if !sleep(ctx, wait, im.claimWake) {
			return
		}
	}
}

// claimBacklog claims the due backlog if it is large enough and returns
// how long to wait before looking again (a wake-up comes sooner).
func (im *importer) claimBacklog(ctx context.Context) time.Duration {
	if d := im.off(); d > 0 {
		return d
	}
	n, cutoff, err := countDue(ctx, im.s.db, im.cfg.Threshold, time.Time{})
	if err != nil {
		im.s.logUnlessDone(ctx, "count the backlog", err)
		return time.Second
	}
	if n < im.cfg.Threshold {
		return im.nextLook(ctx, n)
	}
	// Claim all that was due when the backlog was counted, in chunks; the
	// last chunk takes a remainder of up to a couple of seconds' sending
	// too, rather than making an import of its own (a chunk's 10% margin
	// holds it, and fit hands back what does not fit). Requests made since
	// are left to the per-contact path, which leaves these to this one
	// (Syncer.claimFloor), so that no backlog contact holds up a single
	// selection in the rate limit.
	small := max(10, int(math.Ceil(2*im.s.budget.total)))
	claimed, jobs := 0, 0
	for ctx.Err() == nil {
		size := im.chunkSize()
		if left, _, err := countDue(ctx, im.s.db, size+small+1, cutoff); err == nil && left <= size+small {
			size = size + small
		}
		id, token, contacts, err := claimJob(ctx, im.s.db, size, cutoff)
		if err != nil {
			im.s.logUnlessDone(ctx, "claim a backlog for an import", err)
			return time.Second
		}
		if id == 0 {
			break
		}
		claimed += im.fit(ctx, id, token, contacts)
		jobs++
		signal(im.runWake)
		if len(contacts) < size {
			break
		}
	}
	if jobs == 0 {
		// Due, yet nothing claimable: other claims or a transaction hold
		// the rows. Look again soon.
		return 100 * time.Millisecond
	}
	im.log.InfoContext(ctx, "backlog claimed for import", slog.Int("contacts", claimed), slog.Int("jobs", jobs))
	// The per-contact path may be waiting for the backlog to go: what is
	// left of it below the threshold is its own.
	signal(im.s.wake)
	return 0 // look again: more may have come meanwhile
}

// nextLook is how long the claim loop waits when the backlog is below the
// threshold: while something is due it looks every second (per-contact
// sending is draining it, or retries pile up); else until the next due time.
func (im *importer) nextLook(ctx context.Context, due int) time.Duration {
	if due > 0 {
		return time.Second
	}
	wait, ok, err := nextDue(ctx, im.s.db)
	switch {
	case err != nil:
		im.s.logUnlessDone(ctx, "schedule the backlog count", err)
		return time.Second
	case !ok:
		return im.s.cfg.SweepInterval
	}
	return max(wait, 100*time.Millisecond)
}

// bodyTarget is the share of the CRM's body limit a chunk is sized for
// from the measured bytes per contact, so that one seldom overflows.
const bodyTarget = 0.9

// chunkSize is how many contacts to claim for one job: 90% of what the
// measured bytes per contact let one import carry, at first a guess.
func (im *importer) chunkSize() int {
	per := im.rowBytes.Load()
	if per <= 0 {
		per = 400 // a guess until the first chunk is measured
	}
	return int(min(100_000, max(100, bodyTarget*float64(im.crm.MaxImportBytes())/float64(per))))
}

// fit measures a claimed chunk, learns the bytes per contact, and hands
// back (uncharged) what does not fit in one import. It returns how many
// contacts the job keeps.
func (im *importer) fit(ctx context.Context, id int64, token string, contacts []Contact) int {
	fams := families(contacts)
	latests := make([]Contact, len(fams))
	for i, f := range fams {
		latests[i] = latest(f)
	}
	n, bytes := im.crm.FitImport(latests, im.placeholderURL(id))
	if n > 0 {
		im.rowBytes.Store(int64(math.Ceil(float64(bytes) / float64(n))))
	}
	if n >= len(fams) {
		return len(contacts)
	}
	var back []outcome
	for _, f := range fams[n:] {
		for _, c := range f {
			back = append(back, release(c, token, 0))
		}
	}
	im.writeAll(ctx, back)
	return len(contacts) - len(back)
}

// writeAll writes outcomes in batches through the finalizer's statement,
// retrying while ctx lasts; it reports false if some could not be written
// (their rows stay held by the job and are finished by a later pass).
func (im *importer) writeAll(ctx context.Context, outs []outcome) bool {
	const batch = 5000
	for len(outs) > 0 {
		n := min(batch, len(outs))
		for !im.s.write(context.WithoutCancel(ctx), outs[:n]) {
			if !sleep(ctx, time.Second, nil) {
				return false
			}
		}
		outs = outs[n:]
	}
	return true
}
