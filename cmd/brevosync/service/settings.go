package service

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"

	"github.com/brevosync/brevosync/syncer/brevo"
)

// The parsers of the settings that are more than a number: URLs, list ids,
// addresses.

func (c *Config) resolveBrevo(v brevoVars) error {
	c.APIKey = v.APIKey
	base, err := apiBaseURL(v.APIBaseURL)
	if err != nil {
		return bad("BREVO_API_BASE_URL", "%v", err)
	}
	c.APIBaseURL = base
	for _, f := range strings.Split(v.ListIDs, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil || id <= 0 {
			return bad("BREVO_LIST_ID", "must be comma-separated Brevo list ids (positive numbers), got %q", f)
		}
		c.ListIDs = append(c.ListIDs, id)
	}
	// The request timeout defaults to 10s, and to half the lease when that
	// is shorter, so that a request always ends well inside its claim.
	half := c.Lease / 2
	c.RequestTimeout = min(brevo.DefaultTimeout, half)
	if v.RequestTimeout != nil {
		c.RequestTimeout = *v.RequestTimeout
		if err := between("BREVO_REQUEST_TIMEOUT", v.RequestTimeout, 100*time.Millisecond, half); err != nil {
			return bad("BREVO_REQUEST_TIMEOUT", "must be between 100ms and half of BREVO_SYNC_LEASE (%s, so %s), not %s",
				c.Lease, half, *v.RequestTimeout)
		}
	}
	return nil
}

// apiBaseURL checks BREVO_API_BASE_URL: an absolute http(s) URL with a host
// and no spaces, query or fragment. The scheme and host are lower-cased
// ("HTTPS://API.BREVO.COM/v3" is fine) and a trailing slash dropped.
func apiBaseURL(s string) (string, error) {
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return "", fmt.Errorf("must be a URL like %s, without spaces", brevo.DefaultBaseURL)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("must be a URL like %s: %v", brevo.DefaultBaseURL, err)
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", fmt.Errorf("must be an http or https URL like %s, not %q", brevo.DefaultBaseURL, s)
	case u.Host == "" || u.Hostname() == "":
		return "", fmt.Errorf("must name a host, like %s, not %q", brevo.DefaultBaseURL, s)
	case u.User != nil:
		return "", fmt.Errorf("must not carry credentials (the key goes in BREVO_API_KEY)")
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("must have no query or fragment, like %s, not %q", brevo.DefaultBaseURL, s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("has an invalid port %q", p)
		}
	}
	u.Scheme, u.Host = scheme, strings.ToLower(u.Host)
	return strings.TrimRight(u.String(), "/"), nil
}

// databaseURL checks a Postgres connection string and translates the
// application's SQLAlchemy forms: postgresql+asyncpg://… and
// postgresql+psycopg://… (the +driver part is dropped), asyncpg's ssl=…
// (sslmode=…), and the drivers' own options that Postgres would refuse as
// settings. Errors never repeat the string: it may hold a password.
func databaseURL(name, raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		base, _, hasDriver := strings.Cut(scheme, "+")
		if hasDriver && (base == "postgresql" || base == "postgres") {
			s = base + "://" + rest
		}
		if base == "postgresql" || base == "postgres" {
			var err error
			if s, err = dropDriverOptions(s); err != nil {
				return "", bad(name, "not a valid Postgres URL (postgresql://user:password@host:5432/database)")
			}
		}
	}
	if _, err := pgx.ParseConfig(s); err != nil {
		return "", bad(name, "not a valid Postgres connection string (postgresql://user:password@host:5432/database): %s",
			parseProblem(err))
	}
	return s, nil
}

// driverOptions are query options of Python drivers that are not Postgres
// settings: asyncpg's, and SQLAlchemy's own.
var driverOptions = []string{
	"prepared_statement_cache_size", "statement_cache_size", "max_cached_statement_lifetime",
	"max_cacheable_statement_size", "command_timeout", "server_settings", "prepared_statement_name_func",
}

// dropDriverOptions translates a URL's query options for pgx.
func dropDriverOptions(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	q := u.Query()
	if v := q.Get("ssl"); v != "" {
		q.Del("ssl")
		if q.Get("sslmode") == "" {
			switch strings.ToLower(v) {
			case "true", "1":
				v = "require"
			case "false", "0":
				v = "disable"
			}
			q.Set("sslmode", v)
		}
	}
	if v := q.Get("timeout"); v != "" && q.Get("connect_timeout") == "" {
		q.Del("timeout")
		q.Set("connect_timeout", v)
	}
	for _, o := range driverOptions {
		q.Del(o)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// parseProblem describes a pgx parse error without the connection string,
// which pgx quotes (redacting only some forms of password).
func parseProblem(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "`: "); i >= 0 {
		return msg[i+3:]
	}
	return "cannot parse it"
}

func (c *Config) resolveHTTP(v httpVars) error {
	if v.Port != "" {
		if n, err := strconv.Atoi(v.Port); err != nil || n < 1 || n > 65535 {
			return bad("PORT", "must be a TCP port number (1 to 65535), not %q", v.Port)
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
	if _, port, err := net.SplitHostPort(c.HTTPAddr); err != nil || port == "" {
		return bad("HTTP_ADDR", "must be host:port or :port, not %q", v.HTTPAddr)
	}
	var err error
	if c.AllowedCIDRs, err = parsePrefixes(v.AllowedCIDRs); err != nil {
		return bad("BREVO_WEBHOOK_ALLOWED_CIDRS", "%v", err)
	}
	if c.TrustedProxies, err = parsePrefixes(v.TrustedProxies); err != nil {
		return bad("BREVO_WEBHOOK_TRUSTED_PROXIES", "%v", err)
	}
	c.WebhookToken, c.AdminToken, c.SentryDSN = v.WebhookToken, v.AdminToken, v.SentryDSN
	public, name := v.PublicURL, "BREVO_SYNC_PUBLIC_URL"
	if public == "" {
		public, name = v.RenderURL, "RENDER_EXTERNAL_URL"
	}
	if public != "" {
		u, err := url.Parse(public)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
			return bad(name, "must be this service's external base URL, like https://brevosync.onrender.com, not %q", public)
		}
		c.PublicURL = strings.TrimRight(u.String(), "/")
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
