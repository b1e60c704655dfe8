package brevo_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// These tests run the client against the simulator, as the rest of
// brevosync does.

func newSim(t *testing.T, cfg brevotest.Config) (*brevotest.Server, *brevo.Client) {
	t.Helper()
	cfg.APIKey = "sim-key"
	s := brevotest.New(t, cfg)
	return s, brevo.NewClient(brevo.Config{BaseURL: s.URL(), APIKey: "sim-key", Timeout: 5 * time.Second})
}

func TestSimUpsert(t *testing.T) {
	t.Parallel()
	s, c := newSim(t, brevotest.Config{})
	ct := brevo.Contact{
		Email:      "ann@example.com",
		Attributes: map[string]any{"FIRSTNAME": "Ann", "HAS_GMAIL": false},
		ListIDs:    []int64{2},
	}
	res, err := c.UpsertContact(t.Context(), ct)
	if err != nil {
		t.Fatalf("UpsertContact: %v", err)
	}
	if res.ID != 1 || !res.Created || !res.RateLimit.Known {
		t.Errorf("first UpsertContact = %+v, want id 1, created, rate limit known", res)
	}
	ct.Attributes = map[string]any{"LASTNAME": "Lee"}
	if res, err = c.UpsertContact(t.Context(), ct); err != nil || res.Created || res.ID != 0 {
		t.Errorf("second UpsertContact = %+v, %v; want an update without id", res, err)
	}
	got, _ := s.Contact("ann@example.com")
	want := brevotest.Contact{
		ID: 1, Email: "ann@example.com", ListIDs: []int64{2}, Upserts: 2,
		Attributes: map[string]any{"FIRSTNAME": "Ann", "HAS_GMAIL": false, "LASTNAME": "Lee"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("simulator contact mismatch (-want +got):\n%s", diff)
	}
}

func TestSimErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault *brevotest.Fault
		email string
		key   string
		class syncer.ErrorKind
		code  string
	}{
		{name: "invalid email", email: "not-an-email", class: syncer.Rejected, code: "invalid_parameter"},
		{name: "wrong key", key: "other", class: syncer.Unauthorized, code: "unauthorized"},
		{name: "500", fault: &brevotest.Fault{Status: 500}, class: syncer.Retryable, code: "internal_error"},
		{name: "402", fault: &brevotest.Fault{Status: 402}, class: syncer.Unauthorized, code: "not_enough_credits"},
		{name: "429", fault: &brevotest.Fault{Status: 429, Reset: 2 * time.Second}, class: syncer.RateLimited, code: "too_many_requests"},
		{name: "drop", fault: &brevotest.Fault{Drop: true}, class: syncer.Retryable},
		{name: "malformed 201", fault: &brevotest.Fault{Status: 201, Body: `{"id":`}, class: syncer.Retryable},
		{name: "slow", fault: &brevotest.Fault{Latency: time.Hour}, class: syncer.Retryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newSim(t, brevotest.Config{})
			key := tt.key
			if key == "" {
				key = "sim-key"
			}
			c := brevo.NewClient(brevo.Config{BaseURL: s.URL(), APIKey: key, Timeout: 100 * time.Millisecond})
			s.SetFault(tt.fault)
			email := tt.email
			if email == "" {
				email = "a@example.com"
			}
			_, err := c.UpsertContact(t.Context(), brevo.Contact{Email: email})
			if err == nil {
				t.Fatal("UpsertContact = nil error")
			}
			if got := brevo.Classify(err); got != tt.class {
				t.Errorf("Classify(%v) = %v, want %v", err, got, tt.class)
			}
			apiErr, isAPI := errors.AsType[*brevo.APIError](err)
			if tt.code == "" {
				if isAPI {
					t.Errorf("error %v is an APIError, want a transport error", err)
				}
				return
			}
			if !isAPI || apiErr.Code != tt.code {
				t.Fatalf("error = %v, want an APIError with code %s", err, tt.code)
			}
			if tt.fault != nil && tt.fault.Reset > 0 && apiErr.RateLimitReset != tt.fault.Reset {
				t.Errorf("RateLimitReset = %v, want %v", apiErr.RateLimitReset, tt.fault.Reset)
			}
		})
	}
}

func TestSimRateLimit(t *testing.T) {
	t.Parallel()
	_, c := newSim(t, brevotest.Config{RateLimit: 1})
	if _, err := c.UpsertContact(t.Context(), brevo.Contact{Email: "a@example.com"}); err != nil {
		t.Fatalf("first UpsertContact: %v", err)
	}
	_, err := c.UpsertContact(t.Context(), brevo.Contact{Email: "b@example.com"})
	apiErr, ok := errors.AsType[*brevo.APIError](err)
	if !ok || brevo.Classify(err) != syncer.RateLimited || apiErr.RateLimitReset != time.Second {
		t.Errorf("second UpsertContact error = %v, want rate limited with a 1s reset", err)
	}
}

func TestSimAccountAndAttributes(t *testing.T) {
	t.Parallel()
	s, c := newSim(t, brevotest.Config{})
	if err := c.Account(t.Context()); err != nil {
		t.Errorf("Account: %v", err)
	}
	if err := c.CreateAttribute(t.Context(), "DOMAIN_ID", "text"); err != nil {
		t.Fatalf("CreateAttribute: %v", err)
	}
	err := c.CreateAttribute(t.Context(), "DOMAIN_ID", "text")
	if apiErr, ok := errors.AsType[*brevo.APIError](err); !ok || apiErr.Code != "duplicate_parameter" || brevo.Classify(err) != syncer.Rejected {
		t.Errorf("CreateAttribute of an existing attribute = %v, want a permanent duplicate_parameter", err)
	}
	attrs, err := c.Attributes(t.Context())
	if err != nil {
		t.Fatalf("Attributes: %v", err)
	}
	want := []brevo.Attribute{
		{Name: "FIRSTNAME", Category: "normal", Type: "text"},
		{Name: "LASTNAME", Category: "normal", Type: "text"},
		{Name: "EMAIL", Category: "normal", Type: "text"},
		{Name: "SMS", Category: "normal", Type: "text"},
		{Name: "DOMAIN_ID", Category: "normal", Type: "text"},
	}
	if diff := cmp.Diff(want, attrs); diff != "" {
		t.Errorf("Attributes mismatch (-want +got):\n%s", diff)
	}

	s.SetAPIKey("rotated")
	if err := c.Account(t.Context()); brevo.Classify(err) != syncer.Unauthorized {
		t.Errorf("Account after the key was revoked = %v, want unauthorized", err)
	}
}
