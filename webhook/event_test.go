package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	schema "github.com/brevosync/brevosync/sql"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parsed is what a test compares: the events without Raw and Key.
type parsed struct {
	Name   string
	Emails []EmailChange
}

func summarize(events []Event) []parsed {
	out := []parsed{}
	for _, e := range events {
		out = append(out, parsed{e.Name, e.Emails})
	}
	return out
}

func TestParseEventsFixtures(t *testing.T) {
	t.Parallel()
	ex := []EmailChange{{Email: "example@domain.com"}}
	tests := []struct {
		file string
		want []parsed
	}{
		{"spam.json", []parsed{{"spam", ex}}},
		{"unsubscribed.json", []parsed{{"unsubscribed", ex}}},
		{"contact_deleted.json", []parsed{{"contact_deleted", ex}}},
		{"list_addition.json", []parsed{{"list_addition", ex}}},
		{"contact_updated_documented.json", []parsed{{"contact_updated", ex}}},
		{"contact_updated_observed.json", []parsed{{"contact_updated", []EmailChange{{Email: "test@gmail.com"}}}}},
		{"contact_updated_blacklist.json", []parsed{{"contact_updated", []EmailChange{{Email: "test@gmail.com", Blacklisted: true}}}}},
		{"batch.json", []parsed{
			{"list_addition", []EmailChange{{Email: "batch.one@example.com"}}},
			{"contact_updated", []EmailChange{
				{Email: "batch.two@example.com", Blacklisted: true},
				{Email: "batch.three@example.com"},
			}},
			{"unsubscribed", []EmailChange{{Email: "batch.four@example.com"}}},
			{"contact_deleted", []EmailChange{{Email: "batch.five@example.com"}}},
			{"opened", []EmailChange{{Email: "batch.one@example.com"}}},
			{"list_addition", []EmailChange{{Email: "nobody@example.com"}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readFixture(t, tt.file)
			events, err := ParseEvents(body)
			if err != nil {
				t.Fatalf("ParseEvents(%s) error: %v", tt.file, err)
			}
			if diff := cmp.Diff(tt.want, summarize(events)); diff != "" {
				t.Errorf("ParseEvents(%s) mismatch (-want +got):\n%s", tt.file, diff)
			}
			for i, e := range events {
				if len(e.Key) != 64 {
					t.Errorf("event %d: Key = %q, want 64 hex digits", i, e.Key)
				}
				if !json.Valid(e.Raw) || e.Raw[0] != '{' {
					t.Errorf("event %d: Raw = %s, want the event object", i, e.Raw)
				}
			}
		})
	}
}

func TestParseEventsShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want []parsed
	}{
		{"empty array", `[]`, []parsed{}},
		{"white space around", " \n\t{\"event\":\"spam\"}\n ", []parsed{{"spam", nil}}},
		{"no email", `{"event":"list_addition","id":1}`, []parsed{{"list_addition", nil}}},
		{"email not a string", `{"event":"list_addition","email":42}`, []parsed{{"list_addition", nil}}},
		{"email trimmed and lower-cased", `{"event":"unsubscribe","email":"  Mixed.Case@Example.COM "}`,
			[]parsed{{"unsubscribe", []EmailChange{{Email: "mixed.case@example.com"}}}}},
		{"non-ASCII: only A-Z lowered, one key for every spelling", `{"event":"contact_updated","email":" ÉLISE@Exemple.fr\t","content":[{"email":"Élise@EXEMPLE.fr","emailBlacklist":true},{"email":"élise@exemple.fr"}]}`,
			[]parsed{{"contact_updated", []EmailChange{{Email: "Élise@exemple.fr", Blacklisted: true}, {Email: "élise@exemple.fr"}}}}},
		{"unknown fields and event kept", `{"event":"reply","whatever":{"x":[1,2]},"email":"a@b.c"}`,
			[]parsed{{"reply", []EmailChange{{Email: "a@b.c"}}}}},
		{"content ignored for other events", `{"event":"list_addition","content":[{"email":"x@y.z"}]}`,
			[]parsed{{"list_addition", nil}}},
		{"emailBlacklist ignored for other events", `{"event":"unsubscribed","email":"a@b.c","emailBlacklist":true}`,
			[]parsed{{"unsubscribed", []EmailChange{{Email: "a@b.c"}}}}},
		{"both shapes merged", `{"event":"contact_updated","email":"A@b.c","content":[{"email":"a@B.c","emailBlacklist":true},{"email":"d@e.f"}]}`,
			[]parsed{{"contact_updated", []EmailChange{{Email: "a@b.c", Blacklisted: true}, {Email: "d@e.f"}}}}},
		{"content object", `{"event":"contact_updated","content":{"email":"a@b.c","emailBlacklist":true}}`,
			[]parsed{{"contact_updated", []EmailChange{{Email: "a@b.c", Blacklisted: true}}}}},
		{"blacklist false", `{"event":"contact_updated","content":[{"email":"a@b.c","emailBlacklist":false}]}`,
			[]parsed{{"contact_updated", []EmailChange{{Email: "a@b.c"}}}}},
		{"blacklist as string is not true", `{"event":"contact_updated","content":[{"email":"a@b.c","emailBlacklist":"true"}]}`,
			[]parsed{{"contact_updated", []EmailChange{{Email: "a@b.c"}}}}},
		{"content items not objects", `{"event":"contact_updated","content":["x",1,null,{"email":"a@b.c"}]}`,
			[]parsed{{"contact_updated", []EmailChange{{Email: "a@b.c"}}}}},
		{"big numbers", `{"event":"spam","id":123456789012345678901234567890,"ts":1.5e9}`, []parsed{{"spam", nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := ParseEvents([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseEvents(%s) error: %v", tt.body, err)
			}
			if diff := cmp.Diff(tt.want, summarize(events)); diff != "" {
				t.Errorf("ParseEvents(%s) mismatch (-want +got):\n%s", tt.body, diff)
			}
		})
	}
}

func TestParseEventsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body string }{
		{"empty", ``},
		{"white space", "  \n"},
		{"truncated", `{"event":"spam"`},
		{"trailing data", `{"event":"spam"} {"event":"spam"}`},
		{"trailing garbage", `{"event":"spam"}x`},
		{"null", `null`},
		{"string", `"list_addition"`},
		{"number", `42`},
		{"array of non-objects", `[1, 2]`},
		{"array with one non-object", `[{"event":"spam"}, "x"]`},
		{"nested array", `[[{"event":"spam"}]]`},
		{"no event name", `{"email":"a@b.c"}`},
		{"empty event name", `{"event":"","email":"a@b.c"}`},
		{"blank event name", `{"event":"  "}`},
		{"event name not a string", `{"event":1}`},
		{"one bad event in a batch", `[{"event":"spam"},{"email":"a@b.c"}]`},
		{"NUL in a value", `{"event":"spam","tag":"a\u0000b"}`},
		{"NUL in a key", `{"event":"spam","a\u0000":1}`},
		{"invalid UTF-8", "{\"event\":\"spam\",\"tag\":\"\xff\"}"},
		{"single quotes", `{'event':'spam'}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := ParseEvents([]byte(tt.body))
			if err == nil {
				t.Fatalf("ParseEvents(%q) = %d events, want an error", tt.body, len(events))
			}
			if !errors.Is(err, errMalformed) {
				t.Errorf("ParseEvents(%q) error %v, want errMalformed", tt.body, err)
			}
		})
	}
}

func TestEventKey(t *testing.T) {
	t.Parallel()
	key := func(body string) string {
		t.Helper()
		events, err := ParseEvents([]byte(body))
		if err != nil || len(events) != 1 {
			t.Fatalf("ParseEvents(%s) = %v, %v", body, events, err)
		}
		return events[0].Key
	}
	base := key(`{"event":"list_addition","email":"a@b.c","ts":1604937111,"list_id":[34,12]}`)

	same := []string{
		`{"ts":1604937111,"list_id":[34,12],"email":"a@b.c","event":"list_addition"}`,
		"{\n  \"event\" : \"list_addition\",\n  \"email\": \"a@b.c\",\n  \"ts\": 1604937111,\n  \"list_id\": [ 34, 12 ]\n}",
		`{"event":"list_addition","email":"\u0061@b.c","ts":1604937111,"list_id":[34,12]}`,
	}
	for _, b := range same {
		if got := key(b); got != base {
			t.Errorf("key(%s) = %s, want %s (same content)", b, got, base)
		}
	}
	// The same event inside a batch has the same key.
	events, err := ParseEvents([]byte(`[{"event":"spam"},` + same[0] + `]`))
	if err != nil || events[1].Key != base {
		t.Errorf("key in batch = %v, %v; want %s", events, err, base)
	}

	different := []string{
		`{"event":"list_addition","email":"a@b.c","ts":1604937112,"list_id":[34,12]}`,
		`{"event":"list_addition","email":"A@b.c","ts":1604937111,"list_id":[34,12]}`,
		`{"event":"list_addition","email":"a@b.c","ts":1604937111,"list_id":[12,34]}`,
		`{"event":"list_addition","email":"a@b.c","ts":1604937111,"list_id":[34,12],"x":null}`,
		`{"event":"contact_deleted","email":"a@b.c","ts":1604937111,"list_id":[34,12]}`,
	}
	seen := map[string]string{base: "base"}
	for _, b := range different {
		k := key(b)
		if prev, ok := seen[k]; ok {
			t.Errorf("key(%s) = key(%s), want different", b, prev)
		}
		seen[k] = b
	}
}

// FuzzParseEvents checks that ParseEvents never panics and that what it
// accepts is usable: every event has a name and a 64-hex-digit key,
// lower-cased unique emails, a raw JSON object, and the same key when the
// body is parsed again.
func FuzzParseEvents(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``, `[]`, `{}`, `null`, `"x"`, `[1]`, `[[]]`, `{"event":""}`, `{"event":1}`,
		`{"event":"spam"}`, `[{"event":"spam"},{"event":"spam"}]`,
		`{"event":"contact_updated","email":"A@B.C","content":[{"email":"a@b.c","emailBlacklist":true}]}`,
		`{"event":"contact_updated","content":{"email":"İ@x","emailBlacklist":true}}`,
		`{"event":"contact_updated","content":[null,"x",{"email":7},{"email":" \u212a@x "}]}`,
		`{"event":"spam","a":"\u0000"}`, `{"event":"spam","a":"\ud800"}`,
		`{"event":"spam","n":1e999999,"m":-0.0e-0}`,
		"{\"event\":\"spam\",\"a\":\"\xff\"}",
		`{"event":"spam","event":"list_addition"}`,
		`[{"event":"list_addition","email":"a@b.c"}] `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := ParseEvents(body)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		again, err := ParseEvents(bytes.Clone(body))
		if err != nil || len(again) != len(events) {
			t.Fatalf("second parse = %d events, %v; first gave %d", len(again), err, len(events))
		}
		for i, e := range events {
			if strings.TrimSpace(e.Name) == "" {
				t.Errorf("event %d: empty Name", i)
			}
			if len(e.Key) != 64 || strings.Trim(e.Key, "0123456789abcdef") != "" {
				t.Errorf("event %d: Key = %q, want 64 hex digits", i, e.Key)
			}
			if again[i].Key != e.Key {
				t.Errorf("event %d: Key %s then %s for the same input", i, e.Key, again[i].Key)
			}
			if !json.Valid(e.Raw) || bytes.TrimSpace(e.Raw)[0] != '{' {
				t.Errorf("event %d: Raw %q is not a JSON object", i, e.Raw)
			}
			seen := map[string]bool{}
			for _, ch := range e.Emails {
				if ch.Email == "" || ch.Email != schema.NormalizeEmail(ch.Email) {
					t.Errorf("event %d: email %q is not a key (schema.NormalizeEmail)", i, ch.Email)
				}
				if seen[ch.Email] {
					t.Errorf("event %d: email %q twice", i, ch.Email)
				}
				seen[ch.Email] = true
				if strings.IndexByte(ch.Email, 0) >= 0 {
					t.Errorf("event %d: email %q holds NUL", i, ch.Email)
				}
			}
		}
	})
}
