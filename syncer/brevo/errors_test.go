package brevo_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	api := func(status int) error { return &brevo.APIError{StatusCode: status, Message: "x"} }
	tests := []struct {
		name string
		err  error
		want syncer.ErrorKind
	}{
		{"400 invalid email", api(400), syncer.Rejected},
		{"401", api(401), syncer.Unauthorized},
		{"402 no credits", api(402), syncer.Unauthorized},
		{"403", api(403), syncer.Unauthorized},
		{"404", api(404), syncer.Rejected},
		{"405", api(405), syncer.Rejected},
		{"408 request timeout", api(408), syncer.Retryable},
		{"409", api(409), syncer.Rejected},
		{"422", api(422), syncer.Rejected},
		{"425 too early", api(425), syncer.Retryable},
		{"429", api(429), syncer.RateLimited},
		{"500", api(500), syncer.Retryable},
		{"502", api(502), syncer.Retryable},
		{"503", api(503), syncer.Retryable},
		{"504", api(504), syncer.Retryable},
		{"wrapped 400", fmt.Errorf("sync contact x: %w", api(400)), syncer.Rejected},
		{"wrapped 429", fmt.Errorf("a: %w", fmt.Errorf("b: %w", api(429))), syncer.RateLimited},
		{"canceled", context.Canceled, syncer.Retryable},
		{"deadline", fmt.Errorf("upsert contact: %w", context.DeadlineExceeded), syncer.Retryable},
		{"EOF", fmt.Errorf("upsert contact: %w", io.ErrUnexpectedEOF), syncer.Retryable},
		{"refused", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, syncer.Retryable},
		{"plain", errors.New("boom"), syncer.Retryable},
		{"nil", nil, syncer.Retryable},
	}
	for _, tt := range tests {
		if got := brevo.Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%s: %v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestAPIErrorError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *brevo.APIError
		want string
	}{
		{
			&brevo.APIError{StatusCode: 400, Code: "invalid_parameter", Message: "Invalid email address"},
			"brevo: 400 invalid_parameter: Invalid email address",
		},
		{
			&brevo.APIError{StatusCode: 502, Message: "Bad Gateway"},
			"brevo: 502 Bad Gateway",
		},
		{
			&brevo.APIError{StatusCode: 429, Code: "too_many_requests", Message: "slow down", RateLimitReset: time.Second, RequestID: "r1"},
			"brevo: 429 too_many_requests: slow down",
		},
		{&brevo.APIError{StatusCode: 599}, "brevo: 599"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%#v.Error() = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	big := `{"code":"x","message":"` + strings.Repeat("a", 70<<10) + `"}`
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    brevo.APIError
		text    string
		class   syncer.ErrorKind
	}{
		{
			name:    "invalid email",
			handler: answer(400, `{"code":"invalid_parameter","message":"Invalid email address"}`, "sib-request-id", "req-1"),
			want:    brevo.APIError{StatusCode: 400, Code: "invalid_parameter", Message: "Invalid email address", RequestID: "req-1"},
			text:    "brevo: 400 invalid_parameter: Invalid email address",
			class:   syncer.Rejected,
		},
		{
			name:    "duplicate with metadata",
			handler: answer(400, `{"code":"duplicate_parameter","message":"SMS is already associated with another Contact","metadata":{"duplicate_identifiers":["SMS"]}}`),
			want: brevo.APIError{StatusCode: 400, Code: "duplicate_parameter", Message: "SMS is already associated with another Contact",
				DuplicateIdentifiers: []string{"SMS"}},
			text:  "brevo: 400 duplicate_parameter: SMS is already associated with another Contact",
			class: syncer.Rejected,
		},
		{
			name:    "unauthorized",
			handler: answer(401, `{"message":"Key not found","code":"unauthorized"}`),
			want:    brevo.APIError{StatusCode: 401, Code: "unauthorized", Message: "Key not found"},
			text:    "brevo: 401 unauthorized: Key not found",
			class:   syncer.Unauthorized,
		},
		{
			name:    "429 with reset",
			handler: answer(429, `{"code":"too_many_requests","message":"slow down"}`, "x-sib-ratelimit-reset", "3"),
			want:    brevo.APIError{StatusCode: 429, Code: "too_many_requests", Message: "slow down", RateLimitReset: 3 * time.Second},
			text:    "brevo: 429 too_many_requests: slow down",
			class:   syncer.RateLimited,
		},
		{
			name:    "429 without reset",
			handler: answer(429, ``),
			want:    brevo.APIError{StatusCode: 429, Message: "Too Many Requests", RateLimitReset: time.Second},
			text:    "brevo: 429 Too Many Requests",
			class:   syncer.RateLimited,
		},
		{
			name:    "html 502",
			handler: answer(502, `<html><body>Bad gateway</body></html>`, "content-type", "text/html"),
			want:    brevo.APIError{StatusCode: 502, Message: "Bad Gateway"},
			text:    "brevo: 502 Bad Gateway",
			class:   syncer.Retryable,
		},
		{
			name:    "empty 503",
			handler: answer(503, ``),
			want:    brevo.APIError{StatusCode: 503, Message: "Service Unavailable"},
			text:    "brevo: 503 Service Unavailable",
			class:   syncer.Retryable,
		},
		{
			name:    "body over 64 KiB",
			handler: answer(500, big),
			want:    brevo.APIError{StatusCode: 500, Message: "Internal Server Error"},
			text:    "brevo: 500 Internal Server Error",
			class:   syncer.Retryable,
		},
		{
			name:    "json without code",
			handler: answer(404, `{"message":"Contact does not exist"}`),
			want:    brevo.APIError{StatusCode: 404, Message: "Contact does not exist"},
			text:    "brevo: 404 Contact does not exist",
			class:   syncer.Rejected,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := recordServer(t, tt.handler)
			c := brevo.NewClient(brevo.Config{BaseURL: srv.URL})
			_, err := c.UpsertContact(t.Context(), brevo.Contact{Email: "a@example.com"})
			apiErr, ok := errors.AsType[*brevo.APIError](err)
			if !ok {
				t.Fatalf("UpsertContact error = %v, want *APIError", err)
			}
			if diff := cmp.Diff(tt.want, *apiErr); diff != "" {
				t.Errorf("APIError mismatch (-want +got):\n%s", diff)
			}
			if got := err.Error(); got != tt.text {
				t.Errorf("Error() = %q, want %q", got, tt.text)
			}
			if got := brevo.Classify(err); got != tt.class {
				t.Errorf("Classify = %v, want %v", got, tt.class)
			}
		})
	}
}
