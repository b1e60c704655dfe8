package brevotest

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

// Import notification limits.
const (
	notifyAttempts = 3
	notifyBackoff  = 50 * time.Millisecond // doubled after each failed attempt
	notifyTimeout  = 2 * time.Second
)

// notification is a finished import's notifyUrl call, waiting to be made.
type notification struct {
	id  int64
	url string
}

// notifyLocked queues the notification of finished import p, starting the
// sender if it is not running.
func (s *Server) notifyLocked(p *process) {
	imp := &s.imports
	imp.notes = append(imp.notes, notification{p.ID, p.NotifyURL})
	if !imp.notifying {
		imp.notifying = s.goLocked(s.sendNotifications)
	}
}

// sendNotifications makes the queued notifyUrl calls in order until none
// is left or the server closes, recording each outcome.
func (s *Server) sendNotifications() {
	hc := &http.Client{Timeout: notifyTimeout}
	for {
		s.mu.Lock()
		imp := &s.imports
		if len(imp.notes) == 0 || s.ctx.Err() != nil {
			imp.notifying = false
			s.mu.Unlock()
			return
		}
		n := imp.notes[0]
		imp.notes = imp.notes[1:]
		s.mu.Unlock()

		err := s.notifyImport(hc, n.url)

		s.mu.Lock()
		p := imp.procs[n.id-1]
		if err == nil {
			p.Notified = true
			s.stats.ImportNotifications++
		} else {
			p.NotifyError = err.Error()
			s.stats.ImportNotificationsFailed++
		}
		s.broadcastLocked()
		s.mu.Unlock()
	}
}

// notifyImport POSTs an empty body to url, untouched, as Brevo calls an
// import's notifyUrl, retrying failures with a short backoff.
func (s *Server) notifyImport(hc *http.Client, url string) error {
	var err error
	backoff := notifyBackoff
	for attempt := range notifyAttempts {
		if attempt > 0 {
			if !s.wait(backoff) {
				return fmt.Errorf("server closed; last attempt: %w", err)
			}
			backoff *= 2
		}
		req, rerr := http.NewRequestWithContext(s.ctx, http.MethodPost, url, http.NoBody)
		if rerr != nil {
			return rerr // a malformed URL: no retry helps
		}
		req.Header.Set("User-Agent", "brevotest-import")
		resp, derr := hc.Do(req)
		if derr != nil {
			err = derr
			continue
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			return nil
		}
		err = fmt.Errorf("notifyUrl answered %d", resp.StatusCode)
	}
	return err
}
