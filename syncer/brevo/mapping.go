package brevo

import (
	"regexp"
	"strconv"
	"strings"

	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/syncer"
)

// The mapping from a contacts row to Brevo's contact (contract §5). To send
// another column, or to send one differently, change MappedAttributes and
// values together.

// MappedAttribute is a Brevo contact attribute the mapping fills, with the
// type it should have in Brevo and the column it comes from.
type MappedAttribute struct {
	Name, Type, Column string
}

// MappedAttributes are the attributes the mapping fills. Brevo silently
// drops attributes it does not know, and values that do not fit an
// attribute's type, so `serve` warns about both at start, `attributes`
// lists them, and `attributes ensure` creates the missing ones.
var MappedAttributes = []MappedAttribute{
	{"FIRSTNAME", "text", "name (before the first space)"},
	{"LASTNAME", "text", "name (after the first space)"},
	{"SMS", "text", "phone_number"},
	{"DOMAIN_ID", "text", "domain_id"},
	{"PAGE_ID", "text", "page_id"},
	{"EMAIL_TYPE", "text", "email_type"},
	{"SOURCE_URL", "text", "source_url"},
	{"HAS_GMAIL", "boolean", "has_gmail"},
}

// values are a row's mapped values, by attribute, as the mapping reads
// them: strings, and a bool for HAS_GMAIL. NULL and empty values are left
// out; the name is split at its first space.
func values(c syncer.Contact) map[string]any {
	v := make(map[string]any, 8)
	if c.Name != nil {
		first, last, _ := strings.Cut(strings.TrimSpace(*c.Name), " ")
		if first != "" {
			v["FIRSTNAME"] = first
		}
		if last = strings.TrimSpace(last); last != "" {
			v["LASTNAME"] = last
		}
	}
	putText := func(key string, s *string) {
		if s != nil && strings.TrimSpace(*s) != "" {
			v[key] = strings.TrimSpace(*s)
		}
	}
	putText("SMS", c.PhoneNumber)
	putText("DOMAIN_ID", c.DomainID)
	putText("PAGE_ID", c.PageID)
	putText("EMAIL_TYPE", c.EmailType)
	putText("SOURCE_URL", c.SourceURL)
	if c.HasGmail != nil {
		v["HAS_GMAIL"] = *c.HasGmail
	}
	return v
}

// ToContact maps a row to Brevo's create-contact body: each mapped value in
// the form its attribute takes in the account (types, from
// GET /contacts/attributes; nil or a missing attribute: the mapping's own
// form), and the email normalized as brevosync matches it everywhere
// (schema.NormalizeEmail).
func ToContact(c syncer.Contact, listIDs []int64, types map[string]Attribute) Contact {
	attrs := map[string]any{}
	for name, v := range values(c) {
		a, known := types[name]
		if !known {
			attrs[name] = v
			continue
		}
		if out, ok := convert(v, a); ok {
			attrs[name] = out
		}
	}
	if len(attrs) == 0 {
		attrs = nil
	}
	return Contact{Email: schema.NormalizeEmail(c.Email), Attributes: attrs, ListIDs: listIDs}
}

var isoDate = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// convert puts a mapped value (a string or a bool) in the form attribute a
// takes; false leaves it out, because Brevo would drop it anyway.
func convert(v any, a Attribute) (any, bool) {
	text := ""
	switch v := v.(type) {
	case string:
		text = v
	case bool:
		text = strconv.FormatBool(v)
	}
	switch {
	case a.Category == "category" || len(a.Enumeration) > 0:
		if e, ok := enumValue(a, text); ok {
			return e, true
		}
		return nil, false
	case a.Category != "" && a.Category != "normal":
		return nil, false // calculated, global, transactional: not written by contacts
	}
	switch a.Type {
	case "boolean":
		b, ok := parseBool(text)
		return b, ok
	case "float":
		f, err := strconv.ParseFloat(text, 64)
		return f, err == nil
	case "date":
		return text, isoDate.MatchString(text)
	case "multiple-choice":
		return []string{text}, true
	case "", "text":
		return text, true
	}
	return nil, false
}

// enumValue finds the category value whose label is text, compared
// case-insensitively; a boolean matches yes/no and 1/0 labels too.
func enumValue(a Attribute, text string) (int, bool) {
	want := []string{text}
	if b, ok := parseBool(text); ok {
		if b {
			want = append(want, "true", "yes", "1")
		} else {
			want = append(want, "false", "no", "0")
		}
	}
	for _, e := range a.Enumeration {
		for _, w := range want {
			if strings.EqualFold(strings.TrimSpace(e.Label), w) {
				return e.Value, true
			}
		}
	}
	return 0, false
}

// parseBool reads true/false, yes/no, 1/0, case-insensitively.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "1":
		return true, true
	case "false", "no", "0":
		return false, true
	}
	return false, false
}
