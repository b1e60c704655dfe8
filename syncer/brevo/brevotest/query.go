package brevotest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// handleGetContact answers GET /v3/contacts/{identifier}: an email or a
// numeric contact id.
func (s *Server) handleGetContact(w http.ResponseWriter, r *http.Request) {
	ident := r.PathValue("identifier")
	s.mu.Lock()
	c, ok := s.contacts[normalizeEmail(ident)]
	if !ok {
		if id, err := strconv.ParseInt(ident, 10, 64); err == nil {
			c, ok = s.byID[id]
		}
	}
	var out []byte
	if ok {
		ids := c.ListIDs
		if ids == nil {
			ids = []int64{}
		}
		out, _ = json.Marshal(map[string]any{
			"email":            c.Email,
			"id":               c.ID,
			"emailBlacklisted": false,
			"smsBlacklisted":   false,
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
