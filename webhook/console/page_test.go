package console_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/brevosync/brevosync/listener"
	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
	"github.com/brevosync/brevosync/webhook/console"
)

// Logging in: the page asks (401 with a Basic challenge); cancelled, the
// browser shows the refusal; with the token as the password, the counts.
func TestBrowserLogin(t *testing.T) {
	t.Parallel()
	b := newBundle(t, bundleOpts{})
	b.insert(t, "ada@example.com", "Complete", "Complete", "")
	tb := newTab(t, b)

	tb.do("open the console without logging in", chromedp.Navigate(b.srv.URL+"/"))
	if body := tb.text("body"); !strings.Contains(body, "unauthorized") {
		t.Errorf("console without credentials shows %q, want the refusal", body)
	}
	tb.screenshot("login-cancelled")

	tb.login()
	tb.do("log in", chromedp.Navigate(b.srv.URL+"/"))
	tb.waitJS("the counts show", count("Complete")+` === "1"`, 10*time.Second)
	tb.waitJS("the service state shows", `document.getElementById("sending").textContent.includes("PAUSED: Brevo refuses the API key")`, 5*time.Second)
	if got := tb.text("#listener"); got != "listener: connected" {
		t.Errorf("listener pill = %q", got)
	}
	tb.screenshot("logged-in")

	// What the process reports shows within a poll: a 429 wait, an import.
	b.setLive(func(l *console.Live) {
		l.PausedReason, l.PausedUntil = "rate limited by Brevo", time.Now().Add(time.Minute)
		l.Imports = []console.Import{{ID: "77", Contacts: 5000, Status: "in_process", StartedAt: time.Now()}}
	})
	tb.waitJS("the import and the wait show", `document.getElementById("imports").textContent === "imports in flight: 1 (5000 contacts)" && `+
		`document.getElementById("sending").textContent.startsWith("sending: PAUSED: rate limited by Brevo (until ")`, 5*time.Second)

	// On a phone: nothing wider than the screen but the tables, which scroll.
	tb.do("turn into a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	tb.waitJS("the page fits a phone", `document.documentElement.scrollWidth <= window.innerWidth`, 5*time.Second)
	tb.screenshot("phone")
}

// The counts follow the database without a reload.
func TestBrowserCountsLive(t *testing.T) {
	t.Parallel()
	b := newBundle(t, bundleOpts{})
	b.exec(t, `INSERT INTO contacts (email) SELECT 'user' || i || '@example.com' FROM generate_series(1, 5) i`)
	tb := newTab(t, b)
	tb.login()
	tb.do("open the console", chromedp.Navigate(b.srv.URL+"/ui/"))
	tb.waitJS("5 New, 0 Waiting", count("New")+` === "5" && `+count("Waiting")+` === "0"`, 10*time.Second)
	tb.screenshot("before-selection")

	// The application selects three contacts.
	b.exec(t, `UPDATE contacts SET brevo_sync_status = 'Selected', brevo_processing_status = 'Queued'
		WHERE email IN ('user1@example.com', 'user2@example.com', 'user3@example.com')`)
	tb.waitJS("the selection shows", count("Waiting")+` === "3" && `+count("New")+` === "2"`, 6*time.Second)
	if s := tb.text("#summary"); !strings.Contains(s, "oldest waiting:") {
		t.Errorf("summary = %q, want the oldest waiting request", s)
	}
	tb.screenshot("after-selection")
}

// A Failed contact retried from its row is synced by the real syncer
// (against the Brevo simulator) and its page shows it Complete.
func TestBrowserRetryFromRow(t *testing.T) {
	t.Parallel()
	b := newBundle(t, bundleOpts{})
	failed := b.insert(t, "linus@example.com", "Error", "Error", "rejected by Brevo: 400 invalid_parameter: Invalid phone number")
	runSyncer(t, b)

	tb := newTab(t, b)
	tb.login()
	tb.do("open the console", chromedp.Navigate(b.srv.URL+"/ui/"))
	row := `tr[data-id="` + failed + `"]`
	tb.waitJS("the failed contact shows", `!!document.querySelector('`+row+` button.retry')`, 10*time.Second)
	tb.screenshot("failed-row")
	tb.do("retry from the row", chromedp.Click(chromedp.CSS(row+" button.retry")))
	tb.waitJS("it is Complete", count("Complete")+` === "1" && `+count("Failed")+` === "0" && !document.querySelector('`+row+`')`, 10*time.Second)
	if got := tb.text("#retry-result"); !strings.Contains(got, "retried 1 contact") {
		t.Errorf("retry result = %q", got)
	}
	tb.screenshot("complete")

	tb.do("open the contact's page", chromedp.Navigate(b.srv.URL+"/ui/#/contacts/"+failed))
	tb.waitJS("its page shows it Complete", `(document.getElementById("contact-state").textContent || "").startsWith("Complete")`, 5*time.Second)
	tb.waitJS("its columns show", `!!document.querySelector('[data-column="brevo_synced_at"]') && document.querySelector('[data-column="brevo_synced_at"]').textContent !== "NULL"`, 5*time.Second)
	tb.screenshot("contact-page")
}

// Pasted emails are selected; a bad line stops everything and is named.
func TestBrowserSelectPasted(t *testing.T) {
	t.Parallel()
	b := newBundle(t, bundleOpts{})
	ada := b.insert(t, "ada@example.com", "New", "", "")
	bob := b.insert(t, "Bob@Example.com", "Complete", "Complete", "")
	tb := newTab(t, b)
	tb.login()
	tb.do("open the console", chromedp.Navigate(b.srv.URL+"/ui/"))
	tb.waitJS("the counts show", count("New")+` === "1"`, 10*time.Second)

	tb.do("paste a bad list and select",
		chromedp.SetValue(chromedp.CSS("#entries"), "ada@example.com\nnot an email\nbob@example.com"),
		chromedp.Click(chromedp.CSS("#select")))
	tb.waitJS("the refusal shows", `document.getElementById("select-result").textContent.includes("nothing applied")`, 5*time.Second)
	if got := tb.text("#select-result"); !strings.Contains(got, "line 2: “not an email” is not an email") {
		t.Errorf("select result = %q, want line 2 named", got)
	}
	if b.state(t, ada) != "New/NULL" {
		t.Errorf("a refused selection selected Ada: %s", b.state(t, ada))
	}
	tb.screenshot("select-refused")

	tb.do("paste emails and select",
		chromedp.SetValue(chromedp.CSS("#entries"), "# today\nADA@example.com\n bob@example.com \nnobody@example.com\n"),
		chromedp.Click(chromedp.CSS("#select")))
	tb.waitJS("the answer shows", `document.getElementById("select-result").textContent.startsWith("selected: 2")`, 5*time.Second)
	if got := tb.text("#select-result"); !strings.Contains(got, "already waiting: 0") || !strings.Contains(got, "unknown: 1 (nobody@example.com)") {
		t.Errorf("select result = %q", got)
	}
	tb.waitJS("the counts follow", count("Waiting")+` === "2"`, 5*time.Second)
	if b.state(t, ada) != "Selected/Queued" || b.state(t, bob) != "Selected/Queued" {
		t.Errorf("after select: %s, %s", b.state(t, ada), b.state(t, bob))
	}
	tb.screenshot("selected")

	tb.do("unselect Ada", chromedp.SetValue(chromedp.CSS("#entries"), "ada@example.com"), chromedp.Click(chromedp.CSS("#unselect")))
	tb.waitJS("the unselect shows", `document.getElementById("select-result").textContent.startsWith("unselected: 1")`, 5*time.Second)
	tb.do("test the credentials", chromedp.Click(chromedp.CSS("#credentials")))
	tb.waitJS("the probe answers", `document.getElementById("credentials-result").textContent === "ok: ops@example.com (Example Ltd)"`, 5*time.Second)
	tb.screenshot("unselected-and-credentials")
}

// runSyncer runs the real syncer and its listener on b's database against
// the Brevo simulator, as `serve` wires them, until the test ends.
func runSyncer(t *testing.T, b *bundle) {
	t.Helper()
	sim := brevotest.New(t, brevotest.Config{APIKey: "sim-key"})
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	client := brevo.NewClient(brevo.Config{BaseURL: sim.URL(), APIKey: "sim-key", Timeout: 2 * time.Second})
	s, err := syncer.New(b.pool, brevo.NewCRM(client, nil), syncer.Config{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	l, err := listener.New(listener.Config{ConnConfig: b.pool.Config().ConnConfig, Pool: b.pool, Logger: logger,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}, s)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.Run(ctx); err != nil {
			t.Errorf("syncer: %v", err)
		}
	})
	wg.Go(func() {
		if err := l.Run(ctx); err != nil {
			t.Errorf("listener: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	// Connected, the listener notices every selection at once.
	deadline := time.After(10 * time.Second)
	for {
		changed := l.Changes()
		if l.Connected() {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatal("listener not connected within 10s")
		}
	}
}
