package brevotest

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// brevoTime is the format of the contact list's createdAt and modifiedAt:
// UTC with milliseconds, as Brevo documents.
const brevoTime = "2006-01-02T15:04:05.000Z"

// List limits of GET /v3/contacts.
const (
	defaultContactsLimit = 50
	maxContactsLimit     = 1000
)

// checkIdentifierType answers 400 and returns false when identifierType is
// not one the simulator resolves: "" (email, else numeric contact id),
// "email_id" or "contact_id".
func checkIdentifierType(w http.ResponseWriter, identifierType string) bool {
	switch identifierType {
	case "", "email_id", "contact_id":
		return true
	case "phone_id", "ext_id", "whatsapp_id", "landline_number_id":
		writeError(w, http.StatusBadRequest, "invalid_parameter",
			"identifierType "+identifierType+" is not supported by the simulator (only email_id and contact_id)")
	default:
		writeError(w, http.StatusBadRequest, "invalid_parameter", "Invalid identifierType")
	}
	return false
}

// lookupLocked finds the contact ident names under identifierType, which
// checkIdentifierType accepted.
func (s *Server) lookupLocked(ident, identifierType string) (*contact, bool) {
	if identifierType != "contact_id" {
		if c, ok := s.contacts[normalizeEmail(ident)]; ok || identifierType == "email_id" {
			return c, ok
		}
	}
	id, err := strconv.ParseInt(ident, 10, 64)
	if err != nil {
		return nil, false
	}
	c, ok := s.byID[id]
	return c, ok
}

// handleGetContact answers GET /v3/contacts/{identifier}: an email or a
// numeric contact id, or as ?identifierType says.
func (s *Server) handleGetContact(w http.ResponseWriter, r *http.Request) {
	ident, idType := r.PathValue("identifier"), r.URL.Query().Get("identifierType")
	if !checkIdentifierType(w, idType) {
		return
	}
	s.mu.Lock()
	c, ok := s.lookupLocked(ident, idType)
	var out []byte
	if ok {
		ids := c.ListIDs
		if ids == nil {
			ids = []int64{}
		}
		out, _ = json.Marshal(map[string]any{
			"email":            c.Email,
			"id":               c.ID,
			"emailBlacklisted": c.EmailBlacklisted,
			"smsBlacklisted":   c.SMSBlacklisted,
			"createdAt":        c.created.UTC().Format(time.RFC3339Nano),
			"modifiedAt":       c.modified.UTC().Format(time.RFC3339Nano),
			"attributes":       c.Attributes,
			"listIds":          ids,
			"statistics":       map[string]any{},
		})
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "document_not_found", "Contact does not exist")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// listedContact is a contact in the GET /v3/contacts answer.
type listedContact struct {
	ID               int64          `json:"id"`
	Email            string         `json:"email"`
	EmailBlacklisted bool           `json:"emailBlacklisted"`
	SMSBlacklisted   bool           `json:"smsBlacklisted"`
	CreatedAt        string         `json:"createdAt"`
	ModifiedAt       string         `json:"modifiedAt"`
	ListIDs          []int64        `json:"listIds"`
	Attributes       map[string]any `json:"attributes"`
}

// contactsQuery is the parsed query of GET /v3/contacts.
type contactsQuery struct {
	limit, offset int
	since         time.Time // zero: no filter
	asc           bool
}

// parseContactsQuery reads limit, offset, modifiedSince and sort, or
// answers 400.
func parseContactsQuery(w http.ResponseWriter, q url.Values) (contactsQuery, bool) {
	out := contactsQuery{limit: defaultContactsLimit}
	for _, k := range []string{"createdSince", "segmentId", "listIds", "filter", "ids"} {
		if q.Has(k) {
			writeError(w, http.StatusBadRequest, "invalid_parameter", k+" is not supported by the simulator")
			return out, false
		}
	}
	var err error
	if v := q.Get("limit"); v != "" {
		if out.limit, err = strconv.Atoi(v); err != nil || out.limit < 0 {
			writeError(w, http.StatusBadRequest, "invalid_parameter", "Invalid limit")
			return out, false
		}
		if out.limit > maxContactsLimit {
			writeError(w, http.StatusBadRequest, "out_of_range", "limit exceeds the maximum of 1000")
			return out, false
		}
	}
	if v := q.Get("offset"); v != "" {
		if out.offset, err = strconv.Atoi(v); err != nil || out.offset < 0 {
			writeError(w, http.StatusBadRequest, "invalid_parameter", "Invalid offset")
			return out, false
		}
	}
	if v := q.Get("modifiedSince"); v != "" {
		if out.since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_parameter",
				"modifiedSince must be a UTC date-time as YYYY-MM-DDTHH:mm:ss.SSSZ")
			return out, false
		}
	}
	switch q.Get("sort") {
	case "", "desc":
	case "asc":
		out.asc = true
	default:
		writeError(w, http.StatusBadRequest, "invalid_parameter", "sort must be asc or desc")
		return out, false
	}
	return out, true
}

// handleListContacts answers GET /v3/contacts.
func (s *Server) handleListContacts(w http.ResponseWriter, r *http.Request) {
	q, ok := parseContactsQuery(w, r.URL.Query())
	if !ok {
		return
	}
	s.mu.Lock()
	var match []*contact
	for _, c := range s.contacts {
		if q.since.IsZero() || !c.modified.Before(q.since) {
			match = append(match, c)
		}
	}
	slices.SortFunc(match, func(a, b *contact) int {
		if n := a.modified.Compare(b.modified); n != 0 {
			return n
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if !q.asc {
		slices.Reverse(match)
	}
	page := match[min(q.offset, len(match)):]
	page = page[:min(q.limit, len(page))]
	out := struct {
		Contacts []listedContact `json:"contacts"`
		Count    int             `json:"count"`
	}{Contacts: make([]listedContact, 0, len(page)), Count: len(match)}
	for _, c := range page {
		ids := c.ListIDs
		if ids == nil {
			ids = []int64{}
		}
		out.Contacts = append(out.Contacts, listedContact{
			ID: c.ID, Email: c.Email, EmailBlacklisted: c.EmailBlacklisted, SMSBlacklisted: c.SMSBlacklisted,
			CreatedAt: c.created.UTC().Format(brevoTime), ModifiedAt: c.modified.UTC().Format(brevoTime),
			ListIDs: ids, Attributes: c.Attributes,
		})
	}
	b, _ := json.Marshal(out)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
