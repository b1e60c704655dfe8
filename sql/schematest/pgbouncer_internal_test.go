package schematest

import (
	"strings"
	"testing"
)

func TestFindPgBouncerSaysHowToInstallIt(t *testing.T) {
	_, err := findPgBouncer([]string{t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y pgbouncer") {
		t.Errorf("findPgBouncer in an empty directory = %v, want an error saying how to install it", err)
	}
}
