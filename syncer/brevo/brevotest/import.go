package brevotest

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Import reports: the kinds of rejected rows, as named in a completed
// process's info.import.
const (
	reportInvalidEmails = "invalid_emails"
	reportDuplicateMail = "duplicate_email_id"
	reportDuplicateSMS  = "duplicate_phone_id"
)

// importRequest is the POST /v3/contacts/import body.
type importRequest struct {
	JSONBody                []importRow     `json:"jsonBody"`
	FileBody                *string         `json:"fileBody"`
	FileURL                 *string         `json:"fileUrl"`
	NewList                 json.RawMessage `json:"newList"`
	ListIDs                 []int64         `json:"listIds"`
	NotifyURL               string          `json:"notifyUrl"`
	UpdateExistingContacts  *bool           `json:"updateExistingContacts"`
	EmailBlacklist          bool            `json:"emailBlacklist"`
	SMSBlacklist            bool            `json:"smsBlacklist"`
	EmptyContactsAttributes bool            `json:"emptyContactsAttributes"`
	DisableNotification     bool            `json:"disableNotification"`
}

// importRow is one jsonBody entry.
type importRow struct {
	Email      string         `json:"email"`
	Attributes map[string]any `json:"attributes"`
}

// importOptions are an import's flags.
type importOptions struct {
	updateExisting, emailBlacklist, smsBlacklist, emptyAttributes bool
}

// handleImport answers POST /v3/contacts/import: 202 {"processId": N} with
// the import queued, or 400.
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body) // serveHTTP read at most maxImportBody+1
	if len(body) > maxImportBody {
		writeError(w, http.StatusBadRequest, "out_of_range",
			"The request body exceeds the 10 MB limit of fileBody and jsonBody imports; use fileUrl for bigger files")
		return
	}
	var in importRequest
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "Input must be a valid JSON object")
		return
	}
	if msg, code := checkImport(in); msg != "" {
		writeError(w, http.StatusBadRequest, code, msg)
		return
	}
	opts := importOptions{
		updateExisting:  in.UpdateExistingContacts == nil || *in.UpdateExistingContacts,
		emailBlacklist:  in.EmailBlacklist,
		smsBlacklist:    in.SMSBlacklist,
		emptyAttributes: in.EmptyContactsAttributes,
	}
	s.mu.Lock()
	id := s.submitImportLocked(in, opts, time.Now())
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"processId":` + strconv.FormatInt(id, 10) + `}`))
}

// checkImport returns the message and code of a 400 for an import the
// simulator refuses, or "".
func checkImport(in importRequest) (msg, code string) {
	switch {
	case in.FileBody != nil || in.FileURL != nil:
		return "The simulator supports only jsonBody imports, not fileBody or fileUrl", "invalid_parameter"
	case in.NewList != nil:
		return "The simulator does not support newList; pass listIds", "invalid_parameter"
	case in.JSONBody == nil:
		return "jsonBody is required (the simulator supports only jsonBody)", "missing_parameter"
	case len(in.JSONBody) == 0:
		return "jsonBody is empty", "invalid_parameter"
	case len(in.ListIDs) == 0:
		return "listIds is required", "missing_parameter"
	case slices.ContainsFunc(in.ListIDs, func(l int64) bool { return l <= 0 }):
		return "Invalid list id", "invalid_parameter"
	case slices.ContainsFunc(in.JSONBody, func(r importRow) bool { return strings.TrimSpace(r.Email) == "" }):
		return "Every jsonBody row needs an email in the simulator", "missing_parameter"
	}
	return "", ""
}

// submitImportLocked queues an accepted import and returns its process id.
func (s *Server) submitImportLocked(in importRequest, opts importOptions, now time.Time) int64 {
	imp := &s.imports
	if imp.head < len(imp.procs) {
		s.stats.OverlappingImports++
	}
	if opts.emailBlacklist || opts.smsBlacklist || opts.emptyAttributes {
		s.stats.ImportsWithBlacklistFlags++
	}
	s.stats.Imports++
	p := &process{
		Process: Process{
			ID: int64(len(imp.procs) + 1), Status: statusQueued, Rows: len(in.JSONBody),
			Rejected: map[string][]string{}, ListIDs: slices.Clone(in.ListIDs),
			NotifyURL: in.NotifyURL, Submitted: now,
		},
		rows: in.JSONBody, opts: opts, seen: map[string]bool{}, fail: imp.failNext,
	}
	imp.failNext = ""
	imp.procs = append(imp.procs, p)
	if !imp.running {
		imp.running = s.goLocked(s.runImports)
	}
	s.broadcastLocked()
	return p.ID
}

// importRowLocked applies one row of p: rejected into a report, or a
// contact created or updated and added to p's lists.
func (s *Server) importRowLocked(p *process, row importRow, now time.Time) {
	email := normalizeEmail(row.Email)
	if !validEmail(email) {
		p.Rejected[reportInvalidEmails] = append(p.Rejected[reportInvalidEmails], row.Email)
		return
	}
	if p.seen[email] {
		p.Rejected[reportDuplicateMail] = append(p.Rejected[reportDuplicateMail], row.Email)
		return
	}
	p.seen[email] = true
	c, exists := s.contacts[email]
	update := !exists || p.opts.updateExisting
	set, erase := map[string]any{}, []string(nil)
	for k, v := range row.Attributes {
		switch {
		case !emptyValue(v):
			set[k] = v
		case exists && p.opts.emptyAttributes:
			erase = append(erase, k)
		}
	}
	if owner := s.smsOwnerLocked(set); update && owner != nil && owner != c {
		p.Rejected[reportDuplicateSMS] = append(p.Rejected[reportDuplicateSMS], row.Email)
		return
	}
	if !exists {
		c = s.newContactLocked(email)
	}
	if update {
		s.setAttrsLocked(c, set)
		old := smsKey(c.Attributes["SMS"])
		for _, k := range erase {
			delete(c.Attributes, k)
		}
		s.reindexSMSLocked(c, old)
	}
	c.addLists(p.ListIDs)
	if p.opts.emailBlacklist {
		c.EmailBlacklisted = true
	}
	if p.opts.smsBlacklist {
		c.SMSBlacklisted = true
	}
	c.modified = now
	p.Imported++
	s.stats.ImportedRows++
}

// emptyValue reports whether an imported attribute value is empty: null or
// a blank string.
func emptyValue(v any) bool {
	str, isString := v.(string)
	return v == nil || isString && strings.TrimSpace(str) == ""
}
