package brevo_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo"
)

func TestUpsertContactMalformedBody(t *testing.T) {
	t.Parallel()
	srv, _ := recordServer(t, answer(201, `{"id": "not a number"`))
	c := brevo.NewClient(brevo.Config{BaseURL: srv.URL})
	_, err := c.UpsertContact(t.Context(), brevo.Contact{Email: "a@example.com"})
	if err == nil {
		t.Fatal("UpsertContact = nil error, want a decode error")
	}
	if apiErr, ok := errors.AsType[*brevo.APIError](err); ok {
		t.Errorf("UpsertContact error = APIError %v, want a non-API error", apiErr)
	}
	if got := brevo.Classify(err); got != syncer.Retryable {
		t.Errorf("Classify(%v) = %v, want temporary", err, got)
	}
	if !strings.HasPrefix(err.Error(), "upsert contact: ") {
		t.Errorf("error %q does not name the operation", err)
	}
}

// TestConnectionReuse checks that bodies are drained and closed: successes
// and errors alike go over one connection.
func TestConnectionReuse(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	var n atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch n.Add(1) % 3 {
		case 0:
			answer(201, `{"id":1}`)(w, r)
		case 1:
			answer(400, `{"code":"invalid_parameter","message":"Invalid email address"}`)(w, r)
		default:
			answer(503, strings.Repeat("x", 10<<10))(w, r)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	c := brevo.NewClient(brevo.Config{BaseURL: srv.URL})
	for range 9 {
		_, _ = c.UpsertContact(t.Context(), brevo.Contact{Email: "a@example.com"})
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("9 sequential requests used %d connections, want 1", got)
	}
}

func TestTimeoutIsTemporary(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		// Reading the body lets net/http notice the client hanging up.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	c := brevo.NewClient(brevo.Config{BaseURL: srv.URL, Timeout: 50 * time.Millisecond})
	_, err := c.UpsertContact(t.Context(), brevo.Contact{Email: "a@example.com"})
	if err == nil {
		t.Fatal("UpsertContact = nil error, want a timeout")
	}
	if _, ok := errors.AsType[*brevo.APIError](err); ok {
		t.Errorf("UpsertContact error %v is an APIError, want a transport error", err)
	}
	if got := brevo.Classify(err); got != syncer.Retryable {
		t.Errorf("Classify(%v) = %v, want temporary", err, got)
	}
	if !strings.HasPrefix(err.Error(), "upsert contact: ") {
		t.Errorf("error %q does not name the operation", err)
	}
}

func TestDroppedConnectionIsTemporary(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		_ = conn.Close()
	}))
	t.Cleanup(srv.Close)
	c := brevo.NewClient(brevo.Config{BaseURL: srv.URL})
	_, err := c.UpsertContact(t.Context(), brevo.Contact{Email: "a@example.com"})
	if err == nil {
		t.Fatal("UpsertContact = nil error, want a connection error")
	}
	if got := brevo.Classify(err); got != syncer.Retryable {
		t.Errorf("Classify(%v) = %v, want temporary", err, got)
	}
}

func TestConnectionRefusedIsTemporary(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c := brevo.NewClient(brevo.Config{BaseURL: "http://" + addr + "/v3"})
	err = c.Account(t.Context())
	if err == nil {
		t.Fatal("Account = nil error, want connection refused")
	}
	if got := brevo.Classify(err); got != syncer.Retryable {
		t.Errorf("Classify(%v) = %v, want temporary", err, got)
	}
	if !strings.HasPrefix(err.Error(), "get account: ") {
		t.Errorf("error %q does not name the operation", err)
	}
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	srv, _ := recordServer(t, answer(204, ``))
	c := brevo.NewClient(brevo.Config{BaseURL: srv.URL})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.UpsertContact(ctx, brevo.Contact{Email: "a@example.com"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("UpsertContact error = %v, want context.Canceled", err)
	}
	if got := brevo.Classify(err); got != syncer.Retryable {
		t.Errorf("Classify(%v) = %v, want temporary", err, got)
	}
}

// TestAPIKeyNeverFollowsARedirectToAnotherHost: a 307 from the base URL to
// another host is refused, and the other host never sees the api-key.
func TestAPIKeyNeverFollowsARedirectToAnotherHost(t *testing.T) {
	t.Parallel()
	var leaked atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("api-key") != "" {
			leaked.Add(1)
		}
		answer(200, `{"attributes":[]}`)(w, r)
	}))
	t.Cleanup(other.Close)
	srv, _ := recordServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	})
	for _, hc := range []*http.Client{nil, {Timeout: time.Second}} {
		c := brevo.NewClient(brevo.Config{BaseURL: srv.URL + "/v3", APIKey: "secret-key", HTTPClient: hc})
		_, err := c.Attributes(t.Context())
		if err == nil || !strings.Contains(err.Error(), "refusing to follow a redirect") {
			t.Errorf("Attributes through a cross-host redirect = %v, want it refused", err)
		}
	}
	if n := leaked.Load(); n != 0 {
		t.Errorf("the other host received the api-key %d times", n)
	}
	// A redirect within the base URL's host is followed.
	same, _ := recordServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old/v3/contacts/attributes" {
			http.Redirect(w, r, "/v3/contacts/attributes", http.StatusTemporaryRedirect)
			return
		}
		answer(200, `{"attributes":[]}`)(w, r)
	})
	c := brevo.NewClient(brevo.Config{BaseURL: same.URL + "/old/v3", APIKey: "k"})
	if _, err := c.Attributes(t.Context()); err != nil {
		t.Errorf("Attributes through a same-host redirect: %v", err)
	}
}
