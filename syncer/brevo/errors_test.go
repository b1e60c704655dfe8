package brevo_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/brevosync/brevosync/syncer/brevo"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	api := func(status int) error { return &brevo.APIError{StatusCode: status, Message: "x"} }
	tests := []struct {
		name string
		err  error
		want brevo.Class
	}{
		{"400 invalid email", api(400), brevo.Permanent},
		{"401", api(401), brevo.Unauthorized},
		{"402 no credits", api(402), brevo.Unauthorized},
		{"403", api(403), brevo.Unauthorized},
		{"404", api(404), brevo.Permanent},
		{"405", api(405), brevo.Permanent},
		{"408 request timeout", api(408), brevo.Temporary},
		{"409", api(409), brevo.Permanent},
		{"422", api(422), brevo.Permanent},
		{"425 too early", api(425), brevo.Temporary},
		{"429", api(429), brevo.RateLimited},
		{"500", api(500), brevo.Temporary},
		{"502", api(502), brevo.Temporary},
		{"503", api(503), brevo.Temporary},
		{"504", api(504), brevo.Temporary},
		{"wrapped 400", fmt.Errorf("sync contact x: %w", api(400)), brevo.Permanent},
		{"wrapped 429", fmt.Errorf("a: %w", fmt.Errorf("b: %w", api(429))), brevo.RateLimited},
		{"canceled", context.Canceled, brevo.Temporary},
		{"deadline", fmt.Errorf("upsert contact: %w", context.DeadlineExceeded), brevo.Temporary},
		{"EOF", fmt.Errorf("upsert contact: %w", io.ErrUnexpectedEOF), brevo.Temporary},
		{"refused", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, brevo.Temporary},
		{"plain", errors.New("boom"), brevo.Temporary},
		{"nil", nil, brevo.Temporary},
	}
	for _, tt := range tests {
		if got := brevo.Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%s: %v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestClassString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		c    brevo.Class
		want string
	}{
		{brevo.Temporary, "temporary"},
		{brevo.Permanent, "permanent"},
		{brevo.RateLimited, "rate_limited"},
		{brevo.Unauthorized, "unauthorized"},
		{brevo.Class(9), "Class(9)"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("Class(%d).String() = %q, want %q", int(tt.c), got, tt.want)
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
