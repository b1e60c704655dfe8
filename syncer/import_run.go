package syncer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	schema "github.com/brevosync/brevosync/sql"
)

// Running the import jobs, one in the CRM at a time: submit, track the
// process, write the outcomes; and the per-contact fallback for the
// contacts whose fate an import's reports could not tell.

// notBeforeSending names, in the error text of a contact failed before any
// request, who rejected it: "rejected by brevosync before sending: …".
const notBeforeSending = "brevosync before sending"

// runLoop runs the open jobs in order: the one in the CRM first, then the
// oldest pending one.
func (im *importer) runLoop(ctx context.Context) {
	backoff := dbBackoff()
	for ctx.Err() == nil {
		j, ok, err := nextJob(ctx, im.s.db, jobPending, jobSubmitting, jobSubmitted)
		if err != nil {
			im.s.logUnlessDone(ctx, "read the import jobs", err)
			d, _ := backoff.Next()
			sleep(ctx, d, nil)
			continue
		}
		backoff = dbBackoff()
		switch {
		case !ok:
			sleep(ctx, time.Hour, im.runWake)
		case j.state == jobSubmitted:
			im.track(ctx, j)
		case im.off() > 0:
			sleep(ctx, im.off(), nil)
		default:
			im.submit(ctx, j)
		}
	}
}

// jobFamilies reads the contacts a job still holds, grouped by email.
func (im *importer) jobFamilies(ctx context.Context, j job) ([][]Contact, error) {
	cs, err := jobContacts(ctx, im.s.db, j)
	if err != nil {
		return nil, err
	}
	return families(cs), nil
}

// each applies f to every contact of fams.
func each(fams [][]Contact, f func(Contact) outcome) []outcome {
	var out []outcome
	for _, fam := range fams {
		for _, c := range fam {
			out = append(out, f(c))
		}
	}
	return out
}

func latests(fams [][]Contact) []Contact {
	out := make([]Contact, len(fams))
	for i, f := range fams {
		out[i] = latest(f)
	}
	return out
}

// submit sends a pending job to the CRM. Contacts that cannot be valid are
// failed first, and what no longer fits (the rows changed since the claim)
// is handed back.
func (im *importer) submit(ctx context.Context, j job) {
	fams, err := im.jobFamilies(ctx, j)
	if err != nil {
		im.s.logUnlessDone(ctx, "prepare an import", err)
		sleep(ctx, time.Second, nil)
		return
	}
	var outs []outcome
	keep := fams[:0:0]
	for _, f := range fams {
		if err := im.crm.CheckImport(latest(f)); err != nil {
			outs = append(outs, each([][]Contact{f}, func(c Contact) outcome {
				return failure(im.s.cfg.Retry, notBeforeSending, c, j.token, err)
			})...)
			continue
		}
		keep = append(keep, f)
	}
	notifyURL, secret := im.notifyURL(j.id)
	rows := latests(keep)
	n, bytes := im.crm.FitImport(rows, notifyURL)
	outs = append(outs, each(keep[n:], func(c Contact) outcome { return release(c, j.token, 0) })...)
	keep, rows = keep[:n], rows[:n]
	if !im.writeAll(ctx, outs) {
		return
	}
	if len(keep) == 0 {
		im.endJob(ctx, j, jobUpdate{to: jobDone, finished: true, result: "empty", clearIDs: true})
		return
	}
	var hash []byte
	if secret != "" {
		h := sha256.Sum256([]byte(secret))
		hash = h[:]
	}
	ok, err := setJob(ctx, im.s.db, j.id, jobUpdate{from: []string{jobPending, jobSubmitting}, to: jobSubmitting,
		secret: hash, rowsInBody: n, bytes: bytes})
	if err != nil || !ok {
		im.s.logUnlessDone(ctx, "start an import", cmpErr(err, "job taken over"))
		return
	}
	if err := im.pace(ctx); err != nil {
		// Shutting down before the request: the job waits its turn again.
		if _, err := setJob(context.WithoutCancel(ctx), im.s.db, j.id, jobUpdate{from: []string{jobSubmitting}, to: jobPending}); err != nil {
			im.log.WarnContext(ctx, "could not requeue an import", slog.Int64("job", j.id), slog.Any("err", err))
		}
		return
	}
	// The request is not cut short by a shutdown: once sent, its process id
	// must be recorded, or the next driver would import the chunk again.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	process, err := im.crm.StartImport(sctx, rows, notifyURL)
	cancel()
	if err != nil {
		im.submitFailed(ctx, j, keep, err)
		return
	}
	// Brevo has the import: record its process, through a database outage
	// too, or a later driver would import the chunk again.
	backoff := dbBackoff()
	for {
		_, err := setJob(context.WithoutCancel(ctx), im.s.db, j.id, jobUpdate{from: []string{jobSubmitting},
			to: jobSubmitted, process: process, submitted: true})
		if err == nil {
			break
		}
		d, _ := backoff.Next()
		if ctx.Err() != nil || !sleep(context.WithoutCancel(ctx), d, nil) {
			im.log.ErrorContext(ctx, "could not record an import's process; the next driver will import the chunk again",
				slog.Int64("job", j.id), slog.String("process", process), slog.Any("err", err))
			return
		}
		im.s.logUnlessDone(ctx, "record an import's process", err)
	}
	im.log.InfoContext(ctx, "import submitted", slog.Int64("job", j.id), slog.String("process", process),
		slog.Int("contacts", n), slog.Int("bytes", bytes))
}

// submitFailed handles a refused or failed import request.
func (im *importer) submitFailed(ctx context.Context, j job, keep [][]Contact, err error) {
	back := jobUpdate{from: []string{jobSubmitting}, to: jobPending}
	switch im.crmFailed(ctx, err) {
	case RateLimited, Unauthorized:
		// Not sent: the job waits its turn again; pace holds it back.
		if _, err := setJob(context.WithoutCancel(ctx), im.s.db, j.id, back); err != nil {
			im.s.logUnlessDone(ctx, "requeue an import", err)
		}
		return
	case Rejected:
		// The CRM refused the request as a whole: nothing about these
		// contacts says why. They go one by one instead, and imports stay
		// off for a while, lest every backlog meet the same refusal.
		im.offUntil.Store(time.Now().Add(im.cfg.Cooldown).UnixNano())
		im.log.ErrorContext(ctx, im.s.crm.Name()+" refused an import; its contacts are sent one by one, "+
			"and imports are off for a while", slog.Int64("job", j.id), slog.Duration("off_for", im.cfg.Cooldown),
			slog.Any("err", err))
		if im.writeAll(ctx, each(keep, func(c Contact) outcome { return release(c, j.token, 0) })) {
			im.endJob(ctx, j, jobUpdate{to: jobDone, finished: true, result: "refused", clearIDs: true})
		}
		im.releasePending(ctx)
		return
	}
	im.log.WarnContext(ctx, "import request failed; its contacts are retried", slog.Int64("job", j.id), slog.Any("err", err))
	if im.writeAll(ctx, each(keep, func(c Contact) outcome { return failure(im.s.cfg.Retry, im.s.crm.Name(), c, j.token, err) })) {
		im.endJob(ctx, j, jobUpdate{to: jobDone, finished: true, result: "not submitted", clearIDs: true})
	}
}

// releasePending hands back every pending job's contacts, uncharged.
func (im *importer) releasePending(ctx context.Context) {
	for ctx.Err() == nil {
		j, ok, err := nextJob(ctx, im.s.db, jobPending)
		if err != nil || !ok {
			return
		}
		fams, err := im.jobFamilies(ctx, j)
		if err != nil || !im.writeAll(ctx, each(fams, func(c Contact) outcome { return release(c, j.token, 0) })) {
			return
		}
		im.endJob(ctx, j, jobUpdate{to: jobDone, finished: true, result: "released", clearIDs: true})
	}
}

// endJob records a job's end (or next state), logging a failure.
func (im *importer) endJob(ctx context.Context, j job, u jobUpdate) {
	if _, err := setJob(context.WithoutCancel(ctx), im.s.db, j.id, u); err != nil {
		im.s.logUnlessDone(ctx, "record an import's end", err)
	}
	if u.to == jobDone {
		if err := pruneJobs(ctx, im.s.db); err != nil {
			im.s.logUnlessDone(ctx, "prune import jobs", err)
		}
	}
}

func cmpErr(err error, otherwise string) error {
	if err != nil {
		return err
	}
	return errors.New(otherwise)
}

// track follows a submitted job's process until it ends.
func (im *importer) track(ctx context.Context, j job) {
	lastMiss := time.Duration(0) // since submission, of the last check that found it running
	for ctx.Err() == nil {
		fresh, err := readJob(ctx, im.s.db, j.id)
		if err != nil {
			im.s.logUnlessDone(ctx, "follow an import", err)
			sleep(ctx, time.Second, nil)
			continue
		}
		if j = fresh; j.state != jobSubmitted {
			return
		}
		if wait := time.Until(im.nextCheck(j)); wait > 0 {
			sleep(ctx, wait, im.runWake)
			continue
		}
		rate, burst := im.cfg.procBudget()
		ok, wait, err := takeProcessToken(ctx, im.s.db, rate, burst)
		if err != nil || !ok {
			if err != nil {
				im.s.logUnlessDone(ctx, "spend the processes budget", err)
				wait = time.Second
			}
			sleep(ctx, wait, nil)
			continue
		}
		st, err := im.crm.ImportStatus(ctx, j.process)
		if _, uerr := setJob(ctx, im.s.db, j.id, jobUpdate{checked: true}); uerr != nil {
			im.s.logUnlessDone(ctx, "record an import check", uerr)
		}
		elapsed := time.Since(j.submitted)
		switch {
		case err != nil:
			if im.checkFailed(ctx, j, err) {
				return
			}
		case st.State == ImportCompleted:
			im.learn(j.rowsInBody, elapsed, lastMiss, !j.notified.IsZero())
			im.finish(ctx, j, st)
			return
		case st.State == ImportFailed:
			im.failJob(ctx, j, st.Status, fmt.Errorf("%s import process %s ended %s", im.s.crm.Name(), j.process, st.Status))
			return
		case elapsed > im.cfg.Timeout:
			im.failJob(ctx, j, "timed out", fmt.Errorf("%s import process %s still %s after %s", im.s.crm.Name(),
				j.process, st.Status, im.cfg.Timeout))
			return
		default:
			lastMiss = elapsed
		}
	}
}

// checkFailed acts on a failed process read; it reports true when the job
// has ended for it (the CRM does not know the process).
func (im *importer) checkFailed(ctx context.Context, j job, err error) bool {
	if KindOf(err) == RateLimited {
		// The processes endpoint has a limit of its own, not the one the
		// Pacer keeps: hold the processes budget, for every replica.
		e, _ := errors.AsType[*Error](err)
		im.log.WarnContext(ctx, "the processes endpoint is rate limited; checks wait", slog.Duration("wait", e.Wait))
		if herr := holdProcesses(ctx, im.s.db, max(e.Wait, time.Second)); herr != nil {
			im.s.logUnlessDone(ctx, "hold the processes budget", herr)
		}
		return false
	}
	switch im.crmFailed(ctx, err) {
	case Unauthorized:
		_ = im.s.budget.waitOpen(ctx)
	case Rejected:
		im.failJob(ctx, j, "unknown process", err)
		return true
	default:
		im.s.logUnlessDone(ctx, "read an import's process", err)
	}
	return false
}

// nextCheck is when to read a submitted job's process: at once after a
// notifyUrl call; else when it should be done by the speed seen so far,
// then backing off (doubling, up to 5 minutes). With a notifyUrl the polls
// are only a fallback, starting after 2 minutes.
func (im *importer) nextCheck(j job) time.Time {
	if !j.notified.IsZero() && j.notified.After(j.checked) {
		return time.Time{}
	}
	expect := im.cfg.CheckInterval
	if v := math.Float64frombits(im.speed.Load()); v > 0 {
		expect = max(expect, time.Duration(float64(j.rowsInBody)/v*float64(time.Second)))
	}
	first, cap := expect, 5*time.Minute
	if j.hasSecret {
		first, cap = max(2*time.Minute, 4*expect), 30*time.Minute
	}
	if j.checks == 0 {
		return j.submitted.Add(first)
	}
	gap := time.Duration(math.Min(float64(cap), float64(first)*math.Pow(2, float64(j.checks-1))))
	return j.checked.Add(gap)
}

// learn estimates the CRM's import speed from a completed job: it ended
// between the last check that found it running and the one that found it
// done (or when the notifyUrl was called).
func (im *importer) learn(rows int, found, lastMiss time.Duration, notified bool) {
	took := (found + lastMiss) / 2
	switch {
	case notified:
		took = found
	case lastMiss == 0:
		took = found * 4 / 5
	}
	if rows > 0 && took > 0 {
		im.speed.Store(math.Float64bits(float64(rows) / took.Seconds()))
	}
}

// failJob ends a job whose import failed: its contacts are retried under
// the retry policy.
func (im *importer) failJob(ctx context.Context, j job, result string, cause error) {
	fams, err := im.jobFamilies(ctx, j)
	if err != nil {
		im.s.logUnlessDone(ctx, "fail an import", err)
		return
	}
	im.log.WarnContext(ctx, "import failed; its contacts are retried", slog.Int64("job", j.id),
		slog.String("process", j.process), slog.Any("err", cause))
	err = &Error{Kind: Retryable, Err: cause}
	if im.writeAll(ctx, each(fams, func(c Contact) outcome { return failure(im.s.cfg.Retry, im.s.crm.Name(), c, j.token, err) })) {
		im.endJob(ctx, j, jobUpdate{from: []string{jobSubmitted}, to: jobDone, finished: true, result: result, clearIDs: true})
	}
}

// finish writes a completed import's outcomes: Complete, Failed for the
// rows its reports rejected, and the rows it cannot tell about kept for
// the per-contact fallback.
func (im *importer) finish(ctx context.Context, j job, st ImportStatus) {
	fams, err := im.jobFamilies(ctx, j)
	if err != nil {
		im.s.logUnlessDone(ctx, "finish an import", err)
		return
	}
	rep := im.crm.ImportRejections(ctx, st, latests(fams))
	if ctx.Err() != nil {
		return // the reports may have been cut short: the next driver reads them again
	}
	var outs []outcome
	rejected, unknown := 0, 0
	for _, f := range fams {
		key := schema.NormalizeEmail(latest(f).Email)
		cause, isRejected := rep.Rejected[key]
		switch {
		case isRejected:
			err := &Error{Kind: Rejected, Text: cause, Err: errors.New(cause)}
			outs = append(outs, each([][]Contact{f}, func(c Contact) outcome {
				return failure(im.s.cfg.Retry, im.s.crm.Name(), c, j.token, err)
			})...)
			rejected += len(f)
		case rep.Unknown[key]:
			unknown += len(f)
		default:
			outs = append(outs, each([][]Contact{f}, func(c Contact) outcome {
				return complete(c, j.token, Sent{Status: 200}, key)
			})...)
		}
	}
	if !im.writeAll(ctx, outs) {
		return
	}
	next := jobIDs
	if unknown > 0 {
		next = jobUpserting
	}
	im.endJob(ctx, j, jobUpdate{from: []string{jobSubmitted}, to: next, finished: true, result: "completed",
		rejected: rejected, fallback: unknown})
	im.log.InfoContext(ctx, "import completed", slog.Int64("job", j.id), slog.String("process", j.process),
		slog.Int("complete", len(outs)-rejected), slog.Int("rejected", rejected), slog.Int("sent_one_by_one", unknown),
		slog.Duration("took", time.Since(j.submitted)))
	signal(im.idsWake)
	if unknown > 0 {
		signal(im.fallbackWake)
	}
}
