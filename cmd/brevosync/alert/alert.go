// Package alert reports the service's Error logs to Sentry: the records
// that need a person (the API key refused, outcomes not written for half a
// lease, webhook events failing to store), once per incident.
//
// # Guarantees
//
//   - Off without a DSN: New with an empty Config.DSN returns a handler
//     that only passes records on. The DSN is never read from anywhere else
//     (the SDK's own fallback to $SENTRY_DSN is not used).
//   - Every record still reaches the wrapped handler as before; only
//     records at slog.LevelError and above go to Sentry too, never a
//     warning.
//   - Once per incident: an incident is a message. The first record of a
//     message is reported at once; the same message again within
//     Config.Window (DefaultWindow, 10 minutes) of that report is only
//     counted, and the next report of the message after the window carries
//     the count as "repeats" (in the event's "record" context, with the
//     record's attributes, and as a tag). Repeats still counted at
//     shutdown are not sent.
//   - No secrets: attributes whose key looks like a credential (token,
//     secret, password, api key, authorization, dsn, cookie, …) are
//     dropped, and credentials in URLs (user:password@), Bearer/Basic
//     values and key=… query parameters are blanked in the message and in
//     every value. No request data, no default PII.
//   - Reports are sent in the background; Flush waits for them, for
//     shutdown.
package alert

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/getsentry/sentry-go"
)

// DefaultWindow is the default of Config.Window.
const DefaultWindow = 10 * time.Minute

// maxIncidents bounds the messages remembered; past it, those whose window
// has passed are forgotten.
const maxIncidents = 1000

// Config configures New.
type Config struct {
	// DSN is SENTRY_DSN. Empty turns alerting off.
	DSN string
	// Window is how long repeats of a reported message are only counted.
	// Zero or less means DefaultWindow.
	Window time.Duration
	// Release and Environment label the reports (the build version, e.g.
	// "production"); both optional.
	Release, Environment string

	now func() time.Time // tests
}

// Handler is a slog.Handler that passes every record to the handler it
// wraps and reports Error records to Sentry.
type Handler struct {
	next  slog.Handler
	core  *core       // nil: alerting off
	attrs []slog.Attr // from WithAttrs, keys already prefixed by their groups
	group string      // the open groups as a key prefix, "a.b."
}

// core is what the handlers derived from one New share.
type core struct {
	client *sentry.Client
	window time.Duration
	now    func() time.Time

	mu        sync.Mutex
	incidents map[string]*incident
}

// incident is a message reported, and what was counted since.
type incident struct {
	reported time.Time
	repeats  int
}

// New wraps next. With cfg.DSN empty it only passes records on; with a
// DSN it fails when the DSN is malformed (the error never shows the DSN's
// key).
func New(cfg Config, next slog.Handler) (*Handler, error) {
	h := &Handler{next: next}
	if cfg.DSN == "" {
		return h, nil
	}
	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn:         cfg.DSN,
		Release:     cfg.Release,
		Environment: cfg.Environment,
	})
	if err != nil {
		return nil, fmt.Errorf("set up Sentry alerting (SENTRY_DSN): %s", scrub(err.Error()))
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	h.core = &core{
		client:    client,
		window:    cmp.Or(max(cfg.Window, 0), DefaultWindow),
		now:       cfg.now,
		incidents: map[string]*incident{},
	}
	return h, nil
}

// Active reports whether alerting is on.
func (h *Handler) Active() bool { return h.core != nil }

// Flush waits up to timeout for the reports sent so far; it reports
// whether they all went out (true when alerting is off).
func (h *Handler) Flush(timeout time.Duration) bool {
	if h.core == nil {
		return true
	}
	return h.core.client.Flush(timeout)
}

// Enabled is the wrapped handler's answer, and true for Error and above
// while alerting is on.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level) || (h.core != nil && level >= slog.LevelError)
}

// Handle passes r on (when the wrapped handler wants it) and reports it
// when it is an Error.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.next.Enabled(ctx, r.Level) {
		err = h.next.Handle(ctx, r)
	}
	if h.core != nil && r.Level >= slog.LevelError {
		h.core.report(h, r)
	}
	return err
}

// WithAttrs returns a handler whose records carry attrs too.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(attrs)
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), prefixed(h.group, attrs)...)
	return &c
}

// WithGroup returns a handler whose later attributes sit in group name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.next = h.next.WithGroup(name)
	c.group = h.group + name + "."
	return &c
}

func prefixed(group string, attrs []slog.Attr) []slog.Attr {
	if group == "" {
		return attrs
	}
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = slog.Attr{Key: group + a.Key, Value: a.Value}
	}
	return out
}

// report sends r unless its message was reported within the window.
func (c *core) report(h *Handler, r slog.Record) {
	msg := scrub(r.Message)
	now := c.now()
	c.mu.Lock()
	inc := c.incidents[msg]
	if inc != nil && now.Sub(inc.reported) < c.window {
		inc.repeats++
		c.mu.Unlock()
		return
	}
	repeats := 0
	if inc != nil {
		repeats = inc.repeats
	}
	if len(c.incidents) >= maxIncidents {
		for k, v := range c.incidents {
			if now.Sub(v.reported) >= c.window {
				delete(c.incidents, k)
			}
		}
	}
	c.incidents[msg] = &incident{reported: now}
	c.mu.Unlock()

	ev := sentry.NewEvent()
	ev.Level = sentry.LevelError
	if r.Level >= slog.LevelError+4 {
		ev.Level = sentry.LevelFatal
	}
	ev.Message = msg
	ev.Logger = "slog"
	ev.Timestamp = cmp.Or(r.Time, now)
	ev.Fingerprint = []string{msg}
	extra := map[string]any{}
	for _, a := range h.attrs {
		addAttr(extra, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		addAttr(extra, h.group, a)
		return true
	})
	if comp, ok := extra["component"].(string); ok {
		ev.Tags["component"] = comp
	}
	if repeats > 0 {
		extra["repeats"] = repeats
		ev.Tags["repeats"] = strconv.Itoa(repeats)
	}
	extra["dedupe_window"] = c.window.String()
	ev.Contexts["record"] = extra
	c.client.CaptureEvent(ev, nil, sentry.NewScope())
}

// addAttr puts a into extra under its flattened key, unless the key looks
// like a credential; values are scrubbed.
func addAttr(extra map[string]any, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	key := prefix + a.Key
	if a.Key == "" && v.Kind() != slog.KindGroup {
		return
	}
	if secretKey.MatchString(a.Key) {
		return
	}
	switch v.Kind() {
	case slog.KindGroup:
		p := key + "."
		if a.Key == "" {
			p = prefix
		}
		for _, g := range v.Group() {
			addAttr(extra, p, g)
		}
	case slog.KindString:
		extra[key] = scrub(v.String())
	case slog.KindInt64:
		extra[key] = v.Int64()
	case slog.KindUint64:
		extra[key] = v.Uint64()
	case slog.KindFloat64:
		extra[key] = v.Float64()
	case slog.KindBool:
		extra[key] = v.Bool()
	case slog.KindTime:
		extra[key] = v.Time().Format(time.RFC3339Nano)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			extra[key] = scrub(err.Error())
			return
		}
		extra[key] = scrub(fmt.Sprint(v.Any()))
	default: // durations, ...
		extra[key] = scrub(v.String())
	}
}

// secretKey matches attribute keys that may hold a credential.
var secretKey = regexp.MustCompile(`(?i)(pass(word|wd|phrase)?|secret|token|api[-_.]?key|auth|credential|dsn|cookie|session|private[-_.]?key|signature|bearer)`)

// secretValues match credentials inside text, with what replaces them.
var secretValues = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@`), "${1}[redacted]@"},
	{regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}`), "$1 [redacted]"},
	{regexp.MustCompile(`(?i)\b(api[-_]?key|token|password|passwd|secret|sentry_key|dsn)(["']?\s*[:=]\s*["']?)[^\s&"',;]+`), "$1$2[redacted]"},
	{regexp.MustCompile(`\bxkeysib-[A-Za-z0-9-]+`), "[redacted]"}, // a Brevo API key
}

// scrub blanks the credentials secretValues find in s.
func scrub(s string) string {
	for _, sv := range secretValues {
		s = sv.re.ReplaceAllString(s, sv.with)
	}
	return s
}
