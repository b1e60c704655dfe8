package webhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	schema "github.com/brevosync/brevosync/sql"
)

// Brevo's event names (the payload's "event" field) that change a contact.
// Any other name is stored with no effect.
const (
	EventListAddition   = "list_addition"
	EventContactUpdated = "contact_updated"
	EventContactDeleted = "contact_deleted"
	EventUnsubscribed   = "unsubscribed"
	EventUnsubscribe    = "unsubscribe"
)

// Event is one Brevo webhook event as received.
type Event struct {
	// Name is the payload's "event" field as given, e.g. "contact_updated";
	// never empty.
	Name string
	// Emails are the contacts the event names, each once, in payload
	// order: the top-level "email", then for contact_updated the "email" of
	// every "content" item. Each is normalized by schema.NormalizeEmail,
	// the key contacts are matched by.
	Emails []EmailChange
	// Raw is the event's JSON exactly as received (one element of a batch).
	Raw json.RawMessage
	// Key identifies the event's content for deduplication: the hex SHA-256
	// of the event re-marshalled canonically (object keys sorted, no
	// insignificant white space, numbers written as received). Brevo sends
	// no event id, so a redelivery (same content) has the same Key, and two
	// events that differ in any field, "ts" included, have different Keys.
	Key string
}

// EmailChange is one contact named by an event.
type EmailChange struct {
	// Email is the key of the address: schema.NormalizeEmail of it
	// (trimmed, ASCII letters lowered).
	Email string
	// Blacklisted is true when a contact_updated item (or the event itself)
	// carries "emailBlacklist": true.
	Blacklisted bool
}

// errMalformed marks a body that is not a Brevo event or batch of events.
var errMalformed = errors.New("malformed body")

// ParseEvents parses a webhook body: one event object or a JSON array of
// them (a batched webhook). Every event must be an object with a non-empty
// string "event" field; unknown fields are ignored, and fields of an
// unexpected type (an "email" that is not a string) are treated as absent.
// An empty array gives no events and no error.
//
// Bodies that are not valid UTF-8 JSON, that hold anything other than an
// object or an array of objects, or that contain a NUL character (which
// Postgres cannot store) are an error.
func ParseEvents(body []byte) ([]Event, error) {
	if !utf8.Valid(body) {
		return nil, fmt.Errorf("%w: not valid UTF-8", errMalformed)
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("%w: not valid JSON", errMalformed)
	}
	body = bytes.TrimSpace(body)
	var raws []json.RawMessage
	switch body[0] { // json.Valid guarantees a non-empty value
	case '{':
		raws = []json.RawMessage{bytes.Clone(body)}
	case '[':
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, fmt.Errorf("%w: %v", errMalformed, err)
		}
	default:
		return nil, fmt.Errorf("%w: want an event object or an array of them", errMalformed)
	}
	events := make([]Event, 0, len(raws))
	for i, raw := range raws {
		ev, err := parseEvent(raw)
		if err != nil {
			if body[0] == '[' {
				return nil, fmt.Errorf("event %d: %w", i, err)
			}
			return nil, err
		}
		events = append(events, ev)
	}
	return events, nil
}

// parseEvent parses one event object.
func parseEvent(raw json.RawMessage) (Event, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return Event{}, fmt.Errorf("%w: event is not an object", errMalformed)
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep numbers as written, for the key and for 64-bit ids
	if err := dec.Decode(&obj); err != nil {
		return Event{}, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if hasNUL(obj) {
		return Event{}, fmt.Errorf("%w: event contains a NUL character", errMalformed)
	}
	name, _ := obj["event"].(string)
	if strings.TrimSpace(name) == "" {
		return Event{}, fmt.Errorf("%w: event has no \"event\" name", errMalformed)
	}
	canonical, err := json.Marshal(obj) // map keys come out sorted, at every depth
	if err != nil {
		return Event{}, fmt.Errorf("%w: %v", errMalformed, err)
	}
	sum := sha256.Sum256(canonical)
	return Event{
		Name:   name,
		Emails: emailsOf(name, obj),
		Raw:    raw,
		Key:    hex.EncodeToString(sum[:]),
	}, nil
}

// emailsOf collects the contacts an event names: the documented top-level
// "email" and, for contact_updated, the observed "content": [{"email": …}]
// items (content may also be a single object). Duplicates are merged, with
// Blacklisted set when any mention says so. The cost is linear in the
// number of items.
func emailsOf(name string, obj map[string]any) []EmailChange {
	var out []EmailChange
	seen := map[string]int{} // email → index in out
	add := func(item map[string]any) {
		email, _ := item["email"].(string)
		email = schema.NormalizeEmail(email)
		if email == "" {
			return
		}
		black := name == EventContactUpdated && item["emailBlacklist"] == true
		if i, ok := seen[email]; ok {
			out[i].Blacklisted = out[i].Blacklisted || black
			return
		}
		seen[email] = len(out)
		out = append(out, EmailChange{Email: email, Blacklisted: black})
	}
	add(obj)
	if name != EventContactUpdated {
		return out
	}
	switch content := obj["content"].(type) {
	case []any:
		for _, c := range content {
			if item, ok := c.(map[string]any); ok {
				add(item)
			}
		}
	case map[string]any:
		add(content)
	}
	return out
}

// hasNUL reports whether a decoded JSON value holds a NUL character in any
// string or object key.
func hasNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.IndexByte(v, 0) >= 0
	case map[string]any:
		for k, e := range v {
			if strings.IndexByte(k, 0) >= 0 || hasNUL(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasNUL(e) {
				return true
			}
		}
	}
	return false
}
