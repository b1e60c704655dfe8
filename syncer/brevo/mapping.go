package brevo

import (
	"strings"

	"github.com/brevosync/brevosync/syncer"
)

// The mapping from a contacts row to Brevo's contact (contract §5). To send
// another column, or to send one differently, change ToContact and
// MappedAttributes together.

// MappedAttribute is a Brevo contact attribute the mapping fills, with the
// type it must have in Brevo and the column it comes from.
type MappedAttribute struct {
	Name, Type, Column string
}

// MappedAttributes are the attributes ToContact fills. Brevo silently drops
// attributes it does not know, so `serve` warns about missing ones and
// `attributes ensure` creates them.
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

// ToContact maps a row to Brevo's create-contact body with the application's
// attribute mapping: NULL and empty values are left out, the name is split
// at its first space, and the email is sent lower-cased and trimmed, the way
// Brevo matches it.
func ToContact(c syncer.Contact, listIDs []int64) Contact {
	attrs := make(map[string]any, 8)
	if c.Name != nil {
		first, last, _ := strings.Cut(strings.TrimSpace(*c.Name), " ")
		if first != "" {
			attrs["FIRSTNAME"] = first
		}
		if last = strings.TrimSpace(last); last != "" {
			attrs["LASTNAME"] = last
		}
	}
	putText := func(key string, v *string) {
		if v != nil && strings.TrimSpace(*v) != "" {
			attrs[key] = strings.TrimSpace(*v)
		}
	}
	putText("SMS", c.PhoneNumber)
	putText("DOMAIN_ID", c.DomainID)
	putText("PAGE_ID", c.PageID)
	putText("EMAIL_TYPE", c.EmailType)
	putText("SOURCE_URL", c.SourceURL)
	if c.HasGmail != nil {
		attrs["HAS_GMAIL"] = *c.HasGmail
	}
	if len(attrs) == 0 {
		attrs = nil
	}
	return Contact{
		Email:      strings.ToLower(strings.TrimSpace(c.Email)),
		Attributes: attrs,
		ListIDs:    listIDs,
	}
}
