package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brevosync/brevosync/sql/schematest"
	"github.com/brevosync/brevosync/webhook"
	"github.com/brevosync/brevosync/webhook/console"
)

const token = "console-test-token"

// bundle is a console on a database of the test's own, over real HTTP.
type bundle struct {
	pool    *pgxpool.Pool
	srv     *httptest.Server
	liveMu  sync.Mutex
	live    console.Live
	probeOK atomic.Bool
}

// setLive changes what Config.Live reports.
func (b *bundle) setLive(f func(*console.Live)) {
	b.liveMu.Lock()
	defer b.liveMu.Unlock()
	f(&b.live)
}

type bundleOpts struct {
	token  string // "" means the default token; "-" no token at all
	noLive bool
}

func newBundle(t testing.TB, o bundleOpts) *bundle {
	t.Helper()
	b := &bundle{pool: schematest.NewPool(t),
		live: console.Live{ListenerConnected: true, Paused: true, PausedReason: "Brevo refuses the API key"}}
	b.probeOK.Store(true)
	tok := o.token
	switch tok {
	case "":
		tok = token
	case "-":
		tok = ""
	}
	cfg := console.Config{
		Pool:   b.pool,
		Token:  tok,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Probe: func(ctx context.Context) (string, error) {
			if !b.probeOK.Load() {
				return "", errors.New("brevo: 401 unauthorized: Key not found")
			}
			return "ops@example.com (Example Ltd)", nil
		},
		Settings: func() any { return map[string]any{"BREVO_API_KEY": "[redacted]", "BREVO_SYNC_BATCH_SIZE": 100} },
		RecentEvents: func(ctx context.Context, email string, limit int) (any, error) {
			return webhook.RecentEvents(ctx, b.pool, email, limit)
		},
	}
	if !o.noLive {
		cfg.Live = func() console.Live {
			b.liveMu.Lock()
			defer b.liveMu.Unlock()
			return b.live
		}
	}
	mux := http.NewServeMux()
	c := console.New(cfg)
	mux.Handle("/", c)
	mux.Handle("/webhooks/", webhook.NewHandler(webhook.Config{Pool: b.pool, Token: "hook"}))
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)
	return b
}

// answer is an HTTP answer with its JSON body decoded.
type answer struct {
	code   int
	header http.Header
	body   []byte
	json   map[string]any
}

func (a answer) str(key string) string { s, _ := a.json[key].(string); return s }

// do sends a request; auth is "" (none), "bearer", "basic" or a raw
// Authorization header.
func (b *bundle) do(t *testing.T, method, path, auth, contentType, body string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, b.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	switch auth {
	case "":
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+token)
	case "basic":
		req.SetBasicAuth("operator", token)
	default:
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{code: res.StatusCode, header: res.Header, body: raw}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a.json); err != nil {
			t.Fatalf("%s %s: answer is not a JSON object: %v\n%s", method, path, err, raw)
		}
	}
	return a
}

func (b *bundle) get(t *testing.T, path string) answer {
	t.Helper()
	return b.do(t, http.MethodGet, path, "bearer", "", "")
}

func (b *bundle) post(t *testing.T, path, body string) answer {
	t.Helper()
	return b.do(t, http.MethodPost, path, "bearer", "application/json", body)
}

// decode re-decodes an answer's body into v.
func decode(t *testing.T, a answer, v any) {
	t.Helper()
	if err := json.NewDecoder(bytes.NewReader(a.body)).Decode(v); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
}

func (b *bundle) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if _, err := b.pool.Exec(t.Context(), q, args...); err != nil {
		t.Fatalf("exec %s: %v", q, err)
	}
}

// insert adds a contact in a state and returns its id.
func (b *bundle) insert(t *testing.T, email, sync, proc, errText string) string {
	t.Helper()
	var id string
	err := b.pool.QueryRow(t.Context(), `
		INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status, brevo_processing_error)
		VALUES ($1, $2::crm_sync_status, nullif($3, '')::crm_processing_status, nullif($4, ''))
		RETURNING id::text`, email, sync, proc, errText).Scan(&id)
	if err != nil {
		t.Fatalf("insert %s: %v", email, err)
	}
	return id
}

// state is a contact's pair, "Sync/Proc" with NULL spelled out.
func (b *bundle) state(t *testing.T, id string) string {
	t.Helper()
	var s string
	err := b.pool.QueryRow(t.Context(), `SELECT brevo_sync_status::text || '/' || coalesce(brevo_processing_status::text, 'NULL')
		FROM contacts WHERE id = $1`, id).Scan(&s)
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return s
}

// snapshot is every contact row, to show nothing changed.
func (b *bundle) snapshot(t *testing.T) string {
	t.Helper()
	var s string
	err := b.pool.QueryRow(t.Context(), `SELECT coalesce(string_agg(c::text, E'\n' ORDER BY id), '') FROM contacts c`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// postEvent stores a webhook event through the real receiver.
func (b *bundle) postEvent(t *testing.T, body string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, b.srv.URL+"/webhooks/brevo", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer hook")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("store webhook event: %s", res.Status)
	}
}
