package syncer

import (
	"context"
	"log/slog"
	"time"
)

// The CRM's ids of imported contacts. An import does not say which id each
// contact got, so the driver lists the contacts the CRM modified since the
// first import still waiting for ids, a page at a time at the Pacer's rate,
// and fills brevo_contact_id on the synced rows of those emails that have
// none, as an upsert's answer would have.

// idSlack is how much earlier than an import's submission the listing
// starts: the database's clock and the CRM's need not agree.
const idSlack = time.Minute

// idLoop lists ids while imports wait for them. A round lists from the
// cursor to the end of the list; jobs finished before the round started are
// then done. The cursor is kept in the database, so that a new driver goes
// on where the last one stopped.
func (im *importer) idLoop(ctx context.Context) {
	for ctx.Err() == nil {
		earliest, started, ok, err := idJobs(ctx, im.s.db)
		if err != nil || !ok {
			if err != nil {
				im.s.logUnlessDone(ctx, "read the imports waiting for ids", err)
				sleep(ctx, time.Second, nil)
			} else {
				sleep(ctx, time.Hour, im.idsWake)
			}
			continue
		}
		cur, have, err := idCursor(ctx, im.s.db)
		if err != nil {
			im.s.logUnlessDone(ctx, "read the id cursor", err)
			sleep(ctx, time.Second, nil)
			continue
		}
		if floor := earliest.Add(-idSlack); !have || cur.Since.Before(floor) {
			cur = IDCursor{Since: floor} // nothing older waits for ids
		}
		filled, pages, ok := im.idRound(ctx, cur)
		if !ok {
			continue
		}
		n, err := idsDone(ctx, im.s.db, started)
		if err != nil {
			im.s.logUnlessDone(ctx, "record the ids filled", err)
			continue
		}
		im.log.InfoContext(ctx, "contact ids filled", slog.Int64("contacts", filled), slog.Int("pages", pages),
			slog.Int64("imports", n))
		if im.cfg.OnIDs != nil {
			im.cfg.OnIDs(filled, n)
		}
	}
}

// idRound lists from cur to the end of the list, filling ids; it reports
// false when it stopped early (ctx ended, or the database failed).
func (im *importer) idRound(ctx context.Context, cur IDCursor) (filled int64, pages int, ok bool) {
	// The latest modification seen and how many contacts had it: the next
	// round starts there, past those.
	var lastSeen time.Time
	atLast := 0
	backoff := dbBackoff()
	for ctx.Err() == nil {
		if err := im.pace(ctx); err != nil {
			return filled, pages, false
		}
		page, err := im.crm.ContactIDs(ctx, cur)
		if err != nil {
			switch im.crmFailed(ctx, err) {
			case Rejected:
				// The CRM will not list them: the ids stay NULL, as after
				// an update that returned none.
				im.log.WarnContext(ctx, "cannot list the imported contacts' ids; they stay empty", slog.Any("err", err))
				return filled, pages, true
			case Retryable:
				im.s.logUnlessDone(ctx, "list the imported contacts' ids", err)
				d, _ := backoff.Next()
				sleep(ctx, d, nil)
			}
			continue
		}
		backoff = dbBackoff()
		pages++
		if len(page.IDs) > 0 {
			n, err := fillIDs(ctx, im.s.db, page.IDs, im.s.touchUpdatedAt)
			if err != nil {
				im.s.logUnlessDone(ctx, "fill contact ids", err)
				return filled, pages, false
			}
			filled += n
		}
		switch {
		case page.LastModified.Equal(lastSeen):
			atLast += page.AtLast
		case page.LastModified.After(lastSeen):
			lastSeen, atLast = page.LastModified, page.AtLast
		}
		cur = page.Next
		if page.Last && !lastSeen.IsZero() {
			cur = IDCursor{Since: lastSeen, Offset: atLast}
		}
		if err := saveIDCursor(ctx, im.s.db, cur); err != nil {
			im.s.logUnlessDone(ctx, "save the id cursor", err)
		}
		if page.Last {
			return filled, pages, true
		}
	}
	return filled, pages, false
}
