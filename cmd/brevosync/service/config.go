package service

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

	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo"
)

// Config is the service's environment (contract §3), with the seed
// application's fallbacks resolved and every value validated.
type Config struct {
	DatabaseURL string
	APIKey      string
	APIBaseURL  string
	ListIDs     []int64

	SweepInterval    time.Duration
	BatchSize        int
	MaxRetries       int
	RetryDelay       time.Duration
	RetryExponential bool
	Concurrency      int
	RateLimit        float64
	Lease            time.Duration
	ShutdownTimeout  time.Duration
	RequestTimeout   time.Duration

	// HTTPAddr is HTTP_ADDR, else :$PORT, else :8080.
	HTTPAddr       string
	WebhookToken   string
	AllowedCIDRs   []netip.Prefix
	TrustedProxies []netip.Prefix

	LogFormat string
	LogLevel  string
}

// Retry is the retry policy the configuration describes.
func (c *Config) Retry() syncer.RetryPolicy {
	return syncer.RetryPolicy{MaxRetries: c.MaxRetries, Base: c.RetryDelay, Linear: !c.RetryExponential}
}

// vars is the environment as read, before fallbacks. Fields with a seed
// application fallback are pointers so that "unset" can be told apart.
// Defaults are not written here: Load fills them in from the packages that
// own them (syncer, brevo) before parsing.
type vars struct {
	DatabaseURL string  `env:"DATABASE_URL"`
	APIKey      string  `env:"BREVO_API_KEY"`
	APIBaseURL  string  `env:"BREVO_API_BASE_URL"`
	ListIDs     string  `env:"BREVO_LIST_ID"`
	RateLimit   float64 `env:"BREVO_SYNC_RATE_LIMIT"`

	SweepInterval        *time.Duration `env:"BREVO_SYNC_SWEEP_INTERVAL"`
	SweepIntervalMinutes *int           `env:"BREVO_SYNC_SCHEDULER_INTERVAL_MINUTES"`
	BatchSize            *int           `env:"BREVO_SYNC_BATCH_SIZE"`
	SchedulerBatchSize   *int           `env:"BREVO_SYNC_SCHEDULER_BATCH_SIZE"`
	MaxRetries           int            `env:"BREVO_SYNC_MAX_RETRIES"`
	RetryDelay           *time.Duration `env:"BREVO_SYNC_RETRY_DELAY"`
	RetryDelayMinutes    *int           `env:"BREVO_SYNC_RETRY_DELAY_MINUTES"`
	RetryExponential     bool           `env:"BREVO_SYNC_RETRY_EXPONENTIAL"`
	Concurrency          int            `env:"BREVO_SYNC_CONCURRENCY"`
	Lease                time.Duration  `env:"BREVO_SYNC_LEASE"`
	ShutdownTimeout      time.Duration  `env:"BREVO_SYNC_SHUTDOWN_TIMEOUT"`
	RequestTimeout       time.Duration  `env:"BREVO_REQUEST_TIMEOUT"`

	HTTPAddr       string   `env:"HTTP_ADDR"`
	Port           string   `env:"PORT"`
	WebhookToken   string   `env:"BREVO_WEBHOOK_TOKEN"`
	AllowedCIDRs   []string `env:"BREVO_WEBHOOK_ALLOWED_CIDRS" envSeparator:","`
	TrustedProxies []string `env:"BREVO_WEBHOOK_TRUSTED_PROXIES" envSeparator:","`

	LogFormat string `env:"LOG_FORMAT"`
	LogLevel  string `env:"LOG_LEVEL"`
}

// defaults are the values of unset variables, from their owners.
func defaults() vars {
	return vars{
		APIBaseURL:       brevo.DefaultBaseURL,
		RateLimit:        syncer.DefaultRateLimit,
		MaxRetries:       syncer.DefaultMaxRetries,
		RetryExponential: true,
		Concurrency:      syncer.DefaultConcurrency,
		Lease:            syncer.DefaultLease,
		ShutdownTimeout:  syncer.DefaultShutdownTimeout,
		RequestTimeout:   brevo.DefaultTimeout,
		LogLevel:         "info",
	}
}

// ConfigError is a bad or missing setting; the process exits 2.
type ConfigError struct {
	Var string
	Err error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("%s: %v", e.Var, e.Err) }

// Load reads the environment through getenv and validates it. Every error
// is a *ConfigError naming the variable at fault.
func Load(getenv func(string) string) (*Config, error) {
	present := map[string]string{}
	t := reflect.TypeFor[vars]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("env"), ",")
		if name == "" {
			continue
		}
		if v := strings.TrimSpace(getenv(name)); v != "" {
			present[name] = v
		}
	}
	v := defaults()
	if err := envparse.ParseWithOptions(&v, envparse.Options{Environment: present}); err != nil {
		return nil, translateEnvError(err)
	}
	return v.resolve()
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
		if f, ok := reflect.TypeFor[vars]().FieldByName(pe.Name); ok {
			name, _, _ = strings.Cut(f.Tag.Get("env"), ",")
		}
		return &ConfigError{Var: name, Err: fmt.Errorf("not a valid %s: %w", typeName(pe.Type), errors.Unwrap(pe.Err))}
	}
	return &ConfigError{Var: "environment", Err: err}
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

// resolve validates v and applies the seed application's fallbacks.
func (v *vars) resolve() (*Config, error) {
	bad := func(name, format string, args ...any) error {
		return &ConfigError{Var: name, Err: fmt.Errorf(format, args...)}
	}
	switch {
	case v.SweepInterval != nil && *v.SweepInterval <= 0:
		return nil, bad("BREVO_SYNC_SWEEP_INTERVAL", "must be positive")
	case v.SweepIntervalMinutes != nil && *v.SweepIntervalMinutes <= 0:
		return nil, bad("BREVO_SYNC_SCHEDULER_INTERVAL_MINUTES", "must be positive")
	case v.BatchSize != nil && (*v.BatchSize < 1 || *v.BatchSize > 10000):
		return nil, bad("BREVO_SYNC_BATCH_SIZE", "must be between 1 and 10000")
	case v.SchedulerBatchSize != nil && (*v.SchedulerBatchSize < 1 || *v.SchedulerBatchSize > 10000):
		return nil, bad("BREVO_SYNC_SCHEDULER_BATCH_SIZE", "must be between 1 and 10000")
	case v.MaxRetries < 0 || v.MaxRetries > 100:
		return nil, bad("BREVO_SYNC_MAX_RETRIES", "must be between 0 and 100")
	case v.RetryDelay != nil && *v.RetryDelay <= 0:
		return nil, bad("BREVO_SYNC_RETRY_DELAY", "must be positive")
	case v.RetryDelayMinutes != nil && *v.RetryDelayMinutes <= 0:
		return nil, bad("BREVO_SYNC_RETRY_DELAY_MINUTES", "must be positive")
	case v.Concurrency < 1 || v.Concurrency > 1000:
		return nil, bad("BREVO_SYNC_CONCURRENCY", "must be between 1 and 1000")
	case v.RateLimit < 0:
		return nil, bad("BREVO_SYNC_RATE_LIMIT", "must be 0 (no limit) or positive")
	case v.Lease <= 0 || v.Lease > 2*time.Minute:
		return nil, bad("BREVO_SYNC_LEASE", "must be positive and at most 2m")
	case v.RequestTimeout <= 0 || v.RequestTimeout >= v.Lease:
		return nil, bad("BREVO_REQUEST_TIMEOUT", "must be positive and shorter than BREVO_SYNC_LEASE (%s)", v.Lease)
	case v.ShutdownTimeout <= 0:
		return nil, bad("BREVO_SYNC_SHUTDOWN_TIMEOUT", "must be positive")
	case v.LogFormat != "" && v.LogFormat != "text" && v.LogFormat != "json":
		return nil, bad("LOG_FORMAT", "must be text or json, not %q", v.LogFormat)
	}
	if _, err := ParseLevel(v.LogLevel); err != nil {
		return nil, bad("LOG_LEVEL", "%v", err)
	}
	c := &Config{
		DatabaseURL:      v.DatabaseURL,
		APIKey:           v.APIKey,
		APIBaseURL:       v.APIBaseURL,
		SweepInterval:    fallback(v.SweepInterval, minutes(v.SweepIntervalMinutes), syncer.DefaultSweepInterval),
		BatchSize:        fallback(v.BatchSize, v.SchedulerBatchSize, syncer.DefaultBatchSize),
		MaxRetries:       v.MaxRetries,
		RetryDelay:       fallback(v.RetryDelay, minutes(v.RetryDelayMinutes), syncer.DefaultRetryDelay),
		RetryExponential: v.RetryExponential,
		Concurrency:      v.Concurrency,
		RateLimit:        v.RateLimit,
		Lease:            v.Lease,
		ShutdownTimeout:  v.ShutdownTimeout,
		RequestTimeout:   v.RequestTimeout,
		WebhookToken:     v.WebhookToken,
		LogFormat:        v.LogFormat,
		LogLevel:         v.LogLevel,
	}
	for _, f := range strings.Split(v.ListIDs, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil || id <= 0 {
			return nil, bad("BREVO_LIST_ID", "must be comma-separated Brevo list ids (positive numbers), got %q", f)
		}
		c.ListIDs = append(c.ListIDs, id)
	}
	if !strings.HasPrefix(c.APIBaseURL, "http://") && !strings.HasPrefix(c.APIBaseURL, "https://") {
		return nil, bad("BREVO_API_BASE_URL", "must be an http(s) URL, not %q", c.APIBaseURL)
	}
	if v.Port != "" {
		if n, err := strconv.Atoi(v.Port); err != nil || n < 1 || n > 65535 {
			return nil, bad("PORT", "must be a TCP port number, not %q", v.Port)
		}
	}
	switch {
	case v.HTTPAddr != "":
		c.HTTPAddr = v.HTTPAddr
	case v.Port != "":
		c.HTTPAddr = ":" + v.Port
	default:
		c.HTTPAddr = ":8080"
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return nil, bad("HTTP_ADDR", "must be host:port or :port, not %q", v.HTTPAddr)
	}
	var err error
	if c.AllowedCIDRs, err = parsePrefixes(v.AllowedCIDRs); err != nil {
		return nil, bad("BREVO_WEBHOOK_ALLOWED_CIDRS", "%v", err)
	}
	if c.TrustedProxies, err = parsePrefixes(v.TrustedProxies); err != nil {
		return nil, bad("BREVO_WEBHOOK_TRUSTED_PROXIES", "%v", err)
	}
	return c, nil
}

// fallback is the first set value: the new name's, the seed application's,
// then the default.
func fallback[T any](v, seed *T, def T) T {
	switch {
	case v != nil:
		return *v
	case seed != nil:
		return *seed
	}
	return def
}

// minutes turns a seed application's *_MINUTES value into a duration.
func minutes(n *int) *time.Duration {
	if n == nil {
		return nil
	}
	d := time.Duration(*n) * time.Minute
	return &d
}

// Require fails unless every named setting is present.
func (c *Config) Require(names ...string) error {
	for _, n := range names {
		var v string
		switch n {
		case "DATABASE_URL":
			v = c.DatabaseURL
		case "BREVO_API_KEY":
			v = c.APIKey
		}
		if v == "" {
			return &ConfigError{Var: n, Err: errors.New("is required; see brevosync help")}
		}
	}
	return nil
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
