package console

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config is what the console needs and cannot read from the database. It
// holds plain values and funcs, so that the console depends on nothing of
// the command that wires it.
type Config struct {
	// Pool is the database (DATABASE_URL). Required.
	Pool *pgxpool.Pool
	// Token is the admin token (BREVO_SYNC_ADMIN_TOKEN). Empty disables the
	// API and the console: every route but GET / answers 503.
	Token string
	// Logger receives the access log (GETs at Debug, the rest at Info), the
	// operators' writes and error details. Nil discards them. Credentials
	// are never logged.
	Logger *slog.Logger
	// Probe tests the CRM credentials with a read-only call and names the
	// account: POST /api/v1/credentials/test. Nil answers ok false.
	Probe func(ctx context.Context) (account string, err error)
	// Settings returns the effective configuration, secrets already
	// redacted, for GET /api/v1/config. Nil answers {}.
	Settings func() any
	// Live reports what only the running process knows, for the console's
	// header (the "live" member of GET /api/v1/status). Nil: null.
	Live func() Live
	// RecentEvents returns a contact's recent webhook events, newest first
	// (webhook.RecentEvents over the pool), for GET /api/v1/contacts/{id}.
	// Nil leaves "events" null.
	RecentEvents func(ctx context.Context, email string, limit int) (any, error)
}

// Live is what the running service knows about itself right now.
type Live struct {
	// ListenerConnected: the LISTEN connection is up; ListenerNote says
	// more (e.g. why not, since when).
	ListenerConnected bool   `json:"listener_connected"`
	ListenerNote      string `json:"listener_note,omitempty"`
	// Paused: sending is paused; PausedReason says why ("Brevo refuses
	// the API key", "rate limited by Brevo"), PausedUntil until when when
	// known (a 429's reset; zero when not known).
	Paused       bool      `json:"paused"`
	PausedReason string    `json:"paused_reason,omitempty"`
	PausedUntil  time.Time `json:"paused_until,omitzero"`
	// Imports are the CRM imports in flight (large backlogs); empty when
	// none or not known.
	Imports []Import `json:"imports,omitempty"`
}

// Import is one CRM import in flight.
type Import struct {
	ID        string    `json:"id"`       // the CRM's process id
	Contacts  int       `json:"contacts"` // contacts it carries
	Status    string    `json:"status"`   // the CRM's status, e.g. "in_process"
	StartedAt time.Time `json:"started_at"`
}

// Bounds of the API.
const (
	// MaxBodyBytes bounds a request body (413 beyond).
	MaxBodyBytes = 8 << 20
	// MaxEntries bounds the ids and emails of one request.
	MaxEntries = 100000
	// maxInvalidShown bounds the invalid items an error answer lists.
	maxInvalidShown = 1000
	// probeTimeout bounds a credentials test.
	probeTimeout = 15 * time.Second
)

// contentSecurityPolicy allows the page's own script and style and
// nothing else: no inline script, no other origin, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// console serves the routes.
type console struct {
	pool     *pgxpool.Pool
	logger   *slog.Logger
	token    [sha256.Size]byte // sha256 of Config.Token
	enabled  bool
	probe    func(ctx context.Context) (string, error)
	settings func() any
	live     func() Live
	events   func(ctx context.Context, email string, limit int) (any, error)
	status   *statusCache
}

// New returns the operator API and console (see the package doc for the
// routes). Mount it for "/", "/ui/" and "/api/" beside the webhook handler.
func New(cfg Config) http.Handler {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &console{
		pool:     cfg.Pool,
		logger:   logger.With("component", "console"),
		token:    sha256.Sum256([]byte(cfg.Token)),
		enabled:  cfg.Token != "" && cfg.Pool != nil,
		probe:    cfg.Probe,
		settings: cfg.Settings,
		live:     cfg.Live,
		events:   cfg.RecentEvents,
		status:   newStatusCache(cfg.Pool, statusTTL),
	}
	page, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embedded folder is part of the build
	}

	guard := chain(c.requireEnabled, c.requireAuth, http.NewCrossOriginProtection().Handler, requireJSON)
	r := chi.NewRouter()
	r.Use(middleware.RequestID, c.accessLog, middleware.Recoverer, securityHeaders, underGuard(guard))
	r.NotFound(notFound)
	r.MethodNotAllowed(methodNotAllowed)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusFound) })
	r.Get("/api/v1/status", c.getStatus)
	r.Post("/api/v1/select", c.postSelect)
	r.Post("/api/v1/unselect", c.postUnselect)
	r.Post("/api/v1/retry", c.postRetry)
	r.Get("/api/v1/failures", c.getFailures)
	r.Get("/api/v1/contacts/{id}", c.getContact)
	r.Post("/api/v1/credentials/test", c.postCredentialsTest)
	r.Get("/api/v1/config", c.getConfig)
	r.Get("/ui", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusFound) })
	r.Get("/ui/*", http.StripPrefix("/ui/", pageHandler(page)).ServeHTTP)
	return r
}

// chain composes middleware, the first outermost.
func chain(mw ...func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		for i := len(mw) - 1; i >= 0; i-- {
			h = mw[i](h)
		}
		return h
	}
}

// underGuard applies guard to every path but "/" (the redirect to the
// page), before routing: a stranger learns no route, not even which exist.
func underGuard(guard func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		guarded := guard(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/" {
				next.ServeHTTP(w, r)
				return
			}
			guarded.ServeHTTP(w, r)
		})
	}
}

// securityHeaders are sent on every answer.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// pageHandler serves the embedded page; "" (that is /ui/) is index.html.
func pageHandler(page fs.FS) http.Handler {
	files := http.FileServerFS(page)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "" && r.URL.Path != "index.html" && !exists(page, r.URL.Path) {
			notFound(w, r)
			return
		}
		if r.URL.Path == "index.html" { // FileServer would redirect it to ./
			r.URL.Path = ""
		}
		files.ServeHTTP(w, r)
	})
}

func exists(page fs.FS, name string) bool {
	st, err := fs.Stat(page, strings.TrimPrefix(name, "/"))
	return err == nil && !st.IsDir()
}

// requireEnabled answers 503 while there is no admin token.
func (c *console) requireEnabled(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.enabled {
			writeJSON(w, http.StatusServiceUnavailable, errorBody{
				Error: "the operator API and console are disabled: set BREVO_SYNC_ADMIN_TOKEN to enable them"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireJSON refuses a POST whose Content-Type is not application/json
// (415): a cross-site HTML form cannot send one.
func requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
			if !strings.EqualFold(strings.TrimSpace(ct), "application/json") {
				writeJSON(w, http.StatusUnsupportedMediaType, errorBody{
					Error: "a POST must have Content-Type: application/json", Field: "Content-Type"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// accessLog logs every answer: GETs at Debug (the page polls), the rest
// at Info. Never a header, so never a credential.
func (c *console) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		defer func() {
			level := slog.LevelInfo
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				level = slog.LevelDebug
			}
			c.logger.LogAttrs(r.Context(), level, "http request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", cmpStatus(ww.Status())), slog.Int("bytes", ww.BytesWritten()),
				slog.Duration("duration", time.Since(start)),
				slog.String("request_id", middleware.GetReqID(r.Context())))
		}()
		next.ServeHTTP(ww, r)
	})
}

func cmpStatus(s int) int {
	if s == 0 {
		return http.StatusOK
	}
	return s
}

// errorBody is every error answer: what is wrong, the field at fault when
// one is, and for bad items each of them.
type errorBody struct {
	Error        string        `json:"error"`
	Field        string        `json:"field,omitempty"`
	Invalid      []invalidItem `json:"invalid,omitempty"`
	InvalidCount int           `json:"invalid_count,omitempty"`
}

type invalidItem struct {
	Field  string `json:"field"`
	Value  string `json:"value"`
	Reason string `json:"reason"`
}

func notFound(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusNotFound, errorBody{Error: "not found"})
}

func methodNotAllowed(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method not allowed"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
