package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"

	envparse "github.com/caarlos0/env/v11"
)

// config is the service's environment (contract §3). Fields that have a
// seed-application fallback are pointers so that "unset" can be told apart.
type config struct {
	DatabaseURL string  `env:"DATABASE_URL"`
	APIKey      string  `env:"BREVO_API_KEY"`
	APIBaseURL  string  `env:"BREVO_API_BASE_URL" envDefault:"https://api.brevo.com/v3"`
	ListIDsRaw  string  `env:"BREVO_LIST_ID"`
	ListIDs     []int64 // parsed from ListIDsRaw

	SweepInterval        *time.Duration `env:"BREVO_SYNC_SWEEP_INTERVAL"`
	SweepIntervalMinutes *int           `env:"BREVO_SYNC_SCHEDULER_INTERVAL_MINUTES"`
	BatchSize            *int           `env:"BREVO_SYNC_BATCH_SIZE"`
	SchedulerBatchSize   *int           `env:"BREVO_SYNC_SCHEDULER_BATCH_SIZE"`
	MaxRetries           int            `env:"BREVO_SYNC_MAX_RETRIES" envDefault:"3"`
	RetryDelay           *time.Duration `env:"BREVO_SYNC_RETRY_DELAY"`
	RetryDelayMinutes    *int           `env:"BREVO_SYNC_RETRY_DELAY_MINUTES"`
	RetryExponential     bool           `env:"BREVO_SYNC_RETRY_EXPONENTIAL" envDefault:"true"`
	Concurrency          int            `env:"BREVO_SYNC_CONCURRENCY" envDefault:"16"`
	RateLimit            float64        `env:"BREVO_SYNC_RATE_LIMIT" envDefault:"10"`
	Lease                time.Duration  `env:"BREVO_SYNC_LEASE" envDefault:"1m"`
	ShutdownTimeout      time.Duration  `env:"BREVO_SYNC_SHUTDOWN_TIMEOUT" envDefault:"20s"`
	RequestTimeout       time.Duration  `env:"BREVO_REQUEST_TIMEOUT" envDefault:"10s"`

	HTTPAddr       string   `env:"HTTP_ADDR"`
	Port           string   `env:"PORT"`
	WebhookToken   string   `env:"BREVO_WEBHOOK_TOKEN"`
	AllowedCIDRs   []string `env:"BREVO_WEBHOOK_ALLOWED_CIDRS" envSeparator:","`
	TrustedProxies []string `env:"BREVO_WEBHOOK_TRUSTED_PROXIES" envSeparator:","`

	LogFormat string `env:"LOG_FORMAT"`
	LogLevel  string `env:"LOG_LEVEL" envDefault:"info"`
}

// configError is a bad or missing setting; the process exits 2.
type configError struct {
	Var string
	Err error
}

func (e *configError) Error() string { return fmt.Sprintf("%s: %v", e.Var, e.Err) }

// loadConfig reads the environment through getenv and validates it. Every
// error names the variable at fault.
func loadConfig(getenv func(string) string) (*config, error) {
	vars := map[string]string{}
	t := reflect.TypeFor[config]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("env"), ",")
		if name == "" {
			continue
		}
		if v := strings.TrimSpace(getenv(name)); v != "" {
			vars[name] = v
		}
	}
	var c config
	if err := envparse.ParseWithOptions(&c, envparse.Options{Environment: vars}); err != nil {
		return nil, translateEnvError(err)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// translateEnvError turns the env library's field-named errors into
// variable-named ones.
func translateEnvError(err error) error {
	var agg envparse.AggregateError
	if errors.As(err, &agg) && len(agg.Errors) > 0 {
		err = agg.Errors[0]
	}
	var pe envparse.ParseError
	if errors.As(err, &pe) {
		name := pe.Name
		if f, ok := reflect.TypeFor[config]().FieldByName(pe.Name); ok {
			name, _, _ = strings.Cut(f.Tag.Get("env"), ",")
		}
		return &configError{Var: name, Err: fmt.Errorf("not a valid %s: %w", typeName(pe.Type), errors.Unwrap(pe.Err))}
	}
	return &configError{Var: "environment", Err: err}
}

func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return `duration (like "90s" or "5m")`
	case t.Kind() == reflect.Slice:
		return "comma-separated list of " + typeName(t.Elem()) + "s"
	case t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.Int, t.Kind() == reflect.Int64:
		return "whole number"
	case t.Kind() == reflect.Bool:
		return "boolean (true or false)"
	}
	return t.String()
}

func (c *config) validate() error {
	bad := func(v, format string, args ...any) error {
		return &configError{Var: v, Err: fmt.Errorf(format, args...)}
	}
	switch {
	case c.SweepInterval != nil && *c.SweepInterval <= 0:
		return bad("BREVO_SYNC_SWEEP_INTERVAL", "must be positive")
	case c.SweepIntervalMinutes != nil && *c.SweepIntervalMinutes <= 0:
		return bad("BREVO_SYNC_SCHEDULER_INTERVAL_MINUTES", "must be positive")
	case c.BatchSize != nil && (*c.BatchSize < 1 || *c.BatchSize > 10000):
		return bad("BREVO_SYNC_BATCH_SIZE", "must be between 1 and 10000")
	case c.SchedulerBatchSize != nil && (*c.SchedulerBatchSize < 1 || *c.SchedulerBatchSize > 10000):
		return bad("BREVO_SYNC_SCHEDULER_BATCH_SIZE", "must be between 1 and 10000")
	case c.MaxRetries < 0 || c.MaxRetries > 100:
		return bad("BREVO_SYNC_MAX_RETRIES", "must be between 0 and 100")
	case c.RetryDelay != nil && *c.RetryDelay <= 0:
		return bad("BREVO_SYNC_RETRY_DELAY", "must be positive")
	case c.RetryDelayMinutes != nil && *c.RetryDelayMinutes <= 0:
		return bad("BREVO_SYNC_RETRY_DELAY_MINUTES", "must be positive")
	case c.Concurrency < 1 || c.Concurrency > 1000:
		return bad("BREVO_SYNC_CONCURRENCY", "must be between 1 and 1000")
	case c.RateLimit < 0:
		return bad("BREVO_SYNC_RATE_LIMIT", "must be 0 (no limit) or positive")
	case c.Lease <= 0 || c.Lease > 2*time.Minute:
		return bad("BREVO_SYNC_LEASE", "must be positive and at most 2m")
	case c.RequestTimeout <= 0 || c.RequestTimeout >= c.Lease:
		return bad("BREVO_REQUEST_TIMEOUT", "must be positive and shorter than BREVO_SYNC_LEASE (%s)", c.Lease)
	case c.ShutdownTimeout <= 0:
		return bad("BREVO_SYNC_SHUTDOWN_TIMEOUT", "must be positive")
	case c.LogFormat != "" && c.LogFormat != "text" && c.LogFormat != "json":
		return bad("LOG_FORMAT", "must be text or json, not %q", c.LogFormat)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return bad("LOG_LEVEL", "%v", err)
	}
	for _, f := range strings.Split(c.ListIDsRaw, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil || id <= 0 {
			return bad("BREVO_LIST_ID", "must be comma-separated Brevo list ids (positive numbers), got %q", f)
		}
		c.ListIDs = append(c.ListIDs, id)
	}
	if !strings.HasPrefix(c.APIBaseURL, "http://") && !strings.HasPrefix(c.APIBaseURL, "https://") {
		return bad("BREVO_API_BASE_URL", "must be an http(s) URL, not %q", c.APIBaseURL)
	}
	if c.Port != "" {
		if n, err := strconv.Atoi(c.Port); err != nil || n < 1 || n > 65535 {
			return bad("PORT", "must be a TCP port number, not %q", c.Port)
		}
	}
	if _, _, err := net.SplitHostPort(c.httpAddr()); err != nil {
		return bad("HTTP_ADDR", "must be host:port or :port, not %q", c.HTTPAddr)
	}
	if _, err := parsePrefixes(c.AllowedCIDRs); err != nil {
		return bad("BREVO_WEBHOOK_ALLOWED_CIDRS", "%v", err)
	}
	if _, err := parsePrefixes(c.TrustedProxies); err != nil {
		return bad("BREVO_WEBHOOK_TRUSTED_PROXIES", "%v", err)
	}
	return nil
}

// require fails unless every named setting is present.
func (c *config) require(names ...string) error {
	for _, n := range names {
		var v string
		switch n {
		case "DATABASE_URL":
			v = c.DatabaseURL
		case "BREVO_API_KEY":
			v = c.APIKey
		}
		if v == "" {
			return &configError{Var: n, Err: errors.New("is required; see brevosync help")}
		}
	}
	return nil
}

// sweepInterval is BREVO_SYNC_SWEEP_INTERVAL, else the seed application's
// BREVO_SYNC_SCHEDULER_INTERVAL_MINUTES, else 5m.
func (c *config) sweepInterval() time.Duration {
	switch {
	case c.SweepInterval != nil:
		return *c.SweepInterval
	case c.SweepIntervalMinutes != nil:
		return time.Duration(*c.SweepIntervalMinutes) * time.Minute
	}
	return 5 * time.Minute
}

// batchSize is BREVO_SYNC_BATCH_SIZE, else BREVO_SYNC_SCHEDULER_BATCH_SIZE,
// else 100.
func (c *config) batchSize() int {
	switch {
	case c.BatchSize != nil:
		return *c.BatchSize
	case c.SchedulerBatchSize != nil:
		return *c.SchedulerBatchSize
	}
	return 100
}

// retryDelay is BREVO_SYNC_RETRY_DELAY, else BREVO_SYNC_RETRY_DELAY_MINUTES,
// else 5m.
func (c *config) retryDelay() time.Duration {
	switch {
	case c.RetryDelay != nil:
		return *c.RetryDelay
	case c.RetryDelayMinutes != nil:
		return time.Duration(*c.RetryDelayMinutes) * time.Minute
	}
	return 5 * time.Minute
}

// httpAddr is HTTP_ADDR, else :$PORT, else :8080.
func (c *config) httpAddr() string {
	switch {
	case c.HTTPAddr != "":
		return c.HTTPAddr
	case c.Port != "":
		return ":" + c.Port
	}
	return ":8080"
}

func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or CIDR", s)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR like 1.179.112.0/20", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
