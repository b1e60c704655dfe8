package alert

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// sentryServer records the events of the envelopes Sentry's SDK posts.
type sentryServer struct {
	srv *httptest.Server
	mu  sync.Mutex
	evs []map[string]any
}

func newSentryServer(t *testing.T) *sentryServer {
	t.Helper()
	s := &sentryServer{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Errorf("gzip: %v", err)
				return
			}
			body = zr
		}
		raw, _ := io.ReadAll(body)
		if !strings.HasSuffix(r.URL.Path, "/envelope/") {
			t.Errorf("Sentry SDK posted to %s", r.URL.Path)
		}
		// An envelope: a header line, then (item header, payload) pairs.
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		sc.Scan() // envelope header
		for sc.Scan() {
			var item struct{ Type string }
			_ = json.Unmarshal(sc.Bytes(), &item)
			if !sc.Scan() {
				break
			}
			if item.Type == "event" {
				var ev map[string]any
				if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
					t.Errorf("event payload: %v", err)
				}
				s.mu.Lock()
				s.evs = append(s.evs, ev)
				s.mu.Unlock()
			}
		}
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// dsn points the SDK at the server, project 42.
func (s *sentryServer) dsn() string {
	return "http://publickey@" + s.srv.Listener.Addr().String() + "/42"
}

func (s *sentryServer) events() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.evs...)
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newLogger(t *testing.T, s *sentryServer, clk *clock) (*slog.Logger, *Handler, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	h, err := New(Config{DSN: s.dsn(), Window: time.Minute, Release: "test", now: clk.now},
		slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if !h.Active() {
		t.Fatal("alerting not active with a DSN")
	}
	return slog.New(h), h, &out
}

func TestOneReportPerIncident(t *testing.T) {
	t.Parallel()
	s := newSentryServer(t)
	clk := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	logger, h, out := newLogger(t, s, clk)
	log := logger.With("component", "syncer")

	const msg = "could not write outcomes; their claims will expire and the contacts be sent again"
	for i := range 100 {
		log.Error(msg, slog.Int("count", i), slog.Any("err", errors.New("connection refused")))
		log.Warn("rate limited by Brevo; waiting")
	}
	if !h.Flush(10 * time.Second) {
		t.Fatal("Flush timed out")
	}
	evs := s.events()
	if len(evs) != 1 {
		t.Fatalf("100 identical errors within the window sent %d events, want 1: %v", len(evs), evs)
	}
	ev := evs[0]
	extra := record(ev)
	tags, _ := ev["tags"].(map[string]any)
	if ev["message"] != msg || ev["level"] != "error" || extra["err"] != "connection refused" || extra["count"] != 0.0 ||
		tags["component"] != "syncer" || extra["repeats"] != nil {
		t.Errorf("event = %v", ev)
	}
	if n := strings.Count(out.String(), "level=ERROR"); n != 100 {
		t.Errorf("the wrapped handler got %d of the 100 errors", n)
	}
	if n := strings.Count(out.String(), "level=WARN"); n != 100 {
		t.Errorf("the wrapped handler got %d of the 100 warnings", n)
	}

	// After the window the next one is reported, with the repeats counted.
	clk.add(time.Minute)
	log.Error(msg, slog.Int("count", 100))
	log.Error("another incident")
	h.Flush(10 * time.Second)
	evs = s.events()
	if len(evs) != 3 {
		t.Fatalf("after the window: %d events, want 3", len(evs))
	}
	var repeated map[string]any
	for _, ev := range evs[1:] {
		if ev["message"] == msg {
			repeated = ev
		}
	}
	if repeated == nil || record(repeated)["repeats"] != 99.0 || repeated["tags"].(map[string]any)["repeats"] != "99" {
		t.Errorf("the report after the window = %v, want repeats 99", repeated)
	}
}

func TestNoWarningsNoSecrets(t *testing.T) {
	t.Parallel()
	s := newSentryServer(t)
	logger, h, _ := newLogger(t, s, &clock{t: time.Now()})
	logger.Warn("Brevo answered 502")
	logger.Info("sweep done")
	logger.WithGroup("brevo").Error("Brevo refuses the API key; sending is paused",
		slog.String("api_key", "xkeysib-0123456789abcdef"),
		slog.String("Authorization", "Bearer abcdefgh12345"),
		slog.String("admin_token", "t0ken"),
		slog.String("database_url", "postgres://brevosync:hunter2@db.example.com:5432/app"),
		slog.Any("err", errors.New(`POST https://api.brevo.com/v3/contacts?api_key=xkeysib-abc: 401 {"message":"Key not found"}`)),
		slog.Group("req", slog.String("password", "pw"), slog.Int("status", 401)),
	)
	h.Flush(10 * time.Second)
	evs := s.events()
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1 (none for a warning or info)", len(evs))
	}
	raw, _ := json.Marshal(evs[0])
	for _, secret := range []string{"xkeysib", "abcdefgh12345", "t0ken", "hunter2", "\"pw\"", "api_key\":", "admin_token", "password"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the event holds %q: %s", secret, raw)
		}
	}
	extra := record(evs[0])
	if extra["brevo.req.status"] != 401.0 || !strings.Contains(extra["brevo.database_url"].(string), "postgres://[redacted]@db.example.com") ||
		!strings.Contains(extra["brevo.err"].(string), `401 {"message":"Key not found"}`) {
		t.Errorf("event extra = %v", extra)
	}
}

func TestOffWithoutDSN(t *testing.T) {
	t.Setenv("SENTRY_DSN", "http://publickey@127.0.0.1:1/1") // ignored: only Config.DSN counts
	var out bytes.Buffer
	h, err := New(Config{}, slog.NewTextHandler(&out, nil))
	if err != nil || h.Active() {
		t.Fatalf("New without a DSN = %v, active %v; want off", err, h.Active())
	}
	slog.New(h).Error("boom")
	if !h.Flush(time.Second) || !strings.Contains(out.String(), "boom") {
		t.Errorf("off: flush or pass-through failed: %q", out.String())
	}
	if h.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("off: Enabled(Debug) = true, want the wrapped handler's false")
	}
	if _, err := New(Config{DSN: "not a dsn"}, slog.NewTextHandler(&out, nil)); err == nil {
		t.Error("New with a malformed DSN: want an error")
	}
}

// record is an event's "record" context: the log record's attributes.
func record(ev map[string]any) map[string]any {
	ctxs, _ := ev["contexts"].(map[string]any)
	r, _ := ctxs["record"].(map[string]any)
	return r
}
