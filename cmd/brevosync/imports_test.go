package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/brevosync/brevosync/cmd/brevosync/bench"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// importVars are the settings of a serve that imports backlogs of 200 or
// more into list 5, with a short lease so that a dead driver is replaced
// quickly.
func (e *e2e) importVars(extra ...string) map[string]string {
	return e.vars(append([]string{
		"BREVO_LIST_ID", "5",
		"BREVO_SYNC_IMPORT_THRESHOLD", "200",
		"BREVO_SYNC_RATE_LIMIT", "20",
		"BREVO_SYNC_LEASE", "2s",
		"BREVO_REQUEST_TIMEOUT", "1s",
		"BREVO_SYNC_SWEEP_INTERVAL", "1h",
	}, extra...)...)
}

func (e *e2e) waitProcess(t *testing.T, id int64, statuses ...string) brevotest.Process {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	p, err := e.sim.WaitProcess(ctx, id, statuses...)
	if err != nil {
		t.Fatalf("process %d never %v: %v", id, statuses, err)
	}
	return p
}

// TestSIGKILLMidImportLosesNothing: the process driving an import is
// killed while Brevo processes it. Its contacts stay held by the import
// job (not by leases that would expire), the next process takes the job
// over once the dead one's driver lease lapses, follows the same process
// to its end without importing again, and every contact ends Complete,
// charged nothing, with nothing left claimed.
func TestSIGKILLMidImportLosesNothing(t *testing.T) {
	t.Parallel()
	const n = 1000
	e := newE2E(t, brevotest.Config{})
	e.sim.SetImportSpeed(0) // in process until the test lets it go
	p := startProcess(t, e.importVars())
	e.seed(t, "imp", n)
	e.waitProcess(t, 1, "in_process")
	// Mid-import: Brevo has it and the job knows its process. (A kill in
	// the milliseconds between the two makes the next driver submit the
	// chunk again; see the README's faults.)
	e.waitJobSubmitted(t, 1)
	held := e.count(t, "brevo_sync_status = 'Processing' AND brevo_lease_until > now() + interval '1 hour'")
	if held < n/2 {
		t.Fatalf("the import holds %d of %d contacts", held, n)
	}
	if err := p.Cmd.Process.Kill(); err != nil { // SIGKILL, mid-import
		t.Fatal(err)
	}
	waitExit(t, p, 10*time.Second)
	if got := e.count(t, "brevo_sync_status = 'Processing' AND brevo_lease_until > now() + interval '1 hour'"); got != held {
		t.Fatalf("%d contacts held after SIGKILL, want the import's %d", got, held)
	}

	next := startProcess(t, e.importVars())
	if err := next.WaitLog(t.Context(), `"msg":"driving imports"`, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	e.sim.SetImportSpeed(20000)
	e.waitRows(t, "brevo_sync_status = 'Complete' AND brevo_retry_count = 0 AND brevo_claim_token IS NULL", n, 60*time.Second)
	if st := e.sim.Stats(); st.Imports != 1 || st.OverlappingImports != 0 {
		t.Errorf("imports %d (overlapping %d); want the killed process's one, followed to its end", st.Imports, st.OverlappingImports)
	}
	if got := e.count(t, "brevo_lease_until IS NOT NULL OR brevo_processing_error IS NOT NULL"); got != 0 {
		t.Errorf("%d rows still leased or with an error", got)
	}
	e.waitJob(t, 1, "completed")
}

// waitJobSubmitted waits until import job id has recorded its process.
func (e *e2e) waitJobSubmitted(t *testing.T, id int64) {
	t.Helper()
	e.waitJobIs(t, id, "process_id IS NOT NULL", "recorded its process")
}

// waitJob waits until import job id has ended with result.
func (e *e2e) waitJob(t *testing.T, id int64, result string) {
	t.Helper()
	e.waitJobIs(t, id, "result = "+quoteLiteral(result), "ended "+result)
}

// waitJobIs waits (polling: the job is another process's) until cond holds
// for import job id.
func (e *e2e) waitJobIs(t *testing.T, id int64, cond, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ok bool
		err := e.pool.QueryRow(t.Context(), `SELECT coalesce(`+cond+`, false) FROM brevosync_imports WHERE id = $1`, id).Scan(&ok)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("import job %d never %s", id, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// TestNotifyURLReachesServe: with BREVO_SYNC_PUBLIC_URL set to serve's own
// address, Brevo's notifyUrl call lands on serve's router and the import's
// process is read once, after it; serve's logs never show the secret.
func TestNotifyURLReachesServe(t *testing.T) {
	t.Parallel()
	const n = 600
	e := newE2E(t, brevotest.Config{})
	addr, err := bench.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, e.importVars("HTTP_ADDR", addr, "BREVO_SYNC_PUBLIC_URL", "http://"+addr))
	e.seed(t, "note", n)
	e.waitRows(t, "brevo_sync_status = 'Complete'", n, 60*time.Second)
	proc := e.waitProcess(t, 1)
	if !proc.Notified || !strings.HasPrefix(proc.NotifyURL, "http://"+addr+"/webhooks/brevo/imports/1/") {
		t.Fatalf("process 1: notifyUrl %q, notified %v", proc.NotifyURL, proc.Notified)
	}
	if st := e.sim.Stats(); st.ProcessRequests != st.Imports {
		t.Errorf("%d process requests for %d imports; want one each, after the notification", st.ProcessRequests, st.Imports)
	}
	secret := proc.NotifyURL[strings.LastIndex(proc.NotifyURL, "/")+1:]
	if logs := p.Stderr.String(); strings.Contains(logs, secret) || !strings.Contains(logs, "/webhooks/brevo/imports/1/…") {
		t.Errorf("serve's logs show the notifyUrl's secret, or not its call:\n%s", logs)
	}
}
