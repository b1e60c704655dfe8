package console_test

// The console in a real headless Chromium, driven by chromedp: one browser
// for the package, a fresh browser context (cookies, auth cache) per test.
// A test that cannot start Chromium fails with the reason; it never skips.

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

var shared struct {
	once    sync.Once
	ctx     context.Context // the browser's chromedp context
	cancel  func()
	dataDir string
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cancel != nil {
		shared.cancel()
		os.RemoveAll(shared.dataDir)
	}
	os.Exit(code)
}

// chromiumPath is CHROME_PATH, else Debian's /usr/bin/chromium.
func chromiumPath() string {
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// startBrowser starts the package's Chromium once, with the flags a
// machine without network needs (without them Chromium stalls on its
// background fetches).
func startBrowser() (context.Context, error) {
	shared.once.Do(func() {
		path := chromiumPath()
		if _, err := os.Stat(path); err != nil {
			shared.err = fmt.Errorf("no Chromium at %s (install Debian's chromium, or set CHROME_PATH): %w", path, err)
			return
		}
		dir, err := os.MkdirTemp("", "console-chromium-")
		if err != nil {
			shared.err = err
			return
		}
		shared.dataDir = dir
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
			chromedp.ExecPath(path),
			chromedp.Flag("headless", true),
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.NoDefaultBrowserCheck,
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-dev-shm-usage", true),
			chromedp.Flag("password-store", "basic"),
			chromedp.UserDataDir(dir),
			chromedp.WindowSize(1200, 900),
		)
		ctx, cancel := chromedp.NewContext(alloc)
		started := make(chan error, 1)
		go func() { started <- chromedp.Do(ctx) }()
		select {
		case err = <-started:
		case <-time.After(60 * time.Second):
			err = fmt.Errorf("Chromium at %s did not start within 60s", path)
		}
		if err != nil {
			cancel()
			cancelAlloc()
			shared.err = fmt.Errorf("start Chromium at %s: %w", path, err)
			return
		}
		shared.ctx, shared.cancel = ctx, func() { cancel(); cancelAlloc() }
	})
	return shared.ctx, shared.err
}

// tab is a page of the console in a browser context of its own.
type tab struct {
	t     *testing.T
	ctx   context.Context
	b     *bundle
	creds atomic.Pointer[[2]string] // what the login dialog is answered with; nil cancels it
	shots int
}

// newTab opens a tab whose HTTP auth dialogs are answered as a person
// would: with creds, or cancelled while creds is nil.
func newTab(t *testing.T, b *bundle) *tab {
	t.Helper()
	bctx, err := startBrowser()
	if err != nil {
		t.Fatalf("browser tests need Chromium: %v", err)
	}
	ctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	tb := &tab{t: t, ctx: ctx, b: b}
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("open a tab: %v", err)
	}
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	auth := chromedp.Events(ctx, fetch.AuthRequired)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	})
	wg.Go(func() {
		for ev, err := range auth {
			if err != nil {
				return
			}
			resp := &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth}
			if c := tb.creds.Load(); c != nil {
				resp = &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseProvideCredentials,
					Username: c[0], Password: c[1]}
			}
			_, _ = chromedp.Call(ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID, AuthChallengeResponse: resp})
		}
	})
	yes := true
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &yes}); err != nil {
		t.Fatalf("intercept auth dialogs: %v", err)
	}
	return tb
}

// login answers the login dialog with the admin token as the password.
func (tb *tab) login() { tb.creds.Store(&[2]string{"operator", token}) }

// do runs actions with a deadline.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.screenshot("failed-" + what)
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// text is the text of the first element matching sel.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// waitJS waits until the expression is true in the page.
func (tb *tab) waitJS(what, expr string, within time.Duration) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, within+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(within))); err != nil {
		tb.screenshot("failed-" + what)
		tb.t.Fatalf("wait until %s (%s): %v", what, expr, err)
	}
}

// count is a JavaScript expression for the count shown for a state.
func count(state string) string {
	return fmt.Sprintf(`(document.querySelector('[data-state=%q] .count') || {}).textContent`, state)
}

// screenshot saves the page as a numbered PNG in the test's artifact
// folder (kept with go test -artifacts).
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Logf("screenshot %s: %v", name, err)
		return
	}
	tb.shots++
	path := filepath.Join(tb.t.ArtifactDir(), fmt.Sprintf("%02d-%s.png", tb.shots, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Logf("screenshot: %s", path)
}

// withBasicHeader sends the token as Basic auth on every request of the
// tab (no dialog, no interception): for measuring.
func withBasicHeader(ctx context.Context, user, pw string) error {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
	_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
	if err != nil {
		return err
	}
	_, err = chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": basic}})
	return err
}
