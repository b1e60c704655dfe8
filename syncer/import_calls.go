package syncer

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// The bulk path's calls to the CRM: pacing and what a failure does, the
// notifyUrl of a job, and the per-contact fallback.

// pace waits for the Pacer: a token of the rate limit, and no pause.
func (im *importer) pace(ctx context.Context) error {
	for {
		err := im.s.budget.Wait(ctx)
		e, ok := errors.AsType[*Error](err)
		switch {
		case err == nil || !ok:
			return err
		case e.Kind == RateLimited:
			if !sleep(ctx, e.Wait, nil) {
				return ctx.Err()
			}
		default:
			if err := im.s.budget.waitOpen(ctx); err != nil {
				return err
			}
		}
	}
}

// crmFailed acts on a failed CRM call as the per-contact path does: a 429
// holds every request back, refused credentials pause sending until the
// prober sees them work. It returns the error's kind.
func (im *importer) crmFailed(ctx context.Context, err error) ErrorKind {
	kind := KindOf(err)
	e, _ := errors.AsType[*Error](err)
	switch kind {
	case RateLimited:
		im.s.budget.rateLimited(max(e.Wait, time.Second))
	case Unauthorized:
		s := im.s
		if s.budget.pauseAuth() {
			s.metrics.setPaused("unauthorized", true)
			s.log.ErrorContext(ctx, s.crm.Name()+" refuses the API key; sending is paused and no contact is failed for it. "+
				"Fix the key (see err); brevosync keeps probing and resumes by itself.", slog.Any("err", err))
			s.background.Go(func() { s.probeAuth(ctx) })
		}
	}
	return kind
}

// notifyURL returns a job's notifyUrl and the secret in it, both empty
// without a public URL. The secret is random per job; only its hash is
// stored.
func (im *importer) notifyURL(id int64) (url, secret string) {
	if im.cfg.PublicURL == "" {
		return "", ""
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret = base64.RawURLEncoding.EncodeToString(b[:])
	return strings.TrimRight(im.cfg.PublicURL, "/") + ImportNotifyPath + strconv.FormatInt(id, 10) + "/" + secret, secret
}

// placeholderURL is as long as the job's notifyUrl will be, for measuring.
func (im *importer) placeholderURL(id int64) string {
	u, _ := im.notifyURL(id)
	return u
}

// fallbackLoop sends, one by one through the per-contact path, the
// contacts whose fate an import's reports could not tell.
func (im *importer) fallbackLoop(ctx context.Context) {
	for ctx.Err() == nil {
		j, ok, err := nextJob(ctx, im.s.db, jobUpserting)
		if err != nil || !ok {
			if err != nil {
				im.s.logUnlessDone(ctx, "read the import jobs", err)
			}
			sleep(ctx, time.Hour, im.fallbackWake)
			continue
		}
		fams, err := im.jobFamilies(ctx, j)
		if err != nil {
			im.s.logUnlessDone(ctx, "read an import's remaining contacts", err)
			sleep(ctx, time.Second, nil)
			continue
		}
		for _, f := range fams {
			if ctx.Err() != nil {
				return // the rest stays held by the job, for the next driver
			}
			v := im.s.attempt(ctx, ctx, latest(f))
			im.writeAll(ctx, each([][]Contact{f}, func(c Contact) outcome {
				return v.outcome(im.s.cfg.Retry, im.s.crm.Name(), c, j.token)
			}))
		}
		im.endJob(ctx, j, jobUpdate{from: []string{jobUpserting}, to: jobIDs})
		signal(im.idsWake)
	}
}
