package service

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// redacted stands for a secret that is set.
const redacted = "(set, redacted)"

// Redacted is the effective configuration by variable name, secrets
// replaced by a mark (set or not is shown, never the value): GET
// /api/v1/config.
func (c *Config) Redacted() map[string]any {
	secret := func(v string) string {
		if v == "" {
			return ""
		}
		return redacted
	}
	return map[string]any{
		"DATABASE_URL":                  redactURL(c.DatabaseURL),
		"DATABASE_LISTEN_URL":           redactURL(c.DatabaseListenURL),
		"BREVO_API_KEY":                 secret(c.APIKey),
		"BREVO_API_BASE_URL":            c.APIBaseURL,
		"BREVO_LIST_ID":                 c.ListIDs,
		"BREVO_REQUEST_TIMEOUT":         c.RequestTimeout.String(),
		"BREVO_SYNC_SWEEP_INTERVAL":     c.SweepInterval.String(),
		"BREVO_SYNC_BATCH_SIZE":         c.BatchSize,
		"BREVO_SYNC_MAX_RETRIES":        c.MaxRetries,
		"BREVO_SYNC_RETRY_DELAY":        c.RetryDelay.String(),
		"BREVO_SYNC_RETRY_EXPONENTIAL":  c.RetryExponential,
		"BREVO_SYNC_CONCURRENCY":        c.Concurrency,
		"BREVO_SYNC_RATE_LIMIT":         c.RateLimit,
		"BREVO_SYNC_LEASE":              c.Lease.String(),
		"BREVO_SYNC_SHUTDOWN_TIMEOUT":   c.ShutdownTimeout.String(),
		"BREVO_SYNC_MIRROR":             c.Mirror,
		"BREVO_WEBHOOK_RETENTION":       c.WebhookRetention.String(),
		"HTTP_ADDR":                     c.HTTPAddr,
		"BREVO_WEBHOOK_TOKEN":           secret(c.WebhookToken),
		"BREVO_WEBHOOK_ALLOWED_CIDRS":   prefixes(c.AllowedCIDRs),
		"BREVO_WEBHOOK_TRUSTED_PROXIES": prefixes(c.TrustedProxies),
		"BREVO_SYNC_ADMIN_TOKEN":        secret(c.AdminToken),
		"BREVO_SYNC_PUBLIC_URL":         c.PublicURL,
		"SENTRY_DSN":                    secret(c.SentryDSN),
		"LOG_FORMAT":                    c.LogFormat,
		"LOG_LEVEL":                     c.LogLevel,
	}
}

// redactURL shows a connection string's host, port, database and user,
// never its password.
func redactURL(dsn string) string {
	if dsn == "" {
		return ""
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return redacted
	}
	u := url.URL{Scheme: "postgresql", User: url.User(cfg.User), Host: cfg.Host, Path: "/" + cfg.Database}
	if cfg.Port != 0 {
		u.Host = net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	}
	if cfg.Password != "" {
		u.User = url.UserPassword(cfg.User, "redacted")
	}
	return u.String()
}

func prefixes(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
