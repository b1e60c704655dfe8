package webhook

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brevosync/brevosync/syncer"
)

// importJob inserts an import job whose notifyUrl carries secret and
// returns its id.
func importJob(t *testing.T, b *testBundle, secret string) int64 {
	t.Helper()
	h := sha256.Sum256([]byte(secret))
	var id int64
	err := b.pool.QueryRow(t.Context(), `INSERT INTO brevosync_imports (state, claim_token, contact_ids, n_contacts,
		secret_sha256, process_id, submitted_at) VALUES ('submitted', gen_random_uuid(), '{}', 0, $1, '7', now())
		RETURNING id`, h[:]).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func notifiedAt(t *testing.T, b *testBundle, id int64) *time.Time {
	t.Helper()
	var at *time.Time
	if err := b.pool.QueryRow(t.Context(), `SELECT notified_at FROM brevosync_imports WHERE id = $1`, id).Scan(&at); err != nil {
		t.Fatal(err)
	}
	return at
}

// TestImportNotification: Brevo calls an import's notifyUrl with an empty
// POST and no credentials but the secret in the path. The right secret is
// 204, records the call and wakes the replicas (NOTIFY brevosync); a wrong
// secret or an unknown job is 404 and changes nothing; the secret never
// reaches the logs; and none of it needs BREVO_WEBHOOK_TOKEN.
func TestImportNotification(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	b := setup(t, func(c *Config) {
		c.Token = ""
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	const secret = "Zm9vYmFyYmF6cXV4LXNlY3JldC1vZi10aGlzLWpvYg"
	id := importJob(t, b, secret)
	path := syncer.ImportNotifyPath + strconv.FormatInt(id, 10) + "/"

	conn, err := pgx.Connect(t.Context(), b.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(t.Context(), "LISTEN brevosync"); err != nil {
		t.Fatal(err)
	}

	noAuth := map[string]string{"Authorization": "", "Content-Type": ""}
	for _, tt := range []struct {
		name, path string
	}{
		{"wrong secret", path + "not-the-secret"},
		{"secret of another length", path + secret + "x"},
		{"unknown job", syncer.ImportNotifyPath + "999999/" + secret},
		{"job not a number", syncer.ImportNotifyPath + "x/" + secret},
	} {
		r := b.do(t, http.MethodPost, tt.path, nil, noAuth)
		wantError(t, tt.name, r, http.StatusNotFound)
	}
	if at := notifiedAt(t, b, id); at != nil {
		t.Fatalf("notified_at = %v after refused calls, want NULL", at)
	}

	r := b.do(t, http.MethodPost, path+secret, nil, noAuth)
	if r.code != http.StatusNoContent || r.body != "" {
		t.Fatalf("POST with the job's secret = %d %q, want 204 and no body", r.code, r.body)
	}
	if notifiedAt(t, b, id) == nil {
		t.Error("notified_at not set by the notification")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if n, err := conn.WaitForNotification(ctx); err != nil || n.Channel != "brevosync" {
		t.Errorf("no NOTIFY brevosync after the notification: %v, %v", n, err)
	}
	// Brevo may call twice; the second call is as good as the first.
	if r := b.do(t, http.MethodPost, path+secret, nil, noAuth); r.code != http.StatusNoContent {
		t.Errorf("second notification = %d, want 204", r.code)
	}
	if r := b.do(t, http.MethodGet, path+secret, nil, noAuth); r.code != http.StatusMethodNotAllowed {
		t.Errorf("GET of the notifyUrl = %d, want 405", r.code)
	}

	out := logs.String()
	if strings.Contains(out, secret) || strings.Contains(out, "not-the-secret") {
		t.Errorf("the logs show a notifyUrl secret:\n%s", out)
	}
	if !strings.Contains(out, `"path":"`+path+`…"`) {
		t.Errorf("the access log does not show the notification's path without its secret:\n%s", out)
	}
}

func TestLoggedPath(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"/webhooks/brevo", "/webhooks/brevo"},
		{"/webhooks/brevo/imports/12/s3cret", "/webhooks/brevo/imports/12/…"},
		{"/webhooks/brevo/imports/12/s3cret/more", "/webhooks/brevo/imports/12/…"},
		{"/webhooks/brevo/imports/12", "/webhooks/brevo/imports/12"},
		{"/healthz", "/healthz"},
	} {
		r, _ := http.NewRequest(http.MethodPost, "http://x"+tt.in, nil)
		if got := loggedPath(r); got != tt.want {
			t.Errorf("loggedPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
