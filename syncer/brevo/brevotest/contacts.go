package brevotest

import (
	"cmp"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Contact is a contact as the simulator holds it.
type Contact struct {
	// ID is the simulator's contact id, counting from 1.
	ID int64
	// Email is the lower-cased, trimmed email.
	Email string
	// Attributes are the merged attributes, values as decoded from JSON
	// (string, bool, float64, ...).
	Attributes map[string]any
	// ListIDs are the lists the contact is in, in the order added.
	ListIDs []int64
	// EmailBlacklisted and SMSBlacklisted are the contact's blocklisting
	// for email and for SMS.
	EmailBlacklisted, SMSBlacklisted bool
	// Upserts counts the successful upserts of the contact (201 or 204).
	Upserts int
}

// contact is the stored form of a Contact.
type contact struct {
	Contact
	created, modified time.Time
}

func (c *contact) export() Contact {
	out := c.Contact
	out.Attributes = maps.Clone(c.Attributes)
	out.ListIDs = slices.Clone(c.ListIDs)
	return out
}

// Contact returns the contact with email (compared lower-cased and trimmed).
func (s *Server) Contact(email string) (Contact, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.contacts[normalizeEmail(email)]
	if !ok {
		return Contact{}, false
	}
	return c.export(), true
}

// Contacts returns all contacts, sorted by ID.
func (s *Server) Contacts() []Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Contact, 0, len(s.contacts))
	for _, c := range s.contacts {
		out = append(out, c.export())
	}
	slices.SortFunc(out, func(a, b Contact) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// SetBlacklisted sets or clears the email blocklisting of the contact with
// email (compared lower-cased and trimmed), as an unsubscription in Brevo
// would, and bumps its modifiedAt. It reports whether the contact exists.
func (s *Server) SetBlacklisted(email string, on bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.contacts[normalizeEmail(email)]
	if ok {
		c.EmailBlacklisted = on
		c.modified = time.Now()
	}
	return ok
}

// upsertRequest is the POST /v3/contacts body.
type upsertRequest struct {
	Email            string         `json:"email"`
	Attributes       map[string]any `json:"attributes"`
	ListIDs          []int64        `json:"listIds"`
	UpdateEnabled    bool           `json:"updateEnabled"`
	EmailBlacklisted *bool          `json:"emailBlacklisted"`
	SMSBlacklisted   *bool          `json:"smsBlacklisted"`
}

// handleUpsert answers POST /v3/contacts: key check, rate limit, fault,
// then the upsert itself.
func (s *Server) handleUpsert(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	var in upsertRequest
	badJSON := json.Unmarshal(body, &in) != nil
	email := normalizeEmail(in.Email)
	req := Request{At: now, Method: r.Method, Path: r.URL.Path, Header: r.Header, Body: body, Email: email}

	s.mu.Lock()
	idx, gen := s.logLocked(req)
	s.stats.Requests++
	s.stats.Upserts++
	s.countRouteLocked(routeUpsert)
	if in.EmailBlacklisted != nil || in.SMSBlacklisted != nil {
		s.stats.UpsertsWithBlacklistFlags++
	}
	var (
		rl       rateHeaders
		fault    Fault
		faulted  bool
		admitted bool
		authOK   = s.authorizedLocked(r.Header.Get("api-key"))
	)
	if authOK {
		rl, admitted = s.bucket.take(now)
	} else {
		rl = s.bucket.peek(now)
	}
	if admitted {
		fault, faulted = s.nextFaultLocked(email)
	}
	latency, hook := s.latency, s.onUpsert
	if !admitted && authOK {
		s.stats.RateLimited++
	}
	s.mu.Unlock()

	if hook != nil {
		hook(req.clone())
	}
	rl.write(w.Header())
	status, closed := 0, false
	switch {
	case !authOK:
		status = http.StatusUnauthorized
	case !admitted:
		status = http.StatusTooManyRequests
	case !s.wait(latency + fault.Latency):
		closed = true // no answer
	case fault.Drop:
	case fault.Status != 0:
		status = fault.Status
	default:
		s.upsert(w, in, badJSON, email, idx, gen)
		return
	}

	// Record before answering, so a client that has its answer sees it in
	// the log and the counters.
	s.mu.Lock()
	if faulted && fault.answers() {
		s.stats.Faulted++
	}
	s.answeredLocked(idx, gen, status)
	s.mu.Unlock()

	switch {
	case closed:
	case !authOK:
		writeUnauthorized(w)
	case !admitted:
		writeError(w, http.StatusTooManyRequests, "too_many_requests", "The expected rate limit is exceeded.")
	case fault.Drop:
		dropConn(w)
	default:
		writeFault(w, fault)
	}
}

// wait sleeps for d unless the server closes first; it reports whether the
// full wait passed.
func (s *Server) wait(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// dropConn closes the client's connection without an answer.
func dropConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // makes net/http close the connection
	}
	_ = conn.Close()
}

// upsert validates and applies an admitted, unfaulted upsert and answers it.
func (s *Server) upsert(w http.ResponseWriter, in upsertRequest, badJSON bool, email string, idx, gen int) {
	status, code, msg := http.StatusBadRequest, "", ""
	switch {
	case badJSON:
		code, msg = "bad_request", "Input must be a valid JSON object"
	case email == "":
		code, msg = "missing_parameter", "Please provide Email or SMS attribute value to create user"
	case !validEmail(email):
		code, msg = "invalid_parameter", "Invalid email address"
	case !validSMS(in.Attributes):
		code, msg = "invalid_parameter", "Invalid phone number"
	}

	var (
		id     int64
		dupSMS bool
	)
	s.mu.Lock()
	if code == "" {
		c, exists := s.contacts[email]
		owner := s.smsOwnerLocked(in.Attributes)
		switch {
		case exists && !in.UpdateEnabled:
			code, msg = "duplicate_parameter", "Contact already exist"
		case owner != nil && owner != c:
			dupSMS, msg = true, "Unable to create contact, SMS is already associated with another Contact"
			if exists {
				msg = "Unable to update contact, SMS is already associated with another Contact"
			}
		case exists:
			status = http.StatusNoContent
			added := s.mergeLocked(c, in)
			s.stats.Updated++
			s.enqueueLocked(webhookEvent{kind: "contact_updated", email: email, attrs: in.Attributes})
			if len(added) > 0 {
				s.enqueueLocked(webhookEvent{kind: "list_addition", email: email, lists: added})
			}
		default:
			status = http.StatusCreated
			c = s.newContactLocked(email)
			id = c.ID
			s.mergeLocked(c, in)
			s.stats.Created++
			if len(c.ListIDs) > 0 {
				s.enqueueLocked(webhookEvent{kind: "list_addition", email: email, lists: slices.Clone(c.ListIDs)})
			}
		}
	}
	s.answeredLocked(idx, gen, status)
	s.mu.Unlock()

	switch status {
	case http.StatusCreated:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(strconv.AppendInt([]byte(`{"id":`), id, 10))
		_, _ = w.Write([]byte("}"))
	case http.StatusNoContent:
		w.WriteHeader(status)
	default:
		if dupSMS {
			writeDuplicate(w, msg, "SMS")
			return
		}
		writeError(w, status, code, msg)
	}
}

// newContactLocked creates and stores a contact with email and the next id.
func (s *Server) newContactLocked(email string) *contact {
	s.nextID++
	now := time.Now()
	c := &contact{
		Contact: Contact{ID: s.nextID, Email: email, Attributes: map[string]any{}},
		created: now, modified: now,
	}
	s.contacts[email] = c
	s.byID[c.ID] = c
	return c
}

// mergeLocked applies an upsert to c and returns the list ids newly added.
func (s *Server) mergeLocked(c *contact, in upsertRequest) (added []int64) {
	s.setAttrsLocked(c, in.Attributes)
	added = c.addLists(in.ListIDs)
	s.setBlacklistLocked(c, in.EmailBlacklisted, in.SMSBlacklisted)
	c.Upserts++
	c.modified = time.Now()
	return added
}

// addLists adds c to lists and returns the ones it was not in yet.
func (c *contact) addLists(lists []int64) (added []int64) {
	for _, l := range lists {
		if !slices.Contains(c.ListIDs, l) {
			c.ListIDs = append(c.ListIDs, l)
			added = append(added, l)
		}
	}
	return added
}

// removeLists takes c out of lists; it reports whether c was in any.
func (c *contact) removeLists(lists []int64) bool {
	n := len(c.ListIDs)
	c.ListIDs = slices.DeleteFunc(c.ListIDs, func(l int64) bool { return slices.Contains(lists, l) })
	if len(c.ListIDs) == 0 {
		c.ListIDs = nil
	}
	return len(c.ListIDs) < n
}
