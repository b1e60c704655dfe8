package brevotest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Process statuses, as Brevo names them.
const (
	statusQueued    = "queued"
	statusInProcess = "in_process"
	statusCompleted = "completed"
	statusFailed    = "failed"
	statusCancelled = "cancelled"
)

// Import processing pace.
const (
	defaultImportRate = 20_000               // rows a second
	importChunk       = 2_000                // rows applied per hold of the mutex
	importTick        = 2 * time.Millisecond // shortest wait between chunks
)

// Process is an import process as the simulator holds it.
type Process struct {
	// ID is the process id, counting from 1.
	ID int64
	// Status is "queued", "in_process", "completed", "failed" or
	// "cancelled".
	Status string
	// Rows is the number of jsonBody rows.
	Rows int
	// Processed counts the rows handled so far, rejected ones included.
	Processed int
	// Imported counts the rows applied: a contact created or updated.
	Imported int
	// Rejected are the rejected rows' emails, as sent, by report:
	// "invalid_emails", "duplicate_email_id" or "duplicate_phone_id".
	Rejected map[string][]string
	// ListIDs are the import's listIds.
	ListIDs []int64
	// NotifyURL is the import's notifyUrl ("" for none).
	NotifyURL string
	// Submitted is when the import was accepted, Started when it left the
	// queue and Finished when it ended; zero until then.
	Submitted, Started, Finished time.Time
	// Notified reports whether NotifyURL answered 2xx.
	Notified bool
	// NotifyError is why notifying NotifyURL failed, after every attempt.
	NotifyError string
}

// process is the stored form of a Process.
type process struct {
	Process
	rows []importRow // dropped when finished
	opts importOptions
	seen map[string]bool // emails imported so far
	fail string          // status to end with instead of importing
	// clockStart and clockRows pace the import: at rate r, row
	// clockRows + n is due n/r seconds after clockStart.
	clockStart time.Time
	clockRows  int
}

func (p *process) export() Process {
	out := p.Process
	out.Rejected = maps.Clone(p.Rejected)
	for k, v := range out.Rejected {
		out.Rejected[k] = slices.Clone(v)
	}
	out.ListIDs = slices.Clone(p.ListIDs)
	return out
}

func (p *process) finished() bool {
	return p.Status != statusQueued && p.Status != statusInProcess
}

// importer is the import state of a Server, guarded by its mutex.
type importer struct {
	procs         []*process // by id - 1
	head          int        // index of the first unfinished process
	rate          float64    // rows a second; 0: paused
	running       bool       // runImports is running
	wake          chan struct{}
	failNext      string
	reportsBroken bool
	notes         []notification // waiting for sendNotifications
	notifying     bool           // sendNotifications is running
}

func newImporter(rate float64) importer {
	if rate <= 0 {
		rate = defaultImportRate
	}
	return importer{rate: rate, wake: make(chan struct{}, 1)}
}

// Processes returns copies of every import process, by id.
func (s *Server) Processes() []Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Process, len(s.imports.procs))
	for i, p := range s.imports.procs {
		out[i] = p.export()
	}
	return out
}

// WaitProcess blocks until process id exists and has one of statuses
// (none given: until it has finished, whatever its end), or ctx ends; it
// returns a copy of the process.
func (s *Server) WaitProcess(ctx context.Context, id int64, statuses ...string) (Process, error) {
	for {
		s.mu.Lock()
		var (
			p    Process
			done bool
		)
		if id >= 1 && id <= int64(len(s.imports.procs)) {
			sp := s.imports.procs[id-1]
			p = sp.export()
			done = slices.Contains(statuses, sp.Status) || len(statuses) == 0 && sp.finished()
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		changed := s.changed
		s.mu.Unlock()
		if done {
			return p, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return p, ctx.Err()
		}
	}
}

// FailNextImport makes the next import accepted end with status, "failed"
// or "cancelled", as soon as it leaves the queue, without applying any row.
// "" withdraws it. Any other status panics.
func (s *Server) FailNextImport(status string) {
	switch status {
	case "", statusFailed, statusCancelled:
	default:
		panic(fmt.Sprintf("brevotest: FailNextImport(%q): want \"failed\" or \"cancelled\"", status))
	}
	s.mu.Lock()
	s.imports.failNext = status
	s.mu.Unlock()
}

// BreakReports makes the report URLs answer 500 while on.
func (s *Server) BreakReports(on bool) {
	s.mu.Lock()
	s.imports.reportsBroken = on
	s.mu.Unlock()
}

// SetImportSpeed changes Config.ImportRowsPerSecond from now on, for the
// import in process too. 0 (or less) pauses imports: the one in process
// stays in_process without applying more rows and the others wait queued,
// until a later call sets a speed.
func (s *Server) SetImportSpeed(rowsPerSecond float64) {
	s.mu.Lock()
	imp := &s.imports
	imp.rate = max(0, rowsPerSecond)
	if imp.head < len(imp.procs) {
		if p := imp.procs[imp.head]; p.Status == statusInProcess {
			p.clockStart, p.clockRows = time.Now(), p.Processed
		}
	}
	s.mu.Unlock()
	select {
	case s.imports.wake <- struct{}{}:
	default:
	}
}

// runImports processes imports one at a time, in arrival order, until none
// is left or the server closes.
func (s *Server) runImports() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		wait, more := s.stepImportLocked(time.Now())
		if !more || s.ctx.Err() != nil {
			s.imports.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if wait == 0 {
			continue
		}
		var tick <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-tick:
		case <-s.imports.wake:
		case <-s.ctx.Done():
		}
	}
}

// stepImportLocked advances the first unfinished import: starts it, applies
// the rows due by now (at most importChunk) and finishes it after its last
// row. It returns how long to wait before the next step (0: at once,
// negative: until woken), and false when no import is left.
func (s *Server) stepImportLocked(now time.Time) (wait time.Duration, more bool) {
	imp := &s.imports
	if imp.head >= len(imp.procs) {
		return 0, false
	}
	p := imp.procs[imp.head]
	if p.Status == statusQueued {
		p.Status, p.Started = statusInProcess, now
		p.clockStart, p.clockRows = now, 0
		s.broadcastLocked()
		if p.fail != "" {
			s.finishImportLocked(p, p.fail, now)
			return 0, true
		}
	}
	if imp.rate > 0 {
		due := p.clockRows + int(now.Sub(p.clockStart).Seconds()*imp.rate)
		due = min(due, len(p.rows), p.Processed+importChunk)
		if due > p.Processed {
			for ; p.Processed < due; p.Processed++ {
				s.importRowLocked(p, p.rows[p.Processed], now)
			}
			s.broadcastLocked()
		}
	}
	switch {
	case p.Processed == len(p.rows):
		s.finishImportLocked(p, statusCompleted, now)
		return 0, true
	case imp.rate <= 0:
		return -1, true
	}
	// The next row is due when (p.Processed+1-p.clockRows)/rate seconds
	// have passed since clockStart; a microsecond more absorbs rounding.
	next := p.clockStart.Add(time.Duration(float64(p.Processed+1-p.clockRows)/imp.rate*float64(time.Second)) + time.Microsecond)
	d := next.Sub(now)
	if d <= 0 { // more rows are due: the chunk was full
		return 0, true
	}
	return max(d, importTick), true
}

// finishImportLocked ends p with status and queues its notification.
func (s *Server) finishImportLocked(p *process, status string, now time.Time) {
	p.Status, p.Finished = status, now
	p.rows, p.seen = nil, nil
	s.imports.head++
	s.stats.ImportsFinished++
	if p.NotifyURL != "" {
		s.notifyLocked(p)
	}
	s.broadcastLocked()
}
