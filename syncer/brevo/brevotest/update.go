package brevotest

import (
	"encoding/json"
	"maps"
	"net/http"
	"time"
)

// updateRequest is the PUT /v3/contacts/{identifier} body.
type updateRequest struct {
	Attributes       map[string]any `json:"attributes"`
	EmailBlacklisted *bool          `json:"emailBlacklisted"`
	SMSBlacklisted   *bool          `json:"smsBlacklisted"`
	ListIDs          []int64        `json:"listIds"`
	UnlinkListIDs    []int64        `json:"unlinkListIds"`
}

// handleUpdateContact answers PUT /v3/contacts/{identifier}: 204, 400 or
// 404.
func (s *Server) handleUpdateContact(w http.ResponseWriter, r *http.Request) {
	ident, idType := r.PathValue("identifier"), r.URL.Query().Get("identifierType")
	if !checkIdentifierType(w, idType) {
		return
	}
	var in updateRequest
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "Input must be a valid JSON object")
		return
	}
	attrs := maps.Clone(in.Attributes)
	newEmail, changeEmail := "", false
	if v, ok := attrs["EMAIL"]; ok {
		delete(attrs, "EMAIL")
		str, isString := v.(string)
		newEmail, changeEmail = normalizeEmail(str), true
		if !isString || !validEmail(newEmail) {
			writeError(w, http.StatusBadRequest, "invalid_parameter", "Invalid email address")
			return
		}
	}
	if !validSMS(attrs) {
		writeError(w, http.StatusBadRequest, "invalid_parameter", "Invalid phone number")
		return
	}

	s.mu.Lock()
	c, ok := s.lookupLocked(ident, idType)
	if !ok {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "document_not_found", "Contact does not exist")
		return
	}
	changeEmail = changeEmail && newEmail != c.Email
	if other, taken := s.contacts[newEmail]; changeEmail && taken && other != c {
		s.mu.Unlock()
		writeDuplicate(w, "Unable to update contact, email is already associated with another Contact", "email")
		return
	}
	if owner := s.smsOwnerLocked(attrs); owner != nil && owner != c {
		s.mu.Unlock()
		writeDuplicate(w, "Unable to update contact, SMS is already associated with another Contact", "SMS")
		return
	}
	if changeEmail {
		delete(s.contacts, c.Email)
		c.Email = newEmail
		s.contacts[newEmail] = c
		if in.EmailBlacklisted == nil && c.EmailBlacklisted {
			// Brevo: "If a blocklisted contact's email address is updated,
			// it is going to remove that blocklisting from the contact and
			// they will be resubscribed."
			c.EmailBlacklisted = false
			s.stats.Resubscribed++
		}
	}
	s.setAttrsLocked(c, attrs)
	s.setBlacklistLocked(c, in.EmailBlacklisted, in.SMSBlacklisted)
	c.addLists(in.ListIDs)
	c.removeLists(in.UnlinkListIDs)
	c.modified = time.Now()
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
