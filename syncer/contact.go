package syncer

import (
	"strings"
	"time"

	"github.com/brevosync/brevosync/syncer/brevo"
)

// Contact is a claimed row: what Brevo is sent, plus the claim's bookkeeping.
type Contact struct {
	ID          string
	Email       string
	Name        *string
	PhoneNumber *string
	DomainID    *string
	PageID      *string
	EmailType   *string
	SourceURL   *string
	HasGmail    *bool

	// RetryCount is the number of failed attempts of the current request
	// before this one.
	RetryCount int
	// RequestedAt is when the application selected the contact (set by the
	// trigger); zero for rows selected before brevosync was installed.
	RequestedAt time.Time
}

// toBrevoContact maps a row to Brevo's create-contact body with the
// application's attribute mapping (contract §5): NULL and empty values are
// left out, the name is split at its first space, and the email is sent
// lower-cased and trimmed, the way Brevo matches it.
func toBrevoContact(c Contact, listIDs []int64) brevo.Contact {
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
	return brevo.Contact{
		Email:      strings.ToLower(strings.TrimSpace(c.Email)),
		Attributes: attrs,
		ListIDs:    listIDs,
	}
}

// MappedAttributes are the Brevo contact attributes the mapping fills, with
// the type each must have in Brevo. Brevo silently drops attributes it does
// not know, so `serve` warns about missing ones and `attributes ensure`
// creates them.
var MappedAttributes = []struct{ Name, Type string }{
	{"FIRSTNAME", "text"},
	{"LASTNAME", "text"},
	{"SMS", "text"},
	{"DOMAIN_ID", "text"},
	{"PAGE_ID", "text"},
	{"EMAIL_TYPE", "text"},
	{"SOURCE_URL", "text"},
	{"HAS_GMAIL", "boolean"},
}
