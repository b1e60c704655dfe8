package service

import (
	"errors"
	"strings"
	"testing"

	"github.com/brevosync/brevosync/syncer"
)

// TestImportSettings: BREVO_SYNC_IMPORT_THRESHOLD and
// BREVO_SYNC_PROCESSES_PER_HOUR have the syncer's defaults, 0 turns
// imports off, and bad values name the variable and the range.
func TestImportSettings(t *testing.T) {
	t.Parallel()
	cfg, err := Load(env(map[string]string{}), Serve)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ImportThreshold != syncer.DefaultImportThreshold || cfg.ProcessesPerHour != syncer.DefaultProcessesPerHour {
		t.Errorf("defaults: threshold %d, processes per hour %d; want %d, %d", cfg.ImportThreshold, cfg.ProcessesPerHour,
			syncer.DefaultImportThreshold, syncer.DefaultProcessesPerHour)
	}
	cfg, err = Load(env(map[string]string{"BREVO_SYNC_IMPORT_THRESHOLD": "0", "BREVO_SYNC_PROCESSES_PER_HOUR": "180"}), Serve)
	if err != nil || cfg.ImportThreshold != 0 || cfg.ProcessesPerHour != 180 {
		t.Errorf("Load(threshold 0, 180 an hour) = %+v, %v", cfg, err)
	}
	for _, tt := range []struct{ name, value, want string }{
		{"BREVO_SYNC_IMPORT_THRESHOLD", "-1", "BREVO_SYNC_IMPORT_THRESHOLD: must be 0 (no imports) or up to 10000000 contacts, not -1"},
		{"BREVO_SYNC_IMPORT_THRESHOLD", "lots", "BREVO_SYNC_IMPORT_THRESHOLD: not a valid whole number"},
		{"BREVO_SYNC_PROCESSES_PER_HOUR", "0", "BREVO_SYNC_PROCESSES_PER_HOUR: must be between 1 and 100000, not 0"},
	} {
		_, err := Load(env(map[string]string{tt.name: tt.value}), Serve)
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%s=%q) = %v, want a ConfigError containing %q", tt.name, tt.value, err, tt.want)
		}
	}
	if _, err := Load(env(map[string]string{"BREVO_SYNC_IMPORT_THRESHOLD": "-1"}), Database); err != nil {
		t.Errorf("Load(Database) = %v; the import settings belong to the Sync scope", err)
	}
}
