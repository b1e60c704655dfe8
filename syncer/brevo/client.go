package brevo

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults for [Config].
const (
	DefaultBaseURL   = "https://api.brevo.com/v3"
	DefaultTimeout   = 10 * time.Second
	DefaultUserAgent = "brevosync"
)

// maxBody caps how much of a response body is read and kept.
const maxBody = 64 << 10

// Config configures a [Client]. The zero value talks to Brevo with no key.
type Config struct {
	// BaseURL is the API root, default DefaultBaseURL. A trailing slash is
	// tolerated.
	BaseURL string
	// APIKey is sent as the api-key header.
	APIKey string
	// Timeout bounds each request, response body included; default
	// DefaultTimeout. It applies only when HTTPClient is nil.
	Timeout time.Duration
	// HTTPClient sends the requests. Default: a client with Timeout and a
	// transport that keeps up to 128 idle connections to the API host, since
	// many requests run concurrently against one host.
	HTTPClient *http.Client
	// UserAgent is sent as the user-agent header, default DefaultUserAgent.
	UserAgent string
}

// Client calls Brevo's API. It is safe for concurrent use.
type Client struct {
	base      string
	apiKey    string
	userAgent string
	hc        *http.Client
}

// NewClient returns a client for cfg, filling in defaults.
func NewClient(cfg Config) *Client {
	hc := &http.Client{
		Timeout:   cmp.Or(cfg.Timeout, DefaultTimeout),
		Transport: newTransport(),
	}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient // a copy: the redirect policy below is ours
		hc = &c
	}
	base := strings.TrimRight(cmp.Or(cfg.BaseURL, DefaultBaseURL), "/")
	hc.CheckRedirect = sameHost(base, hc.CheckRedirect)
	return &Client{
		base:      base,
		apiKey:    cfg.APIKey,
		userAgent: cmp.Or(cfg.UserAgent, DefaultUserAgent),
		hc:        hc,
	}
}

// sameHost is the redirect policy: follow a redirect only to the base URL's
// own scheme and host, so that the api-key header, which Go forwards on
// redirects (it drops only Authorization and cookies), never reaches
// another host.
func sameHost(base string, next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	b, _ := url.Parse(base)
	return func(req *http.Request, via []*http.Request) error {
		if b == nil || !strings.EqualFold(req.URL.Scheme, b.Scheme) || !strings.EqualFold(req.URL.Host, b.Host) {
			return fmt.Errorf("refusing to follow a redirect to %s://%s: the API key goes only to %s",
				req.URL.Scheme, req.URL.Host, b.Host)
		}
		if len(via) >= 5 {
			return errors.New("stopped after 5 redirects")
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
}

// newTransport is http.DefaultTransport's configuration with room for many
// concurrent keep-alive connections to one host.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
}

// RateLimit is what Brevo's x-sib-ratelimit-* headers said about the
// caller's rate-limit window.
type RateLimit struct {
	// Limit is the number of requests allowed in the window.
	Limit int
	// Remaining is the number of requests left in the window.
	Remaining int
	// Reset is the time until the window resets (the header is relative
	// seconds, possibly fractional).
	Reset time.Duration
	// Known reports whether any of the headers was present and valid.
	Known bool
}

// parseRateLimit reads the x-sib-ratelimit-* headers.
func parseRateLimit(h http.Header) RateLimit {
	var rl RateLimit
	if n, ok := headerInt(h, "x-sib-ratelimit-limit"); ok {
		rl.Limit, rl.Known = n, true
	}
	if n, ok := headerInt(h, "x-sib-ratelimit-remaining"); ok {
		rl.Remaining, rl.Known = n, true
	}
	if d, ok := headerSeconds(h, "x-sib-ratelimit-reset"); ok {
		rl.Reset, rl.Known = d, true
	}
	return rl
}

func headerInt(h http.Header, key string) (int, bool) {
	v := strings.TrimSpace(h.Get(key))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return int(f), true
}

// headerSeconds parses a relative number of seconds, clamped to [0, 24h].
func headerSeconds(h http.Header, key string) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get(key))
	if v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) {
		return 0, false
	}
	f = min(max(f, 0), 24*3600)
	return time.Duration(f * float64(time.Second)), true
}

// response is a read 2xx answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request and returns its 2xx answer, an *APIError for any
// other status, or a transport error wrapped with op.
func (c *Client) do(ctx context.Context, op, method, path string, in any) (response, error) {
	return c.doRead(ctx, op, method, path, in, maxBody)
}

// doRead is do reading up to limit bytes of a 2xx answer.
func (c *Client) doRead(ctx context.Context, op, method, path string, in any, limit int64) (response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return response{}, fmt.Errorf("%s: encode request: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return response{}, fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("api-key", c.apiKey)
	req.Header.Set("accept", "application/json")
	req.Header.Set("user-agent", c.userAgent)
	if in != nil {
		req.Header.Set("content-type", "application/json")
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s: %w", op, err)
	}
	defer func() {
		// Drain (a bounded amount) so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		_ = resp.Body.Close()
	}()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// A body cut short still leaves a usable status code.
		return response{}, newAPIError(resp, b)
	}
	if err != nil {
		return response{}, fmt.Errorf("%s: read response: %w", op, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}
