package service

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"time"

	envparse "github.com/caarlos0/env/v11"

	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo"
	"github.com/brevosync/brevosync/webhook"
)

// Config is the service's environment (contract §3), with the seed
// application's fallbacks resolved and every value validated within sane
// bounds.
type Config struct {
	// DatabaseURL and DatabaseListenURL are pgx connection strings
	// (SQLAlchemy's postgresql+driver:// forms translated).
	DatabaseURL       string
	DatabaseListenURL string

	APIKey         string
	APIBaseURL     string
	ListIDs        []int64
	RequestTimeout time.Duration

	SweepInterval    time.Duration
	BatchSize        int
	MaxRetries       int
	RetryDelay       time.Duration
	RetryExponential bool
	Concurrency      int
	RateLimit        float64
	Lease            time.Duration
	ShutdownTimeout  time.Duration
	WebhookRetention time.Duration
	// Mirror: synced contacts stay in step (contract §8).
	Mirror bool
	// ImportThreshold is BREVO_SYNC_IMPORT_THRESHOLD (0: no imports) and
	// ProcessesPerHour BREVO_SYNC_PROCESSES_PER_HOUR.
	ImportThreshold  int
	ProcessesPerHour int

	// HTTPAddr is HTTP_ADDR, else :$PORT, else :8080.
	HTTPAddr       string
	WebhookToken   string
	AllowedCIDRs   []netip.Prefix
	TrustedProxies []netip.Prefix
	AdminToken     string
	// PublicURL is BREVO_SYNC_PUBLIC_URL, else RENDER_EXTERNAL_URL.
	PublicURL string
	SentryDSN string

	LogFormat string
	LogLevel  string
}

// Retry is the retry policy the configuration describes.
func (c *Config) Retry() syncer.RetryPolicy {
	return syncer.RetryPolicy{MaxRetries: c.MaxRetries, Base: c.RetryDelay, Linear: !c.RetryExponential}
}

// Scope names the settings a command reads: a command that does not talk
// to Brevo neither reads nor validates Brevo's or the syncer's settings.
type Scope int

// The scopes; combine them with |.
const (
	// Database: DATABASE_URL, DATABASE_LISTEN_URL, LOG_FORMAT, LOG_LEVEL.
	Database Scope = 1 << iota
	// Brevo: the API key, base URL, list ids and request timeout.
	Brevo
	// Sync: the syncer's settings.
	Sync
	// HTTP: the listener address, the webhook and console secrets,
	// alerting.
	HTTP
	// Serve is everything `serve` reads.
	Serve = Database | Brevo | Sync | HTTP
)

// The variables, by scope. Fields with a seed application's fallback are
// pointers so that "unset" can be told apart. Defaults are not written here:
// Load fills them in from the packages that own them before parsing.
type (
	databaseVars struct {
		DatabaseURL       string `env:"DATABASE_URL"`
		DatabaseListenURL string `env:"DATABASE_LISTEN_URL"`
		LogFormat         string `env:"LOG_FORMAT"`
		LogLevel          string `env:"LOG_LEVEL"`
	}
	brevoVars struct {
		APIKey         string         `env:"BREVO_API_KEY"`
		APIBaseURL     string         `env:"BREVO_API_BASE_URL"`
		ListIDs        string         `env:"BREVO_LIST_ID"`
		RequestTimeout *time.Duration `env:"BREVO_REQUEST_TIMEOUT"`
	}
	syncVars struct {
		RateLimit            float64        `env:"BREVO_SYNC_RATE_LIMIT"`
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
		WebhookRetention     string         `env:"BREVO_WEBHOOK_RETENTION"`
		Mirror               bool           `env:"BREVO_SYNC_MIRROR"`
		ImportThreshold      int            `env:"BREVO_SYNC_IMPORT_THRESHOLD"`
		ProcessesPerHour     int            `env:"BREVO_SYNC_PROCESSES_PER_HOUR"`
	}
	leaseVars struct {
		Lease time.Duration `env:"BREVO_SYNC_LEASE"`
	}
	httpVars struct {
		HTTPAddr       string   `env:"HTTP_ADDR"`
		Port           string   `env:"PORT"`
		WebhookToken   string   `env:"BREVO_WEBHOOK_TOKEN"`
		AllowedCIDRs   []string `env:"BREVO_WEBHOOK_ALLOWED_CIDRS" envSeparator:","`
		TrustedProxies []string `env:"BREVO_WEBHOOK_TRUSTED_PROXIES" envSeparator:","`
		AdminToken     string   `env:"BREVO_SYNC_ADMIN_TOKEN"`
		PublicURL      string   `env:"BREVO_SYNC_PUBLIC_URL"`
		RenderURL      string   `env:"RENDER_EXTERNAL_URL"`
		SentryDSN      string   `env:"SENTRY_DSN"`
	}
)

// The bounds of BREVO_SYNC_LEASE (the contract caps it at 2m).
const (
	minLease = 2 * time.Second
	maxLease = 2 * time.Minute
)

// DefaultWebhookRetention is how long webhook events are kept.
const DefaultWebhookRetention = 30 * 24 * time.Hour

// ConfigError is a bad or missing setting; the process exits 2.
type ConfigError struct {
	Var string
	Err error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("%s: %v", e.Var, e.Err) }

// bad is a ConfigError for name.
func bad(name, format string, args ...any) error {
	return &ConfigError{Var: name, Err: fmt.Errorf(format, args...)}
}

// Load reads the settings of scope from the environment through getenv,
// validates them and resolves the fallbacks. Every error is a *ConfigError
// naming the variable at fault and what it accepts; no error repeats a
// secret's value.
func Load(getenv func(string) string, scope Scope) (*Config, error) {
	scope |= Database // every command logs, and most need the database
	c := &Config{}
	db := databaseVars{LogLevel: "info"}
	if err := parse(getenv, &db); err != nil {
		return nil, err
	}
	if err := c.resolveDatabase(db); err != nil {
		return nil, err
	}
	sv := syncVars{
		RateLimit:        syncer.DefaultRateLimit,
		MaxRetries:       syncer.DefaultMaxRetries,
		RetryExponential: true,
		Concurrency:      syncer.DefaultConcurrency,
		Lease:            syncer.DefaultLease,
		ShutdownTimeout:  syncer.DefaultShutdownTimeout,
		Mirror:           true,
		ImportThreshold:  syncer.DefaultImportThreshold,
		ProcessesPerHour: syncer.DefaultProcessesPerHour,
	}
	switch {
	case scope&Sync != 0:
		if err := parse(getenv, &sv); err != nil {
			return nil, err
		}
		if err := c.resolveSync(sv); err != nil {
			return nil, err
		}
	case scope&Brevo != 0: // the request timeout depends on the lease alone
		lv := leaseVars{Lease: sv.Lease}
		if err := parse(getenv, &lv); err != nil {
			return nil, err
		}
		if err := between("BREVO_SYNC_LEASE", &lv.Lease, minLease, maxLease); err != nil {
			return nil, err
		}
		c.Lease = lv.Lease
	}
	if scope&Brevo != 0 {
		bv := brevoVars{APIBaseURL: brevo.DefaultBaseURL}
		if err := parse(getenv, &bv); err != nil {
			return nil, err
		}
		if err := c.resolveBrevo(bv); err != nil {
			return nil, err
		}
	}
	if scope&HTTP != 0 {
		var hv httpVars
		if err := parse(getenv, &hv); err != nil {
			return nil, err
		}
		if err := c.resolveHTTP(hv); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// parse fills v from the variables named in its env tags, leaving the
// fields of unset variables as they are (their defaults).
func parse[T any](getenv func(string) string, v *T) error {
	present := map[string]string{}
	t := reflect.TypeFor[T]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("env"), ",")
		if val := strings.TrimSpace(getenv(name)); name != "" && val != "" {
			present[name] = val
		}
	}
	if err := envparse.ParseWithOptions(v, envparse.Options{Environment: present}); err != nil {
		return translateEnvError[T](err)
	}
	return nil
}

// translateEnvError turns the env library's field-named errors into
// variable-named ones.
func translateEnvError[T any](err error) error {
	var agg envparse.AggregateError
	if errors.As(err, &agg) && len(agg.Errors) > 0 {
		err = agg.Errors[0]
	}
	var pe envparse.ParseError
	if errors.As(err, &pe) {
		name := pe.Name
		if f, ok := reflect.TypeFor[T]().FieldByName(pe.Name); ok {
			name, _, _ = strings.Cut(f.Tag.Get("env"), ",")
		}
		cause := errors.Unwrap(pe.Err)
		if cause == nil {
			cause = pe.Err
		}
		return &ConfigError{Var: name, Err: fmt.Errorf("not a valid %s: %w", typeName(pe.Type), cause)}
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

func (c *Config) resolveDatabase(v databaseVars) error {
	var err error
	if v.DatabaseURL != "" {
		if c.DatabaseURL, err = databaseURL("DATABASE_URL", v.DatabaseURL); err != nil {
			return err
		}
	}
	c.DatabaseListenURL = c.DatabaseURL
	if v.DatabaseListenURL != "" {
		if c.DatabaseListenURL, err = databaseURL("DATABASE_LISTEN_URL", v.DatabaseListenURL); err != nil {
			return err
		}
	}
	if v.LogFormat != "" && v.LogFormat != "text" && v.LogFormat != "json" {
		return bad("LOG_FORMAT", "must be text or json, not %q", v.LogFormat)
	}
	if _, err := ParseLevel(v.LogLevel); err != nil {
		return bad("LOG_LEVEL", "%v", err)
	}
	c.LogFormat, c.LogLevel = v.LogFormat, v.LogLevel
	return nil
}

func (c *Config) resolveSync(v syncVars) error {
	var err error
	switch {
	case math.IsNaN(v.RateLimit) || math.IsInf(v.RateLimit, 0) || v.RateLimit < 0 || (v.RateLimit > 0 && v.RateLimit < 0.1) || v.RateLimit > 1000:
		return bad("BREVO_SYNC_RATE_LIMIT", "must be 0 (no limit) or between 0.1 and 1000 requests a second, not %v", v.RateLimit)
	case v.MaxRetries < 0 || v.MaxRetries > 100:
		return bad("BREVO_SYNC_MAX_RETRIES", "must be between 0 and 100, not %d", v.MaxRetries)
	case v.Concurrency < 1 || v.Concurrency > 1000:
		return bad("BREVO_SYNC_CONCURRENCY", "must be between 1 and 1000, not %d", v.Concurrency)
	case v.ImportThreshold < 0 || v.ImportThreshold > 10_000_000:
		return bad("BREVO_SYNC_IMPORT_THRESHOLD", "must be 0 (no imports) or up to 10000000 contacts, not %d", v.ImportThreshold)
	case v.ProcessesPerHour < 1 || v.ProcessesPerHour > 100_000:
		return bad("BREVO_SYNC_PROCESSES_PER_HOUR", "must be between 1 and 100000, not %d", v.ProcessesPerHour)
	}
	for _, b := range []struct {
		name     string
		v        *int
		min, max int
	}{
		{"BREVO_SYNC_BATCH_SIZE", v.BatchSize, 1, 10000},
		{"BREVO_SYNC_SCHEDULER_BATCH_SIZE", v.SchedulerBatchSize, 1, 10000},
		{"BREVO_SYNC_SCHEDULER_INTERVAL_MINUTES", v.SweepIntervalMinutes, 1, 1440},
		{"BREVO_SYNC_RETRY_DELAY_MINUTES", v.RetryDelayMinutes, 1, 1440},
	} {
		if b.v != nil && (*b.v < b.min || *b.v > b.max) {
			return bad(b.name, "must be between %d and %d, not %d", b.min, b.max, *b.v)
		}
	}
	for _, b := range []struct {
		name     string
		v        *time.Duration
		min, max time.Duration
	}{
		{"BREVO_SYNC_SWEEP_INTERVAL", v.SweepInterval, 100 * time.Millisecond, 24 * time.Hour},
		{"BREVO_SYNC_RETRY_DELAY", v.RetryDelay, 100 * time.Millisecond, 24 * time.Hour},
		{"BREVO_SYNC_LEASE", &v.Lease, minLease, maxLease},
		{"BREVO_SYNC_SHUTDOWN_TIMEOUT", &v.ShutdownTimeout, time.Second, 10 * time.Minute},
	} {
		if err := between(b.name, b.v, b.min, b.max); err != nil {
			return err
		}
	}
	c.SweepInterval = fallback(v.SweepInterval, minutes(v.SweepIntervalMinutes), syncer.DefaultSweepInterval)
	c.BatchSize = fallback(v.BatchSize, v.SchedulerBatchSize, syncer.DefaultBatchSize)
	c.RetryDelay = fallback(v.RetryDelay, minutes(v.RetryDelayMinutes), syncer.DefaultRetryDelay)
	c.MaxRetries, c.RetryExponential = v.MaxRetries, v.RetryExponential
	c.Concurrency, c.RateLimit = v.Concurrency, v.RateLimit
	c.Lease, c.ShutdownTimeout = v.Lease, v.ShutdownTimeout
	c.Mirror = v.Mirror
	c.ImportThreshold, c.ProcessesPerHour = v.ImportThreshold, v.ProcessesPerHour
	c.WebhookRetention = DefaultWebhookRetention
	if v.WebhookRetention != "" {
		if c.WebhookRetention, err = parseDays(v.WebhookRetention); err != nil {
			return bad("BREVO_WEBHOOK_RETENTION", "not a valid duration (like \"30d\" or \"720h\"): %v", err)
		}
		if err := between("BREVO_WEBHOOK_RETENTION", &c.WebhookRetention, webhook.MinRetention, 10*365*24*time.Hour); err != nil {
			return err
		}
	}
	return nil
}

// between checks a set duration against its bounds.
func between(name string, v *time.Duration, lo, hi time.Duration) error {
	if v != nil && (*v < lo || *v > hi) {
		return bad(name, "must be between %s and %s, not %s", lo, hi, *v)
	}
	return nil
}

// parseDays reads a Go duration, or a whole number of days ("30d").
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err != nil || fmt.Sprint(days) != n || days < 0 || days > 36500 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
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
