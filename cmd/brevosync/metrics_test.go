package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/brevosync/brevosync/sql/schematest"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// TestMetricsScrape runs serve in process, makes every metric family move
// (a sync, a failure, a sweep, a webhook) and scrapes /metrics as
// Prometheus would.
func TestMetricsScrape(t *testing.T) {
	t.Parallel()
	dsn := schematest.NewURL(t)
	pool := schematest.Pool(t, dsn)
	sim := brevotest.New(t, brevotest.Config{APIKey: "m-key"})
	sv, outcomes := serveInProcess(t, map[string]string{
		"DATABASE_URL":              dsn,
		"BREVO_API_KEY":             "m-key",
		"BREVO_API_BASE_URL":        sim.URL(),
		"BREVO_LIST_ID":             "3",
		"BREVO_WEBHOOK_TOKEN":       "m-token",
		"BREVO_SYNC_SWEEP_INTERVAL": "100ms",
		"HTTP_ADDR":                 "127.0.0.1:0",
	}, io.Discard)
	sim.SetWebhook("http://"+sv.Addr.String()+"/webhooks/brevo", "m-token")
	if err := sv.WaitListening(t.Context()); err != nil {
		t.Fatal(err)
	}

	_, err := pool.Exec(t.Context(), `INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status)
		VALUES ('good@example.com', 'Selected', 'Queued'), ('bad email', 'Selected', 'Queued')`)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case <-outcomes:
		case <-time.After(30 * time.Second):
			t.Fatal("no outcome")
		}
	}
	// The simulator's list_addition webhook for good@example.com.
	wctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := sim.WaitStats(wctx, func(s brevotest.Stats) bool { return s.WebhooksDelivered >= 1 }); err != nil {
		t.Fatal(err)
	}
	// A sweep of this test's own; the background one (every 100ms) may hold
	// the sweep's lock, and then this one is skipped: sweep again.
	for {
		r, err := sv.Syncer.Sweep(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !r.Skipped {
			break
		}
	}

	resp, err := http.Get("http://" + sv.Addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics answered %d", resp.StatusCode)
	}
	text := string(body)
	for _, want := range []string{
		`brevosync_syncs_total{result="complete"} 1`,
		`brevosync_syncs_total{result="failed"} 1`,
		`brevosync_brevo_requests_total{code="201"} 1`,
		`brevosync_brevo_requests_total{code="400"} 1`,
		`brevosync_brevo_request_duration_seconds_count 2`,
		`brevosync_selection_to_brevo_seconds_count 1`,
		`brevosync_queue_depth{state="pending"} 0`,
		`brevosync_queue_depth{state="processing"} 0`,
		`brevosync_listener_connected 1`,
		`brevosync_listener_reconnects_total 0`,
		`brevosync_sweeps_total{outcome="ran"}`,
		`brevosync_sweep_found_total{kind="rescued"}`,
		`brevosync_db_statement_duration_seconds_count{statement="claim"}`,
		`brevosync_webhook_events_total{event="list_addition",result="stored"} 1`,
		`brevosync_pg_notification_queue_usage `, // cluster-wide: other tests' notifications may be queued
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
}
