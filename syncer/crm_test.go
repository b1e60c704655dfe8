package syncer_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/brevosync/brevosync/syncer"
)

func TestErrorKindString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		k    syncer.ErrorKind
		want string
	}{
		{syncer.Retryable, "retryable"},
		{syncer.Rejected, "rejected"},
		{syncer.RateLimited, "rate_limited"},
		{syncer.Unauthorized, "unauthorized"},
		{syncer.ErrorKind(9), "unknown"},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("ErrorKind(%d).String() = %q, want %q", int(tt.k), got, tt.want)
		}
	}
}

func TestKindOf(t *testing.T) {
	t.Parallel()
	rejected := &syncer.Error{Kind: syncer.Rejected, Err: errors.New("400 bad"), Text: "400 invalid_parameter: bad"}
	tests := []struct {
		err  error
		want syncer.ErrorKind
	}{
		{errors.New("connection refused"), syncer.Retryable},
		{rejected, syncer.Rejected},
		{fmt.Errorf("upsert: %w", rejected), syncer.Rejected},
		{&syncer.Error{Kind: syncer.Unauthorized, Err: errors.New("401")}, syncer.Unauthorized},
	}
	for _, tt := range tests {
		if got := syncer.KindOf(tt.err); got != tt.want {
			t.Errorf("KindOf(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if got := rejected.Error(); got != "400 invalid_parameter: bad" {
		t.Errorf("Error() = %q, want the row's text", got)
	}
}
