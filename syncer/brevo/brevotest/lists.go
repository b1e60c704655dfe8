package brevotest

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// maxListContacts is Brevo's cap on emails or ids per list add or remove.
const maxListContacts = 150

// ListMembers returns the emails of the contacts in list listID, ordered by
// contact id.
func (s *Server) ListMembers(listID int64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var in []*contact
	for _, c := range s.contacts {
		if slices.Contains(c.ListIDs, listID) {
			in = append(in, c)
		}
	}
	slices.SortFunc(in, func(a, b *contact) int { return cmp.Compare(a.ID, b.ID) })
	out := make([]string, len(in))
	for i, c := range in {
		out[i] = c.Email
	}
	return out
}

// listContactsBody is the body of POST /v3/contacts/lists/{listId}/contacts/add
// and …/remove.
type listContactsBody struct {
	Emails *[]string       `json:"emails"`
	IDs    *[]int64        `json:"ids"`
	ExtIDs json.RawMessage `json:"extIds"`
	All    *bool           `json:"all"`
}

// listChange is what a list add or remove does to one contact that exists:
// it reports whether it succeeded.
type listChange func(c *contact, list int64) bool

// handleListAdd answers POST /v3/contacts/lists/{listId}/contacts/add.
func (s *Server) handleListAdd(w http.ResponseWriter, r *http.Request) {
	s.changeList(w, r, func(c *contact, list int64) bool { return len(c.addLists([]int64{list})) > 0 })
}

// handleListRemove answers POST /v3/contacts/lists/{listId}/contacts/remove.
func (s *Server) handleListRemove(w http.ResponseWriter, r *http.Request) {
	s.changeList(w, r, func(c *contact, list int64) bool { return c.removeLists([]int64{list}) })
}

// changeList validates a list add or remove, applies change to each contact
// named and answers 201 with the successes and failures.
func (s *Server) changeList(w http.ResponseWriter, r *http.Request, change listChange) {
	var in listContactsBody
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "Input must be a valid JSON object")
		return
	}
	switch {
	case in.ExtIDs != nil || in.All != nil:
		writeError(w, http.StatusBadRequest, "invalid_parameter", "extIds and all are not supported by the simulator")
		return
	case in.Emails != nil && in.IDs != nil:
		writeError(w, http.StatusBadRequest, "invalid_parameter", "Pass either emails or ids, not both")
		return
	case in.Emails == nil && in.IDs == nil:
		writeError(w, http.StatusBadRequest, "missing_parameter", "emails or ids is required")
		return
	case in.Emails != nil && len(*in.Emails) > maxListContacts, in.IDs != nil && len(*in.IDs) > maxListContacts:
		writeError(w, http.StatusBadRequest, "out_of_range", "At most 150 contacts can be passed at once; prefer /contacts/import in bulk")
		return
	}
	list, err := strconv.ParseInt(r.PathValue("listId"), 10, 64)

	s.mu.Lock()
	if err != nil || list <= 0 || (s.lists != nil && !s.lists[list]) {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "document_not_found", "List ID does not exist")
		return
	}
	success, failure := []any{}, []any{}
	apply := func(c *contact, ok bool, key any) {
		if ok && change(c, list) {
			c.modified = time.Now()
			success = append(success, key)
		} else {
			failure = append(failure, key)
		}
	}
	if in.Emails != nil {
		for _, e := range *in.Emails {
			e = normalizeEmail(e)
			c, ok := s.contacts[e]
			apply(c, ok, e)
		}
	} else {
		for _, id := range *in.IDs {
			c, ok := s.byID[id]
			apply(c, ok, id)
		}
	}
	s.mu.Unlock()

	b, _ := json.Marshal(map[string]any{"contacts": map[string]any{"success": success, "failure": failure}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(b)
}
