package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

const attrKey = "attr-test-key"

func brevoVars(sim *brevotest.Server) map[string]string {
	return map[string]string{"BREVO_API_KEY": attrKey, "BREVO_API_BASE_URL": sim.URL()}
}

// simAttributes is the simulator's account as "NAME category type" lines.
func simAttributes(sim *brevotest.Server) []string {
	var out []string
	for _, a := range sim.Attributes() {
		out = append(out, a.Name+" "+a.Category+" "+a.Type)
	}
	return out
}

func TestAttributesListAndEnsure(t *testing.T) {
	t.Parallel()
	sim := brevotest.New(t, brevotest.Config{APIKey: attrKey})
	vars := brevoVars(sim)
	initial := simAttributes(sim)

	code, out, stderr := runCmd(t, vars, "attributes")
	if code != 0 {
		t.Fatalf("attributes: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{
		"NAME", "CATEGORY",
		"FIRSTNAME", "used",
		"EMAIL", // in Brevo, not used by the mapping
		"DOMAIN_ID", "MISSING",
		"5 mapped attribute(s) missing in Brevo: run 'brevosync attributes ensure'",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("attributes output lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "HAS_GMAIL") && !(strings.Contains(line, "boolean") && strings.Contains(line, "MISSING")) {
			t.Errorf("HAS_GMAIL line = %q, want it missing, as a boolean", line)
		}
		if strings.HasPrefix(line, "EMAIL ") && strings.Contains(line, "used") {
			t.Errorf("EMAIL line = %q, want it not used by the mapping", line)
		}
	}

	// A dry run creates nothing.
	code, out, stderr = runCmd(t, vars, "attributes", "ensure", "--dry-run")
	if code != 0 || !strings.Contains(out, "would create HAS_GMAIL (boolean)") || !strings.Contains(out, "dry run: nothing created") {
		t.Fatalf("attributes ensure --dry-run: exit %d\n%s%s", code, out, stderr)
	}
	if diff := cmp.Diff(initial, simAttributes(sim)); diff != "" {
		t.Fatalf("attributes ensure --dry-run changed Brevo's attributes (-before +after):\n%s", diff)
	}

	code, out, stderr = runCmd(t, vars, "attributes", "ensure")
	if code != 0 || !strings.Contains(out, "created DOMAIN_ID (text)") {
		t.Fatalf("attributes ensure: exit %d\n%s%s", code, out, stderr)
	}
	want := append(initial,
		"DOMAIN_ID normal text", "PAGE_ID normal text", "EMAIL_TYPE normal text",
		"SOURCE_URL normal text", "HAS_GMAIL normal boolean")
	if diff := cmp.Diff(want, simAttributes(sim)); diff != "" {
		t.Errorf("Brevo's attributes after ensure (-want +got):\n%s", diff)
	}

	// Idempotent.
	code, out, _ = runCmd(t, vars, "attributes", "ensure")
	if code != 0 || !strings.Contains(out, "nothing to create") {
		t.Errorf("second attributes ensure: exit %d\n%s", code, out)
	}
	code, out, _ = runCmd(t, vars, "attributes")
	if code != 0 || !strings.Contains(out, "All 8 mapped attributes exist in Brevo") || strings.Contains(out, "MISSING") {
		t.Errorf("attributes after ensure: exit %d\n%s", code, out)
	}
}

func TestAttributesEmptyAccountAndTypeMismatch(t *testing.T) {
	t.Parallel()
	sim := brevotest.New(t, brevotest.Config{APIKey: attrKey, Attributes: []brevotest.Attribute{
		{Name: "HAS_GMAIL", Category: "normal", Type: "text"},
	}})
	vars := brevoVars(sim)

	code, out, _ := runCmd(t, vars, "attributes")
	if code != 0 || !strings.Contains(out, `used, but is text: sent as "true" or "false"`) ||
		!strings.Contains(out, "have another type in Brevo") {
		t.Errorf("attributes: exit %d\n%s", code, out)
	}
	// ensure adds the missing ones (FIRSTNAME, LASTNAME and SMS too) and
	// warns about, but does not touch, the mismatched one.
	code, out, stderr := runCmd(t, vars, "attributes", "ensure")
	if code != 0 || !strings.Contains(stderr, "cannot fix: HAS_GMAIL is text") || !strings.Contains(out, "created SMS (text)") {
		t.Errorf("attributes ensure: exit %d\n%s%s", code, out, stderr)
	}
	want := []string{"HAS_GMAIL normal text", "FIRSTNAME normal text", "LASTNAME normal text", "SMS normal text",
		"DOMAIN_ID normal text", "PAGE_ID normal text", "EMAIL_TYPE normal text", "SOURCE_URL normal text"}
	if diff := cmp.Diff(want, simAttributes(sim)); diff != "" {
		t.Errorf("Brevo's attributes after ensure (-want +got):\n%s", diff)
	}
}

func TestAttributesErrors(t *testing.T) {
	t.Parallel()
	sim := brevotest.New(t, brevotest.Config{APIKey: attrKey})
	tests := []struct {
		name     string
		vars     map[string]string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no key", map[string]string{"BREVO_API_BASE_URL": sim.URL()}, []string{"attributes"}, 2, "BREVO_API_KEY: is required"},
		{"wrong key", map[string]string{"BREVO_API_KEY": "wrong", "BREVO_API_BASE_URL": sim.URL()},
			[]string{"attributes", "ensure"}, 1, "check BREVO_API_KEY"},
		{"wrong base URL", map[string]string{"BREVO_API_KEY": attrKey, "BREVO_API_BASE_URL": strings.TrimSuffix(sim.URL(), "/v3") + "/v2"},
			[]string{"attributes"}, 1, "check BREVO_API_BASE_URL"},
		{"unreachable", map[string]string{"BREVO_API_KEY": attrKey, "BREVO_API_BASE_URL": "http://127.0.0.1:1/v3"},
			[]string{"attributes"}, 1, "could not reach Brevo at http://127.0.0.1:1/v3"},
		{"unknown subcommand", brevoVars(sim), []string{"attributes", "create"}, 2, `unknown subcommand "create"`},
		{"ensure argument", brevoVars(sim), []string{"attributes", "ensure", "FOO"}, 2, "takes no arguments"},
		{"ensure bad flag", brevoVars(sim), []string{"attributes", "ensure", "--force"}, 2, "flag provided but not defined"},
		{"dry run without ensure", brevoVars(sim), []string{"attributes", "--dry-run"}, 2, "goes with 'attributes ensure'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, stderr := runCmd(t, tt.vars, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) || out != "" {
				t.Errorf("brevosync %v: exit %d, stdout %q, stderr:\n%s\nwant exit %d and %q", tt.args, code, out, stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
	if n := len(sim.Attributes()); n != 4 {
		t.Errorf("failed commands changed Brevo's attributes: now %d", n)
	}
}

func TestOperatorCommandsHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"status", "-h"}, {"retry", "-h"}, {"select", "--help"}, {"attributes", "-h"},
		{"attributes", "ensure", "-h"}, {"help", "select"},
	} {
		name := args[0]
		if name == "help" {
			name = args[1]
		}
		// (main's flag parsing also copies -h's text to stderr; only stdout
		// is checked here.)
		code, out, _ := runCmd(t, nil, args...)
		if code != 0 || !strings.Contains(out, "Usage: brevosync "+name) {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
		if args[0] != "help" && args[1] != "ensure" && !strings.Contains(out, "Examples:") {
			t.Errorf("%v: help has no examples:\n%s", args, out)
		}
	}
}
