package cli

import (
	"strings"
	"testing"
	"time"
)

func TestProgressOnTerminalStyle(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	p := NewProgress(&b, "select", 200, true)
	p.tty = true
	p.Update(100)
	p.Update(200)
	p.Finish()
	if !strings.Contains(b.String(), "\rselect [===============               ]  50% 100/200") ||
		!strings.HasSuffix(b.String(), "\n") {
		t.Errorf("progress bar = %q", b.String())
	}
}

func TestFormatAge(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		-time.Second:                   "0s",
		45 * time.Second:               "45s",
		3*time.Minute + 12*time.Second: "3m12s",
		2*time.Hour + 5*time.Minute:    "2h05m",
		76 * time.Hour:                 "3d04h",
	} {
		if got := FormatAge(d); got != want {
			t.Errorf("FormatAge(%v) = %q, want %q", d, got, want)
		}
	}
}
