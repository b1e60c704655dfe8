package main

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/brevosync/brevosync/sql/schematest"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// TestServeMountsTheConsole: serve answers the operator API and the
// console beside the webhook, with what only the running process knows,
// the configuration redacted, and the webhook's routes untouched.
func TestServeMountsTheConsole(t *testing.T) {
	t.Parallel()
	dsn := schematest.NewURL(t)
	sim := brevotest.New(t, brevotest.Config{APIKey: "c-key"})
	sv, _ := serveInProcess(t, map[string]string{
		"DATABASE_URL":           dsn,
		"BREVO_API_KEY":          "c-key",
		"BREVO_API_BASE_URL":     sim.URL(),
		"BREVO_SYNC_ADMIN_TOKEN": "admin-secret",
		"HTTP_ADDR":              "127.0.0.1:0",
	}, io.Discard)
	if err := sv.WaitListening(t.Context()); err != nil {
		t.Fatal(err)
	}
	base := "http://" + sv.Addr.String()
	get := func(path, token string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}

	if resp, _ := get("/api/v1/status", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/status without the token: %d, want 401", resp.StatusCode)
	}
	resp, body := get("/api/v1/status", "admin-secret")
	var status struct {
		Total int64 `json:"total"`
		Live  *struct {
			ListenerConnected bool `json:"listener_connected"`
		} `json:"live"`
	}
	if err := json.Unmarshal(body, &status); err != nil || resp.StatusCode != http.StatusOK || status.Live == nil ||
		!status.Live.ListenerConnected {
		t.Errorf("GET /api/v1/status: %d %s (%v), want 200 with the live listener", resp.StatusCode, body, err)
	}
	resp, body = get("/api/v1/config", "admin-secret")
	var settings map[string]any
	if err := json.Unmarshal(body, &settings); err != nil || resp.StatusCode != http.StatusOK ||
		settings["BREVO_API_KEY"] != "(set, redacted)" || settings["BREVO_SYNC_ADMIN_TOKEN"] != "(set, redacted)" {
		t.Errorf("GET /api/v1/config: %d %s (%v), want the secrets redacted", resp.StatusCode, body, err)
	}
	if resp, _ := get("/", ""); resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /: %d to %q, want a redirect to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get("/ui/", "admin-secret"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /ui/: %d, want 200", resp.StatusCode)
	}
	if resp, _ := get("/healthz", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: %d", resp.StatusCode)
	}
	if resp, _ := get("/nowhere", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nowhere: %d, want the webhook's 404", resp.StatusCode)
	}
}
