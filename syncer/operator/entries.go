package operator

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Entry is one contact an operator names: an email (lower-cased) or a
// contact id (a uuid, canonical lower-case form).
type Entry struct {
	Value string
	IsID  bool
}

// BadEntry is an input line that is neither an email nor a contact id.
type BadEntry struct {
	Where, Text string // Where names the line, e.g. "line 3"
}

// Entries turns lines into unique entries, remembering duplicates and bad
// lines for the report.
type Entries struct {
	List []Entry
	Dups int
	Bad  []BadEntry
	seen map[string]bool
}

// NewEntries returns an empty parser.
func NewEntries() *Entries { return &Entries{seen: map[string]bool{}} }

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ParseID returns s in canonical (lower-case) form if it is a uuid.
func ParseID(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if !uuidRE.MatchString(s) {
		return "", false
	}
	return strings.ToLower(s), true
}

// Add parses one line; where names it for the report ("line 3"). Lines are
// trimmed; blank lines and lines starting with # are skipped.
func (p *Entries) Add(line, where string) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return
	}
	var e Entry
	if id, ok := ParseID(line); ok {
		e = Entry{Value: id, IsID: true}
	} else if strings.Contains(line, "@") && !strings.ContainsAny(line, " \t,;<>\"") {
		e = Entry{Value: strings.ToLower(line)}
	} else {
		p.Bad = append(p.Bad, BadEntry{Where: where, Text: line})
		return
	}
	if p.seen[e.Value] {
		p.Dups++
		return
	}
	p.seen[e.Value] = true
	p.List = append(p.List, e)
}

// Read parses r line by line; name names r in errors.
func (p *Entries) Read(r io.Reader, name string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		p.Add(sc.Text(), fmt.Sprintf("line %d", n))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s after line %d: %w", name, n, err)
	}
	return nil
}
