package brevotest

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// List limits of GET /v3/processes.
const (
	defaultProcessesLimit = 10
	maxProcessesLimit     = 50
)

// processView is a process as GET /v3/processes/{id} answers it.
type processView struct {
	ID     int64        `json:"id"`
	Name   string       `json:"name"`
	Status string       `json:"status"`
	Info   *processInfo `json:"info,omitempty"`
}

type processInfo struct {
	Import importInfo `json:"import"`
}

// importInfo are a completed import's report URLs, null when a report has
// no rows or is not simulated.
type importInfo struct {
	InvalidEmails             *string `json:"invalid_emails"`
	DuplicateContactID        *string `json:"duplicate_contact_id"`
	DuplicateExtID            *string `json:"duplicate_ext_id"`
	DuplicateEmailID          *string `json:"duplicate_email_id"`
	DuplicatePhoneID          *string `json:"duplicate_phone_id"`
	DuplicateWhatsappID       *string `json:"duplicate_whatsapp_id"`
	DuplicateLandlineNumberID *string `json:"duplicate_landline_number_id"`
}

// viewLocked renders p for the processes endpoints.
func (s *Server) viewLocked(p *process) processView {
	v := processView{ID: p.ID, Name: "IMPORTUSER", Status: p.Status}
	if p.Status != statusCompleted {
		return v
	}
	report := func(kind string) *string {
		if len(p.Rejected[kind]) == 0 {
			return nil
		}
		u := fmt.Sprintf("%s/reports/%d/%s.csv", s.base, p.ID, kind)
		return &u
	}
	v.Info = &processInfo{Import: importInfo{
		InvalidEmails:    report(reportInvalidEmails),
		DuplicateEmailID: report(reportDuplicateMail),
		DuplicatePhoneID: report(reportDuplicateSMS),
	}}
	return v
}

// processLocked returns the process with id (a path value), or nil.
func (s *Server) processLocked(id string) *process {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 1 || n > int64(len(s.imports.procs)) {
		return nil
	}
	return s.imports.procs[n-1]
}

// handleProcess answers GET /v3/processes/{id}.
func (s *Server) handleProcess(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var out []byte
	p := s.processLocked(r.PathValue("id"))
	if p != nil {
		out, _ = json.Marshal(s.viewLocked(p))
	}
	s.mu.Unlock()
	if p == nil {
		writeError(w, http.StatusNotFound, "invalid_parameter", "processId is invalid")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// handleProcesses answers GET /v3/processes?limit=&offset=&sort=.
func (s *Server) handleProcesses(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, offset := defaultProcessesLimit, 0
	var err error
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 0 {
			writeError(w, http.StatusBadRequest, "invalid_parameter", "Invalid limit")
			return
		}
		if limit > maxProcessesLimit {
			writeError(w, http.StatusBadRequest, "out_of_range", "limit exceeds the maximum of 50")
			return
		}
	}
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			writeError(w, http.StatusBadRequest, "invalid_parameter", "Invalid offset")
			return
		}
	}
	sort := q.Get("sort")
	if sort != "" && sort != "asc" && sort != "desc" {
		writeError(w, http.StatusBadRequest, "invalid_parameter", "sort must be asc or desc")
		return
	}

	s.mu.Lock()
	all := slices.Clone(s.imports.procs)
	if sort != "asc" {
		slices.Reverse(all)
	}
	page := all[min(offset, len(all)):]
	page = page[:min(limit, len(page))]
	out := struct {
		Processes []processView `json:"processes"`
		Count     int           `json:"count"`
	}{Processes: make([]processView, 0, len(page)), Count: len(all)}
	for _, p := range page {
		out.Processes = append(out.Processes, s.viewLocked(p))
	}
	b, _ := json.Marshal(out)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// handleReport answers GET /reports/{id}/{kind}.csv, a completed import's
// report: a CSV with a header line EMAIL and one rejected email a line.
func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) {
	kind, isCSV := strings.CutSuffix(r.PathValue("file"), ".csv")
	s.mu.Lock()
	broken := s.imports.reportsBroken
	var rows []string
	if p := s.processLocked(r.PathValue("id")); p != nil && isCSV && p.Status == statusCompleted {
		rows = slices.Clone(p.Rejected[kind])
	}
	s.mu.Unlock()
	switch {
	case broken:
		writeError(w, http.StatusInternalServerError, "internal_error", "Report unavailable")
		return
	case len(rows) == 0:
		writeError(w, http.StatusNotFound, "document_not_found", "Report not found")
		return
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write([]string{"EMAIL"})
	for _, e := range rows {
		_ = cw.Write([]string{e})
	}
	cw.Flush()
	w.Header().Set("Content-Type", "text/csv")
	_, _ = w.Write(buf.Bytes())
}
