package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/brevosync/brevosync/cmd/brevosync/cli"
	"github.com/brevosync/brevosync/cmd/brevosync/service"
)

// TestMain lets tests run the real binary: with BREVOSYNC_TEST_MAIN=1 the
// test binary is brevosync itself (see startProcess).
func TestMain(m *testing.M) {
	if os.Getenv("BREVOSYNC_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// runCmd runs one command line in process with the given environment.
func runCmd(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, &cli.Env{
		Getenv: func(k string) string { return vars[k] },
		Stdin:  strings.NewReader(""),
		Stdout: &out,
		Stderr: &errb,
	})
	return code, out.String(), errb.String()
}

func TestUsageAndConfigurationErrorsExit2(t *testing.T) {
	t.Parallel()
	ok := map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x", "BREVO_API_KEY": "k"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range ok {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name     string
		vars     map[string]string
		args     []string
		wantCode int
		wantErr  string // in stderr
	}{
		{"no command", nil, nil, 2, "Usage: brevosync <command>"},
		{"unknown command", nil, []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"serve without DATABASE_URL", map[string]string{"BREVO_API_KEY": "k"}, []string{"serve"}, 2, "DATABASE_URL: is required"},
		{"serve without BREVO_API_KEY", map[string]string{"DATABASE_URL": "postgres://x"}, []string{"serve"}, 2, "BREVO_API_KEY: is required"},
		{"bad max retries", with("BREVO_SYNC_MAX_RETRIES", "three"), []string{"serve"}, 2, "BREVO_SYNC_MAX_RETRIES: not a valid whole number"},
		{"negative max retries", with("BREVO_SYNC_MAX_RETRIES", "-1"), []string{"serve"}, 2, "BREVO_SYNC_MAX_RETRIES"},
		{"bad sweep interval", with("BREVO_SYNC_SWEEP_INTERVAL", "5 minutes"), []string{"serve"}, 2, "BREVO_SYNC_SWEEP_INTERVAL: not a valid duration"},
		{"bad seed interval", with("BREVO_SYNC_SCHEDULER_INTERVAL_MINUTES", "x"), []string{"serve"}, 2, "BREVO_SYNC_SCHEDULER_INTERVAL_MINUTES"},
		{"bad exponential", with("BREVO_SYNC_RETRY_EXPONENTIAL", "maybe"), []string{"serve"}, 2, "BREVO_SYNC_RETRY_EXPONENTIAL: not a valid boolean"},
		{"bad list id", with("BREVO_LIST_ID", "3,x"), []string{"serve"}, 2, "BREVO_LIST_ID"},
		{"lease too long", with("BREVO_SYNC_LEASE", "10m"), []string{"serve"}, 2, "BREVO_SYNC_LEASE: must be between 2s and 2m0s, not 10m0s"},
		{"bad log level", with("LOG_LEVEL", "loud"), []string{"serve"}, 2, "LOG_LEVEL"},
		{"bad log format", with("LOG_FORMAT", "xml"), []string{"serve"}, 2, "LOG_FORMAT"},
		{"bad port", with("PORT", "http"), []string{"serve"}, 2, "PORT"},
		{"bad cidr", with("BREVO_WEBHOOK_ALLOWED_CIDRS", "1.2.3.0/99"), []string{"serve"}, 2, "BREVO_WEBHOOK_ALLOWED_CIDRS"},
		{"bad rate", with("BREVO_SYNC_RATE_LIMIT", "-3"), []string{"serve"}, 2, "BREVO_SYNC_RATE_LIMIT"},
		{"serve with arguments", ok, []string{"serve", "now"}, 2, "serve takes no arguments"},
		{"bad sentry dsn", with("SENTRY_DSN", "not a dsn"), []string{"serve"}, 2, "SENTRY_DSN"},
		{"bad rate NaN", with("BREVO_SYNC_RATE_LIMIT", "NaN"), []string{"serve"}, 2, "BREVO_SYNC_RATE_LIMIT: must be 0 (no limit) or between 0.1 and 1000"},
		{"migrate ignores sync settings", with("BREVO_SYNC_MAX_RETRIES", "three"), []string{"migrate"}, 1, "is Postgres running"},
		{"unknown flag", ok, []string{"serve", "--fast"}, 2, "flag provided but not defined"},
		{"migrate without DATABASE_URL", nil, []string{"migrate"}, 2, "DATABASE_URL: is required"},
		{"database unreachable", ok, []string{"migrate"}, 1, "is Postgres running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runCmd(t, tt.vars, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("brevosync %v: exit %d, stderr:\n%s\nwant exit %d and %q", tt.args, code, stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	code, out, _ := runCmd(t, nil, "help")
	if code != 0 || !strings.Contains(out, "serve") || !strings.Contains(out, "migrate") {
		t.Fatalf("help: exit %d\n%s", code, out)
	}
	for _, c := range commands() {
		name := c.name
		code, out, _ := runCmd(t, nil, name, "-h")
		if code != 0 || !strings.Contains(out, "Usage: brevosync "+name) {
			t.Errorf("%s -h: exit %d\n%s", name, code, out)
		}
	}
}

func TestSeedApplicationNamesStillWork(t *testing.T) {
	t.Parallel()
	cfg, err := service.Load(func(k string) string {
		return map[string]string{
			"BREVO_SYNC_SCHEDULER_INTERVAL_MINUTES": "7",
			"BREVO_SYNC_SCHEDULER_BATCH_SIZE":       "10",
			"BREVO_SYNC_RETRY_DELAY_MINUTES":        "2",
			"BREVO_SYNC_RETRY_EXPONENTIAL":          "False",
			"BREVO_SYNC_MAX_RETRIES":                "5",
			"BREVO_LIST_ID":                         "3, 4",
			"PORT":                                  "9090",
		}[k]
	}, service.Serve)
	if err != nil {
		t.Fatal(err)
	}
	got := []any{cfg.SweepInterval.String(), cfg.BatchSize, cfg.RetryDelay.String(), cfg.RetryExponential,
		cfg.MaxRetries, cfg.ListIDs, cfg.HTTPAddr}
	want := []any{"7m0s", 10, "2m0s", false, 5, []int64{3, 4}, ":9090"}
	for i := range want {
		if !equal(got[i], want[i]) {
			t.Errorf("setting %d = %v, want %v", i, got[i], want[i])
		}
	}
	// The new names win over the seed application's.
	cfg, err = service.Load(func(k string) string {
		return map[string]string{"BREVO_SYNC_SWEEP_INTERVAL": "30s", "BREVO_SYNC_SCHEDULER_INTERVAL_MINUTES": "7"}[k]
	}, service.Serve)
	if err != nil || cfg.SweepInterval.String() != "30s" {
		t.Errorf("sweep interval = %v (%v), want 30s", cfg.SweepInterval, err)
	}
}

func equal(a, b any) bool {
	if as, ok := a.([]int64); ok {
		bs := b.([]int64)
		if len(as) != len(bs) {
			return false
		}
		for i := range as {
			if as[i] != bs[i] {
				return false
			}
		}
		return true
	}
	return a == b
}
