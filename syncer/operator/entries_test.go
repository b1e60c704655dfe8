package operator_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/brevosync/brevosync/syncer/operator"
)

func TestEntriesRead(t *testing.T) {
	t.Parallel()
	in := strings.Join([]string{
		"# header",                             // 1
		"  Ada@Example.COM \r",                 // 2: padded, CRLF, mixed case
		"",                                     // 3
		"4B3F0C1E-1A2B-4C3D-8E9F-0A1B2C3D4E5F", // 4: id, upper case
		"bad\x00line@example.com",              // 5: NUL
		"caf\xe9@example.com",                  // 6: invalid UTF-8
		strings.Repeat("x", 5000) + "@example.com", // 7: over-long line
		"not an email",      // 8
		"ada@example.com",   // 9: duplicate of 2
		"Émile@Example.com", // 10: only ASCII lowered
		"a@b",               // 11
		"@example.com",      // 12: no local part
		strings.Repeat("y", 250) + "@example.com", // 13: longer than an email may be
		"last@example.com",                        // 14: no final newline
	}, "\n")
	p := operator.NewEntries()
	if err := p.Read(strings.NewReader(in), "input"); err != nil {
		t.Fatalf("Read: %v", err)
	}
	wantList := []operator.Entry{
		{Value: "ada@example.com"},
		{Value: "4b3f0c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f", IsID: true},
		{Value: "Émile@example.com"},
		{Value: "a@b"},
		{Value: "last@example.com"},
	}
	if diff := cmp.Diff(wantList, p.List); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if p.Dups != 1 {
		t.Errorf("Dups = %d, want 1", p.Dups)
	}
	var got []string
	for _, b := range p.Bad {
		got = append(got, b.Where+" "+b.Reason)
	}
	want := []string{
		"line 5 contains a NUL byte",
		"line 6 is not valid UTF-8",
		"line 7 is longer than the 1024 bytes a line may have",
		"line 8 is neither an email nor a contact id (uuid)",
		"line 12 is neither an email nor a contact id (uuid)",
		"line 13 is longer than the 254 bytes an email may have",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bad lines (-want +got):\n%s", diff)
	}
	for _, b := range p.Bad {
		if len(b.Text) > 84 || !strings.ContainsRune(b.Text, 0) && strings.Contains(b.Reason, "NUL") {
			t.Errorf("bad entry text %q: want at most 80 bytes and the NUL kept", b.Text)
		}
	}
}

func TestEntriesAPIItems(t *testing.T) {
	t.Parallel()
	p := operator.NewEntries()
	p.AddID("not-a-uuid", "ids[0]")
	p.AddID("4b3f0c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "ids[1]")
	p.AddEmail("4b3f0c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "emails[0]")
	p.AddEmail(" Bob@Example.com", "emails[1]")
	if len(p.List) != 2 || p.List[1].Value != "bob@example.com" {
		t.Errorf("entries = %+v, want the id and bob@example.com", p.List)
	}
	if len(p.Bad) != 2 || p.Bad[0].Where != "ids[0]" || p.Bad[1].Where != "emails[0]" || p.Bad[1].Reason != "is not an email" {
		t.Errorf("bad = %+v, want ids[0] and emails[0]", p.Bad)
	}
}
