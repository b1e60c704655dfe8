package service

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// TestConfigErrorsNameTheVariableAndRange: every bad value is refused at
// start with the variable and what it accepts.
func TestConfigErrorsNameTheVariableAndRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value string
		want        string // in the error
	}{
		{"BREVO_API_BASE_URL", "http://%zz/v3", "BREVO_API_BASE_URL: must be a URL"},
		{"BREVO_API_BASE_URL", "http://", "BREVO_API_BASE_URL: must name a host"},
		{"BREVO_API_BASE_URL", "http://api brevo.com/v3", "without spaces"},
		{"BREVO_API_BASE_URL", "ftp://api.brevo.com/v3", "http or https"},
		{"BREVO_SYNC_RATE_LIMIT", "NaN", "BREVO_SYNC_RATE_LIMIT: must be 0 (no limit) or between 0.1 and 1000"},
		{"BREVO_SYNC_RATE_LIMIT", "Inf", "BREVO_SYNC_RATE_LIMIT"},
		{"BREVO_SYNC_RATE_LIMIT", "1e-300", "between 0.1 and 1000"},
		{"BREVO_SYNC_RATE_LIMIT", "-3", "BREVO_SYNC_RATE_LIMIT"},
		{"BREVO_SYNC_SWEEP_INTERVAL", "1ns", "BREVO_SYNC_SWEEP_INTERVAL: must be between 100ms and 24h0m0s, not 1ns"},
		{"BREVO_SYNC_LEASE", "2ns", "BREVO_SYNC_LEASE: must be between 2s and 2m0s, not 2ns"},
		{"BREVO_SYNC_LEASE", "10m", "BREVO_SYNC_LEASE: must be between 2s and 2m0s"},
		{"BREVO_SYNC_RETRY_DELAY", "1ns", "BREVO_SYNC_RETRY_DELAY: must be between"},
		{"BREVO_SYNC_SHUTDOWN_TIMEOUT", "0s", "BREVO_SYNC_SHUTDOWN_TIMEOUT: must be between 1s and 10m0s"},
		{"BREVO_REQUEST_TIMEOUT", "40s", "BREVO_REQUEST_TIMEOUT: must be between 100ms and half of BREVO_SYNC_LEASE (1m0s, so 30s)"},
		{"BREVO_SYNC_SWEEP_INTERVAL", "5 minutes", "BREVO_SYNC_SWEEP_INTERVAL: not a valid duration"},
		{"BREVO_SYNC_CONCURRENCY", "0", "BREVO_SYNC_CONCURRENCY: must be between 1 and 1000, not 0"},
		{"BREVO_SYNC_BATCH_SIZE", "20000", "BREVO_SYNC_BATCH_SIZE: must be between 1 and 10000, not 20000"},
		{"BREVO_WEBHOOK_RETENTION", "1h", "BREVO_WEBHOOK_RETENTION: must be between 12h0m0s"},
		{"BREVO_WEBHOOK_RETENTION", "30 days", "BREVO_WEBHOOK_RETENTION: not a valid duration"},
		{"DATABASE_LISTEN_URL", "postgres://a:b@host:99999999/x", "DATABASE_LISTEN_URL: not a valid Postgres connection string"},
		{"BREVO_SYNC_PUBLIC_URL", "brevosync.onrender.com", "BREVO_SYNC_PUBLIC_URL: must be this service's external base URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			_, err := Load(env(map[string]string{tt.name: tt.value}), Serve)
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load(%s=%q) = %v, want a ConfigError containing %q", tt.name, tt.value, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "%!") {
				t.Errorf("error %q has a formatting fault", err)
			}
		})
	}
}

// TestConfigAcceptsWhatUsersWrite: the application's own URL forms, an
// upper-case scheme, a short lease alone, days for the retention.
func TestConfigAcceptsWhatUsersWrite(t *testing.T) {
	t.Parallel()
	cfg, err := Load(env(map[string]string{
		"DATABASE_URL":            "postgresql+asyncpg://app:s3cret@db.example.com:5432/app?ssl=require&prepared_statement_cache_size=0",
		"BREVO_API_BASE_URL":      "HTTPS://API.Brevo.com/v3/",
		"BREVO_SYNC_LEASE":        "5s",
		"BREVO_WEBHOOK_RETENTION": "7d",
	}), Serve)
	if err != nil {
		t.Fatal(err)
	}
	if want := "postgresql://app:s3cret@db.example.com:5432/app?sslmode=require"; cfg.DatabaseURL != want {
		t.Errorf("DatabaseURL = %q, want %q", cfg.DatabaseURL, want)
	}
	if cfg.DatabaseListenURL != cfg.DatabaseURL {
		t.Errorf("DatabaseListenURL = %q, want DATABASE_URL's", cfg.DatabaseListenURL)
	}
	if cfg.APIBaseURL != "https://api.brevo.com/v3" {
		t.Errorf("APIBaseURL = %q", cfg.APIBaseURL)
	}
	if cfg.RequestTimeout != 2500*time.Millisecond {
		t.Errorf("RequestTimeout = %v with a 5s lease, want 2.5s (half the lease)", cfg.RequestTimeout)
	}
	if cfg.WebhookRetention != 7*24*time.Hour {
		t.Errorf("WebhookRetention = %v, want 7 days", cfg.WebhookRetention)
	}
	cfg, err = Load(env(map[string]string{
		"DATABASE_URL":        "postgresql+psycopg://app@127.0.0.1:6543/postgres",
		"DATABASE_LISTEN_URL": "postgresql://app@127.0.0.1:5432/postgres",
		"RENDER_EXTERNAL_URL": "https://brevosync.onrender.com/",
	}), Serve)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseURL != "postgresql://app@127.0.0.1:6543/postgres" || cfg.DatabaseListenURL != "postgresql://app@127.0.0.1:5432/postgres" {
		t.Errorf("URLs = %q, %q", cfg.DatabaseURL, cfg.DatabaseListenURL)
	}
	if cfg.RequestTimeout != 10*time.Second || cfg.PublicURL != "https://brevosync.onrender.com" {
		t.Errorf("RequestTimeout = %v, PublicURL = %q", cfg.RequestTimeout, cfg.PublicURL)
	}
}

// TestConfigScopes: a command that does not talk to Brevo neither reads nor
// validates Brevo's or the syncer's settings.
func TestConfigScopes(t *testing.T) {
	t.Parallel()
	vars := env(map[string]string{
		"DATABASE_URL":           "postgres://127.0.0.1/x",
		"BREVO_SYNC_MAX_RETRIES": "three",
		"BREVO_SYNC_LEASE":       "1h",
		"BREVO_API_BASE_URL":     "nonsense",
		"PORT":                   "http",
	})
	if _, err := Load(vars, Database); err != nil {
		t.Errorf("Load(Database) = %v, want the sync settings ignored", err)
	}
	if _, err := Load(vars, Brevo); err == nil || !strings.Contains(err.Error(), "BREVO_SYNC_LEASE") {
		t.Errorf("Load(Brevo) = %v, want the lease checked (the request timeout depends on it)", err)
	}
	if _, err := Load(vars, Serve); err == nil {
		t.Error("Load(Serve) accepted bad settings")
	}
}

// FuzzLoad: whatever the environment holds, Load returns a Config or a
// ConfigError, never panics, and never repeats a secret.
func FuzzLoad(f *testing.F) {
	f.Add("postgresql+asyncpg://u:pw-secret@h/db?ssl=true", "key-secret", "1m", "10", "https://api.brevo.com/v3", "tok-secret")
	f.Add("postgres://u:pw-secret@[::1]:5432/db", "", "2ns", "NaN", "http://%zz/v3", "")
	f.Add("host=h password=pw-secret dbname=x", "key-secret", "5s", "1e-300", "HTTPS://x", "Basic tok-secret")
	f.Fuzz(func(t *testing.T, dbURL, apiKey, lease, rate, base, token string) {
		vars := map[string]string{
			"DATABASE_URL": dbURL, "DATABASE_LISTEN_URL": dbURL, "BREVO_API_KEY": apiKey, "BREVO_SYNC_LEASE": lease,
			"BREVO_SYNC_RATE_LIMIT": rate, "BREVO_API_BASE_URL": base, "BREVO_WEBHOOK_TOKEN": token,
			"BREVO_SYNC_ADMIN_TOKEN": token,
		}
		_, err := Load(env(vars), Serve)
		if err == nil {
			return
		}
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("Load error %v is not a ConfigError", err)
		}
		for _, secret := range []string{"pw-secret", "key-secret", "tok-secret"} {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q repeats a secret", err)
			}
		}
	})
}
