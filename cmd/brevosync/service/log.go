package service

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/lmittmann/tint"

	"github.com/brevosync/brevosync/cmd/brevosync/alert"
)

// NewLogger logs to w: tint's colored text on a terminal, JSON otherwise,
// unless format says which.
func NewLogger(w io.Writer, format, level string) *slog.Logger {
	lvl, _ := ParseLevel(level)
	if format == "" {
		format = "json"
		if IsTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(tint.NewHandler(w, &tint.Options{
			Level:      lvl,
			TimeFormat: time.TimeOnly + ".000",
			NoColor:    !IsTerminal(w),
		}))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl}))
}

// ParseLevel reads LOG_LEVEL.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return slog.LevelInfo, fmt.Errorf("must be debug, info, warn or error, not %q", s)
}

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// NewServeLogger is NewLogger for `serve`: with SENTRY_DSN set, the errors
// that need a person are also reported to Sentry, once per incident (see
// package alert). flush sends what is pending; call it before exiting.
func NewServeLogger(cfg *Config, w io.Writer, release string) (logger *slog.Logger, flush func(), err error) {
	base := NewLogger(w, cfg.LogFormat, cfg.LogLevel)
	h, err := alert.New(alert.Config{DSN: cfg.SentryDSN, Release: release}, base.Handler())
	if err != nil {
		return nil, nil, &ConfigError{Var: "SENTRY_DSN", Err: err}
	}
	return slog.New(h), func() { h.Flush(5 * time.Second) }, nil
}
