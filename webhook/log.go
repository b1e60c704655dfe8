package webhook

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5/middleware"
)

// accessLog logs every request once it is answered: method, path, status,
// bytes, duration and request_id; at Debug for the probes (/healthz,
// /readyz, /metrics), Info otherwise. It also puts a chi LogEntry in the
// request context, so that middleware.Recoverer reports a panic through
// slog instead of printing to stderr.
func accessLog(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			if id := middleware.GetReqID(r.Context()); id != "" {
				ww.Header().Set(middleware.RequestIDHeader, id)
			}
			entry := &panicEntry{logger: logger, r: r}
			defer func() {
				status := ww.Status()
				if status == 0 {
					status = http.StatusOK
				}
				level := slog.LevelInfo
				if isQuietPath(r.URL.Path) {
					level = slog.LevelDebug
				}
				logger.LogAttrs(r.Context(), level, "http request",
					slog.String("method", r.Method),
					slog.String("path", loggedPath(r)),
					slog.Int("status", status),
					slog.Int("bytes", ww.BytesWritten()),
					slog.Duration("duration", time.Since(start)),
					requestID(r),
				)
			}()
			next.ServeHTTP(ww, middleware.WithLogEntry(r, entry))
		})
	}
}

// panicEntry is the chi LogEntry through which middleware.Recoverer
// reports panics.
type panicEntry struct {
	logger *slog.Logger
	r      *http.Request
}

func (e *panicEntry) Write(int, int, http.Header, time.Duration, any) {}

func (e *panicEntry) Panic(v any, stack []byte) {
	e.logger.LogAttrs(e.r.Context(), slog.LevelError, "panic serving request",
		slog.String("panic", fmt.Sprint(v)),
		slog.String("stack", string(stack)),
		slog.String("method", e.r.Method),
		slog.String("path", loggedPath(e.r)),
		requestID(e.r),
	)
}
