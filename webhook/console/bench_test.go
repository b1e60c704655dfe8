package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/brevosync/brevosync/syncer/operator"
)

// BenchmarkFirstPaint measures the console's first paint on a database of
// 100,000 contacts: from the start of the navigation to the moment the
// page has put the counts on screen (its performance mark "counts-shown"),
// with the status report read fresh each time (a write through the API
// drops the shared one). It reports ms/first-paint, and ms/status for the
// report alone (operator.Status, one pass over contacts).
//
//	go test -run '^$' -bench FirstPaint -benchtime 5x ./webhook/console/
func BenchmarkFirstPaint(b *testing.B) {
	bb := newBundle(b, bundleOpts{})
	bb.exec(b, `
		INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status, brevo_processing_error)
		SELECT 'user' || i || '@example.com', s.sync::crm_sync_status, s.proc::crm_processing_status, s.err
		FROM generate_series(1, 100000) AS i,
		LATERAL (SELECT CASE
			WHEN i % 20 < 12 THEN 'Complete' WHEN i % 20 < 15 THEN 'New' WHEN i % 20 = 15 THEN 'Selected'
			WHEN i % 20 = 16 THEN 'Queued' ELSE 'Error' END AS sync,
		  CASE
			WHEN i % 20 < 12 THEN 'Complete' WHEN i % 20 < 15 THEN NULL WHEN i % 20 = 15 THEN 'Queued'
			WHEN i % 20 = 16 THEN 'Error' ELSE 'Error' END AS proc,
		  CASE
			WHEN i % 20 = 16 THEN 'attempt 1 failed, retrying: 502 Bad Gateway'
			WHEN i % 20 > 16 THEN 'rejected by Brevo: 400 invalid_parameter: Invalid phone number ' || (i % 7)
		  END AS err) AS s`)
	bb.exec(b, `ANALYZE contacts`)

	ctx := context.Background()
	start := time.Now()
	if _, err := operator.Status(ctx, bb.pool); err != nil {
		b.Fatal(err)
	}
	statusTook := time.Since(start)

	bctx, err := startBrowser()
	if err != nil {
		b.Fatalf("the bench needs Chromium: %v", err)
	}
	tabCtx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	defer cancel()
	if err := chromedp.Do(tabCtx); err != nil {
		b.Fatal(err)
	}
	if err := withBasicHeader(tabCtx, "operator", token); err != nil {
		b.Fatal(err)
	}
	var total float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		bb.invalidate(b)
		b.StartTimer()
		if err := chromedp.Do(tabCtx, chromedp.Navigate(bb.srv.URL+"/ui/")); err != nil {
			b.Fatal(err)
		}
		ms, err := chromedp.Run(tabCtx, chromedp.Poll[float64](
			`(performance.getEntriesByName("counts-shown")[0] || {}).startTime`,
			chromedp.WithPollingInterval(5*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
		if err != nil {
			b.Fatal(err)
		}
		total += ms
	}
	b.ReportMetric(total/float64(b.N), "ms/first-paint")
	b.ReportMetric(float64(statusTook.Microseconds())/1000, "ms/status")
}

// invalidate drops the shared status report: the next page load reads a
// fresh one, as the first visitor's does.
func (b *bundle) invalidate(tb testing.TB) {
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/api/v1/select", strings.NewReader(`{"emails": ["nobody@example.com"]}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	res.Body.Close()
}
