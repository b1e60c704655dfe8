package operator

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	schema "github.com/brevosync/brevosync/sql"
)

// Entry is one contact an operator names: an email (in the one email key,
// schema.NormalizeEmail) or a contact id (a uuid, canonical lower-case
// form).
type Entry struct {
	Value string
	IsID  bool
}

// Bounds of an entry.
const (
	// MaxLineBytes is the longest input line Entries accepts; a longer line
	// is reported as bad (it cannot be an email: those stop at 254 bytes).
	MaxLineBytes = 1024
	// MaxEmailBytes is the longest email accepted (RFC 5321's path limit
	// less the angle brackets).
	MaxEmailBytes = 254
)

// BadEntry is an input line (or API item) that is not an entry, and why.
type BadEntry struct {
	// Where names it: "line 3", "argument 2", "emails[4]".
	Where string `json:"field"`
	// Text is the offending text, at most 80 bytes of it, valid UTF-8
	// (invalid bytes are replaced), for the report.
	Text string `json:"value"`
	// Reason says what is wrong with it, e.g. "contains a NUL byte".
	Reason string `json:"reason"`
}

func (b BadEntry) String() string { return fmt.Sprintf("%s: %q %s", b.Where, b.Text, b.Reason) }

// Reasons a line is bad.
const (
	reasonNUL      = "contains a NUL byte"
	reasonUTF8     = "is not valid UTF-8"
	reasonLong     = "is longer than the 1024 bytes a line may have"
	reasonNeither  = "is neither an email nor a contact id (uuid)"
	reasonLongMail = "is longer than the 254 bytes an email may have"
	reasonControl  = "contains a control character"
)

// Entries turns lines into unique entries, remembering duplicates and bad
// lines for the report. Checking is separate from applying: an operation
// given Entries with any Bad applies nothing unless told to skip them.
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

// ParseEmail returns s as its email key (schema.NormalizeEmail) if it looks
// like an email: something@something, at most MaxEmailBytes, no spaces,
// quotes, brackets, separators or control characters. Otherwise it returns
// why not.
func ParseEmail(s string) (key, reason string) {
	s = schema.NormalizeEmail(s)
	at := strings.LastIndexByte(s, '@')
	switch {
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", reasonControl
	case at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " \t,;<>\"()[]\\"):
		return "", reasonNeither
	case len(s) > MaxEmailBytes:
		return "", reasonLongMail
	}
	return s, ""
}

// Add checks one line; where names it for the report ("line 3"). Lines are
// trimmed; blank lines and lines starting with # are skipped. A bad line
// (a NUL byte, invalid UTF-8, neither an email nor a uuid) goes to Bad.
func (p *Entries) Add(line, where string) {
	if reason := lineProblem(line); reason != "" {
		p.bad(where, line, reason)
		return
	}
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return
	}
	if id, ok := ParseID(line); ok {
		p.add(Entry{Value: id, IsID: true})
		return
	}
	key, reason := ParseEmail(line)
	if reason != "" {
		p.bad(where, line, reason)
		return
	}
	p.add(Entry{Value: key})
}

// AddID checks one item that must be a contact id (an API's "ids").
func (p *Entries) AddID(s, where string) {
	if reason := lineProblem(s); reason != "" {
		p.bad(where, s, reason)
		return
	}
	id, ok := ParseID(s)
	if !ok {
		p.bad(where, s, "is not a contact id (a uuid like 4b3f0c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f)")
		return
	}
	p.add(Entry{Value: id, IsID: true})
}

// AddEmail checks one item that must be an email (an API's "emails").
func (p *Entries) AddEmail(s, where string) {
	if reason := lineProblem(s); reason != "" {
		p.bad(where, s, reason)
		return
	}
	key, reason := ParseEmail(s)
	if reason != "" {
		if reason == reasonNeither {
			reason = "is not an email"
		}
		p.bad(where, s, reason)
		return
	}
	p.add(Entry{Value: key})
}

func (p *Entries) add(e Entry) {
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	if p.seen[e.Value] {
		p.Dups++
		return
	}
	p.seen[e.Value] = true
	p.List = append(p.List, e)
}

func (p *Entries) bad(where, text, reason string) {
	p.Bad = append(p.Bad, BadEntry{Where: where, Text: excerpt(text), Reason: reason})
}

// lineProblem checks what makes a line bad whatever it says.
func lineProblem(s string) string {
	switch {
	case strings.IndexByte(s, 0) >= 0:
		return reasonNUL
	case !utf8.ValidString(s):
		return reasonUTF8
	case len(s) > MaxLineBytes:
		return reasonLong
	}
	return ""
}

// excerpt keeps at most 80 bytes of s, as valid UTF-8.
func excerpt(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 80 {
		s = s[:80] + "…" // a rune cut in two becomes U+FFFD below
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// Read checks r line by line, every line of it, whatever it holds: lines
// longer than MaxLineBytes are reported as bad, not an error. It fails only
// when r does; name names r in that error.
func (p *Entries) Read(r io.Reader, name string) error {
	br := bufio.NewReaderSize(r, 64<<10)
	n := 0
	for {
		line, long, err := readLine(br)
		if len(line) > 0 || long || err == nil {
			n++
			if long {
				p.bad(fmt.Sprintf("line %d", n), string(line), reasonLong)
			} else {
				p.Add(string(line), fmt.Sprintf("line %d", n))
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s after line %d: %w", name, n, err)
		}
	}
}

// readLine reads one line without its line ending. A line longer than
// MaxLineBytes is read to its end and returned cut, with long set.
func readLine(br *bufio.Reader) (line []byte, long bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !long {
			line = append(line, chunk...)
			if len(line) > MaxLineBytes+2 { // room for "\r\n"
				line, long = line[:MaxLineBytes], true
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if !long {
			line = bytes.TrimSuffix(line, []byte("\n"))
			line = bytes.TrimSuffix(line, []byte("\r"))
			if len(line) > MaxLineBytes {
				line, long = line[:MaxLineBytes], true
			}
		}
		return line, long, err
	}
}
