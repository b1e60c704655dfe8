package webhook

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures the HTTP handler.
type Config struct {
	// Pool is the database the events are stored in. Required for the
	// webhook endpoint; without it the endpoint answers 503.
	Pool *pgxpool.Pool
	// Logger receives the access log and error details. Nil discards them.
	Logger *slog.Logger
	// Token is the shared secret (BREVO_WEBHOOK_TOKEN), accepted as a bearer
	// token or as the password of HTTP Basic auth. Empty disables the
	// webhook endpoint: it answers 503.
	Token string
	// AllowedCIDRs, when not empty, are the only source addresses the
	// webhook endpoint accepts (403 otherwise). Brevo publishes
	// 1.179.112.0/20 and 172.246.240.0/20. Empty allows every address.
	AllowedCIDRs []netip.Prefix
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed: when the direct peer is in one of them, the source address
	// is the right-most X-Forwarded-For address not in one of them. Used
	// only with AllowedCIDRs.
	TrustedProxies []netip.Prefix
	// MaxBodyBytes bounds a webhook body (413 beyond). Zero or less means
	// the default, 1 MiB (Brevo's batches hold up to 500 events).
	MaxBodyBytes int64
	// Ready reports whether the service can do its work (database answers,
	// listener connected); /readyz answers 503 with its error. Nil means
	// always ready.
	Ready func(ctx context.Context) error
	// ReadyNote, when it returns a non-empty note while Ready is nil,
	// adds it to /readyz's 200 body: the service works, degraded (for
	// example polling because notifications do not arrive).
	ReadyNote func() string
	// Metrics serves /metrics, e.g. promhttp.HandlerFor(registry, …). Nil
	// makes /metrics answer 404.
	Metrics http.Handler
	// Registerer receives the webhook's metrics. Nil leaves them
	// unregistered. A collector already registered there is reused.
	Registerer prometheus.Registerer
	// MaxEvents bounds the events of one delivery (413 beyond). Zero or
	// less means DefaultMaxEvents.
	MaxEvents int
	// MaxEmails bounds the contacts named by all the events of one
	// delivery together (413 beyond). Zero or less means DefaultMaxEmails.
	MaxEmails int

	// storeWaitHook, when set (by tests), is called as a delivery starts
	// waiting for its turn to store.
	storeWaitHook func()
}

// Defaults of Config.
const (
	// DefaultMaxBodyBytes is the default for Config.MaxBodyBytes.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxEvents is the default for Config.MaxEvents: twice the 500
	// events of Brevo's largest batch.
	DefaultMaxEvents = 1000
	// DefaultMaxEmails is the default for Config.MaxEmails. A delivery
	// naming this many contacts is stored, with its effects, in well under
	// a second (see the package doc).
	DefaultMaxEmails = 20000
)

const (
	// storeTimeout bounds the wait for the store and the database work for
	// one delivery, well inside the server's WriteTimeout, so that a hung
	// database still gets a 429.
	storeTimeout = 15 * time.Second
	// readyTimeout bounds Config.Ready.
	readyTimeout = 5 * time.Second
	// retryAfter is sent with 429; Brevo's own schedule (10 min, 1 h, …)
	// decides when it comes back.
	retryAfter = "60"
)

// handler serves the routes.
type handler struct {
	pool      *pgxpool.Pool
	store     *eventStore
	maxEvents int
	maxEmails int
	logger    *slog.Logger
	token     [sha256.Size]byte // sha256 of Config.Token
	hasToken  bool
	allowed   []netip.Prefix
	trusted   []netip.Prefix
	maxBody   int64
	ready     func(ctx context.Context) error
	readyNote func() string
	metrics   *metrics
	authValue string // WWW-Authenticate
}

// NewHandler returns the HTTP handler of `brevosync serve`: the Brevo
// webhook, health, readiness and metrics.
func NewHandler(cfg Config) http.Handler {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{
		pool:      cfg.Pool,
		store:     newEventStore(cfg.Pool, cfg.storeWaitHook),
		maxEvents: cmp.Or(max(cfg.MaxEvents, 0), DefaultMaxEvents),
		maxEmails: cmp.Or(max(cfg.MaxEmails, 0), DefaultMaxEmails),
		logger:    logger.With("component", "webhook"),
		token:     sha256.Sum256([]byte(cfg.Token)),
		hasToken:  cfg.Token != "",
		allowed:   cfg.AllowedCIDRs,
		trusted:   cfg.TrustedProxies,
		maxBody:   cmp.Or(max(cfg.MaxBodyBytes, 0), DefaultMaxBodyBytes),
		ready:     cfg.Ready,
		readyNote: cfg.ReadyNote,
		metrics:   newMetrics(cfg.Registerer),
		authValue: `Basic realm="brevosync"`,
	}
	metricsHandler := cfg.Metrics
	if metricsHandler == nil {
		metricsHandler = http.HandlerFunc(h.notFound)
	}

	r := chi.NewRouter()
	r.Use(middleware.RequestID, accessLog(h.logger), middleware.Recoverer, middleware.GetHead)
	r.NotFound(h.notFound)
	r.MethodNotAllowed(h.methodNotAllowed)

	r.With(h.metrics.instrument).Post("/webhooks/brevo", h.receive)
	r.Post(importNotifyRoute, h.importDone) // an import's notifyUrl (imports.go)
	r.Get("/healthz", healthz)
	r.Get("/readyz", h.readyz)
	r.Method(http.MethodGet, "/metrics", metricsHandler)
	return r
}

// Errors the handler maps to a status in fail.
var (
	errNotConfigured = errors.New("webhook not configured")
	errForbidden     = errors.New("source address not allowed")
	errUnauthorized  = errors.New("unauthorized")
	errTooLarge      = errors.New("body too large")
)

// capError is a delivery over Config.MaxEvents or Config.MaxEmails.
type capError struct {
	what   string // "events", "contacts named"
	n, max int
}

func (e *capError) Error() string {
	return fmt.Sprintf("too many %s in one delivery: %d, at most %d", e.what, e.n, e.max)
}

// receive is POST /webhooks/brevo: authenticate, read, parse, store with
// effects, then 200.
func (h *handler) receive(w http.ResponseWriter, r *http.Request) {
	if !h.hasToken || h.pool == nil {
		h.fail(w, r, errNotConfigured)
		return
	}
	if err := h.checkSource(r); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.authorize(r); err != nil {
		h.fail(w, r, err)
		return
	}
	body, err := h.readBody(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	events, err := ParseEvents(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.checkCaps(events); err != nil {
		for _, ev := range events {
			h.metrics.event(ev.Name, "rejected")
		}
		h.fail(w, r, err)
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	outcomes, err := h.store.save(ctx, events)
	if err != nil {
		result := "failed"
		if errors.Is(err, errUnstorable) {
			result = "rejected"
		}
		for _, ev := range events {
			h.metrics.event(ev.Name, result)
		}
		h.fail(w, r, err)
		return
	}

	var stored, duplicates int
	for _, o := range outcomes {
		switch {
		case o.duplicate:
			duplicates++
			h.metrics.event(o.name, "duplicate")
		case o.effect == EffectUnknownEmail:
			stored++
			h.metrics.event(o.name, "unknown_email")
		default:
			stored++
			h.metrics.event(o.name, "stored")
		}
	}
	h.logger.LogAttrs(r.Context(), slog.LevelDebug, "webhook events stored",
		slog.Int("events", len(events)), slog.Int("stored", stored),
		slog.Int("duplicates", duplicates), requestID(r))
	writeJSON(w, http.StatusOK, map[string]int{
		"events": len(events), "stored": stored, "duplicates": duplicates,
	})
}

// checkCaps bounds the work of one delivery: Config.MaxEvents events and
// Config.MaxEmails contacts named in all.
func (h *handler) checkCaps(events []Event) error {
	if len(events) > h.maxEvents {
		return &capError{"events", len(events), h.maxEvents}
	}
	emails := 0
	for _, ev := range events {
		emails += len(ev.Emails)
	}
	if emails > h.maxEmails {
		return &capError{"contacts named", emails, h.maxEmails}
	}
	return nil
}

// readBody reads at most h.maxBody bytes.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > h.maxBody {
		return nil, errTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, errTooLarge
		}
		return nil, errors.Join(errMalformed, err)
	}
	return body, nil
}

// fail answers an error with its status and a short JSON body, and logs the
// details. It is the one place errors become statuses:
//
//	400 malformed or unstorable body, 401 bad credentials, 403 source not
//	allowed, 413 body too large or over a cap (MaxEvents, MaxEmails), 503
//	webhook not configured, and 429 with
//	Retry-After for anything else (the database could not store the
//	events): Brevo retries a delivery on 429 and on timeouts but discards it
//	on other 4xx and, by its current documentation, on 5xx.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code, msg, level := http.StatusTooManyRequests, "cannot store events now, retry later", slog.LevelError
	capErr, overCap := errors.AsType[*capError](err)
	switch {
	case errors.Is(err, errNotConfigured):
		code, msg, level = http.StatusServiceUnavailable, "webhook not configured", slog.LevelWarn
	case errors.Is(err, errForbidden):
		code, msg, level = http.StatusForbidden, "forbidden", slog.LevelWarn
	case errors.Is(err, errUnauthorized):
		code, msg, level = http.StatusUnauthorized, "unauthorized", slog.LevelWarn
		w.Header().Set("WWW-Authenticate", h.authValue)
	case errors.Is(err, errTooLarge):
		code, msg, level = http.StatusRequestEntityTooLarge, "body too large", slog.LevelWarn
	case overCap:
		// Brevo discards a delivery answered 413 for good: someone should
		// know events were dropped, and may raise the cap.
		code, msg, level = http.StatusRequestEntityTooLarge, "too many "+capErr.what+" in one delivery", slog.LevelError
	case errors.Is(err, errMalformed):
		code, msg, level = http.StatusBadRequest, "malformed body", slog.LevelWarn
	case errors.Is(err, errUnstorable):
		code, msg, level = http.StatusBadRequest, "event cannot be stored", slog.LevelWarn
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		level = slog.LevelWarn // the client went away; it will redeliver
	}
	if code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", retryAfter)
	}
	h.logger.LogAttrs(r.Context(), level, "webhook request refused",
		slog.Int("status", code), slog.Any("err", err), requestID(r))
	writeJSON(w, code, map[string]string{"error": msg})
}

func (h *handler) notFound(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
}

// methodNotAllowed answers 405 with the Allow header chi's default handler
// would send, and a JSON body.
func (h *handler) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.Routes != nil {
		path := cmp.Or(rctx.RoutePath, r.URL.RawPath, r.URL.Path)
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
			http.MethodPatch, http.MethodDelete, http.MethodOptions} {
			if rctx.Routes.Match(chi.NewRouteContext(), m, path) {
				w.Header().Add("Allow", m)
			}
		}
	}
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
}

// healthz is GET /healthz: the process runs.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok\n")
}

// readyz is GET /readyz: Config.Ready, and Config.ReadyNote.
func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	if h.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := h.ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok\n")
	if h.readyNote != nil {
		if note := h.readyNote(); note != "" {
			_, _ = io.WriteString(w, note+"\n")
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func requestID(r *http.Request) slog.Attr {
	return slog.String("request_id", middleware.GetReqID(r.Context()))
}

// isQuietPath reports the probes logged at Debug.
func isQuietPath(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics"
}
