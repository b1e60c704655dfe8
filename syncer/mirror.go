package syncer

import (
	"context"
	"log/slog"
	"sync"

	schema "github.com/brevosync/brevosync/sql"
)

// The mirror's removals (contract §8): a synced contact that was unselected
// (a row in RemovalPending) or deleted (a row of brevosync_removals) leaves
// the lists every synced contact joins. The CRM's contact is kept. One
// removal call takes up to removalBatch emails.

// removalBatch is the most emails one removal call names (Brevo: 150).
const removalBatch = 150

// startRemovals hands the claimed rows to removers, removalBatch at a time.
func (s *Syncer) startRemovals(ctx, reqCtx context.Context, token string, rows []Contact, work *sync.WaitGroup) {
	for start := 0; start < len(rows); start += removalBatch {
		batch := rows[start:min(start+removalBatch, len(rows))]
		work.Go(func() { s.removeRows(ctx, reqCtx, token, batch) })
	}
}

// removeRows removes a batch of unselected rows from the lists and hands
// every row's outcome to the finalizer.
func (s *Syncer) removeRows(ctx, reqCtx context.Context, token string, rows []Contact) {
	emails := make([]string, len(rows))
	for i, c := range rows {
		emails[i] = removalEmail(c.SyncedEmail, c.Email)
	}
	v := s.remove(ctx, reqCtx, emails, ids(rows))
	for _, c := range rows {
		s.inflight.Add(-1)
		select {
		case s.slotFree <- struct{}{}:
		default:
		}
		s.results <- v.outcome(s.cfg.Retry, s.crm.Name(), c, token)
	}
}

// removalEmail is the email the CRM has a contact under: the one it was
// last sent, else the row's.
func removalEmail(synced, email string) string {
	if synced != "" {
		return synced
	}
	return schema.NormalizeEmail(email)
}

func ids(rows []Contact) []string {
	out := make([]string, len(rows))
	for i, c := range rows {
		out[i] = c.ID
	}
	return out
}

// remove takes emails out of the lists, except those another row still
// needs there (one email, several rows: Brevo has one contact for them).
// exclude are the rows being removed themselves.
func (s *Syncer) remove(ctx, reqCtx context.Context, emails, exclude []string) verdict {
	m, ok := s.crm.(Mirror)
	if !ok {
		return verdict{} // a CRM without lists: nothing to do
	}
	keep, err := stillListed(ctx, s.db, emails, exclude)
	if err != nil {
		s.logUnlessDone(ctx, "look for other rows of removed emails", err)
		return handBack(0)
	}
	var gone []string
	for _, e := range emails {
		if !keep[e] {
			gone = append(gone, e)
		}
	}
	if len(gone) == 0 {
		return verdict{}
	}
	return s.paced(ctx, reqCtx, func(ctx context.Context) (Sent, error) {
		return Sent{}, m.Remove(ctx, gone)
	}, "")
}

// drainDeleted removes the emails of deleted rows (brevosync_removals) from
// the lists, removalBatch at a time, until none is due. It runs in the
// claim loop, so deletions are removed within moments, and across restarts.
func (s *Syncer) drainDeleted(ctx, reqCtx context.Context) {
	for ctx.Err() == nil {
		batch, err := claimDeleted(ctx, s.db, removalBatch, s.cfg.Lease)
		if err != nil {
			s.logUnlessDone(ctx, "claim deleted contacts' removals", err)
			return
		}
		if len(batch) == 0 {
			return
		}
		emails := make([]string, len(batch))
		for i, d := range batch {
			emails[i] = removalEmail("", d.email)
		}
		v := s.remove(ctx, reqCtx, emails, nil)
		if err := finishDeleted(context.WithoutCancel(ctx), s.db, batch, v, s.cfg.Retry); err != nil {
			s.logUnlessDone(ctx, "record deleted contacts' removals", err)
			return
		}
		if v.err != nil || v.release {
			s.log.WarnContext(ctx, "could not remove deleted contacts from the lists; retrying later",
				slog.Int("count", len(batch)), slog.Any("err", v.err))
			return
		}
		s.log.DebugContext(ctx, "deleted contacts removed from the lists", slog.Int("count", len(batch)))
		if len(batch) < removalBatch {
			return
		}
	}
}
