package webhook

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

// No Authorization header, however malformed, gets any part of its
// credentials into the log, at any level. Before, a header without a space
// was logged as `unsupported scheme "<the token>"`.
func TestAuthNeverLogsCredentials(t *testing.T) {
	t.Parallel()
	const secret = "Zq7xWv9Kp2mT"
	var logs syncBuffer
	srv := setup(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}).srv
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	headers := []string{
		secret,                                   // no space: all credential
		secret + "!",                             // no space, not a word
		secret + " more",                         // the secret as an unknown scheme
		"Token " + secret,                        // a known scheme we do not take
		"Bearer\t" + secret,                      // tab, not space
		"Bearer " + secret,                       // wrong bearer token
		"bearer  " + secret + "  ",               // wrong, padded
		"Bearer",                                 // scheme alone
		"Bearer    ",                             // empty bearer (net/http trims it)
		"Basic " + secret,                        // not base64 of user:password
		"Basic " + b64(secret),                   // no colon
		"Basic " + b64(secret+":"),               // the secret as user name, no password
		"Basic " + b64("brevo:"+secret),          // wrong password
		"Basic " + b64(":"+secret) + "=",         // bad padding
		"Basic " + secret[:6] + " " + secret[6:], // space inside
		"\xff\xfe" + secret + "\x80",             // binary garbage (obs-text bytes pass net/http)
		"Bearer \xc3" + secret,                   // invalid UTF-8 before the secret
	}
	for _, h := range headers {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/webhooks/brevo", strings.NewReader(`{"event":"spam"}`))
		req.Header.Set("Authorization", h)
		if r := send(t, srv.Client(), req); r.code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", h, r.code)
		}
	}
	// Control characters: net/http refuses the request before the handler.
	for _, h := range []string{"Bearer \x01" + secret, "\x00" + secret, "Bearer " + secret + "\x7f"} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /webhooks/brevo HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", h)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("Authorization %q: %v", h, err)
		}
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 400 or 401", h, resp.StatusCode)
		}
	}

	log := logs.String()
	if got := strings.Count(log, `"msg":"webhook request refused"`); got != len(headers) {
		t.Errorf("%d refusals logged, want %d", got, len(headers))
	}
	// Not the secret, nor any 5 characters of it, nor its base64.
	var leaked []string
	for i := 0; i+5 <= len(secret); i++ {
		if part := secret[i : i+5]; strings.Contains(log, part) {
			leaked = append(leaked, part)
		}
	}
	for _, enc := range []string{b64(secret), b64(secret + ":"), b64("brevo:" + secret)} {
		if enc = strings.TrimRight(enc, "="); strings.Contains(log, enc) {
			leaked = append(leaked, enc)
		}
	}
	if len(leaked) > 0 {
		t.Errorf("the log holds parts of the secret: %q", leaked)
	}
	// What it does log is useful: the reason, a known scheme, lengths.
	for _, want := range []string{"no scheme", "unsupported scheme Token", "Bearer scheme without credentials",
		"malformed basic credentials", "wrong bearer credentials (12 bytes)", "unknown scheme (12 bytes"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if t.Failed() {
		var buf bytes.Buffer
		for line := range strings.Lines(log) {
			if strings.Contains(line, "refused") {
				buf.WriteString(line)
			}
		}
		t.Logf("refusals:\n%s", buf.String())
	}
}
