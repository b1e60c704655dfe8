// Package cli holds what brevosync's commands share on the command line:
// the outside world a command sees (Env), usage errors, flag values,
// progress lines and the text forms of durations and reports. It talks to
// no database and no CRM.
package cli

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Env is the outside world a command sees; tests supply their own.
type Env struct {
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// UsageError is bad usage: exit status 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{fmt.Sprintf(format, args...)}
}

// FlagValue is the value of a flag a command registered on fs. Commands are
// registered once for the process, so flag values live in the FlagSet of
// each run, not in package variables.
func FlagValue[T any](fs *flag.FlagSet, name string) T {
	return fs.Lookup(name).Value.(flag.Getter).Get().(T)
}

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Plural picks one or many for n.
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// FormatAge renders d to the second, at most two units: "45s", "3m12s",
// "2h5m", "3d4h".
func FormatAge(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// FormatCounts renders {"a": 1, "b": 2} as "b 2, a 1", largest first.
func FormatCounts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), strings.Compare(a, b)) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// Progress reports a long job's progress on w: a bar redrawn in place on a
// terminal, otherwise one line per 10% at most.
type Progress struct {
	w       io.Writer
	label   string
	total   int
	on, tty bool
	lastPct int
	start   time.Time
}

// NewProgress returns a Progress of total steps; it prints only when on.
func NewProgress(w io.Writer, label string, total int, on bool) *Progress {
	return &Progress{w: w, label: label, total: total, on: on, tty: IsTerminal(w), start: time.Now()}
}

// Update reports done steps.
func (p *Progress) Update(done int) {
	if !p.on || p.total == 0 {
		return
	}
	pct := done * 100 / p.total
	if p.tty {
		const width = 30
		n := done * width / p.total
		fmt.Fprintf(p.w, "\r%s [%s%s] %3d%% %d/%d", p.label,
			strings.Repeat("=", n), strings.Repeat(" ", width-n), pct, done, p.total)
		return
	}
	if pct/10 <= p.lastPct/10 {
		return // not a new tenth yet
	}
	p.lastPct = pct
	fmt.Fprintf(p.w, "%s: %d/%d entries (%d%%)\n", p.label, done, p.total, pct)
}

// Finish ends the bar on a terminal.
func (p *Progress) Finish() {
	if p.on && p.tty {
		fmt.Fprintf(p.w, " in %s\n", time.Since(p.start).Round(time.Millisecond))
	}
}
