package brevotest

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Route patterns.
const (
	routeImport   = "POST /v3/contacts/import"
	routeUpdate   = "PUT /v3/contacts/{identifier}"
	routeReport   = "GET /reports/{id}/{file}"
	routeNotFound = "/"
)

// maxImportBody is Brevo's cap on an import's body (fileBody or jsonBody:
// 10 MB), and maxDrain how much more of a refused body is read so the
// client gets its answer instead of a reset connection.
const (
	maxImportBody = 10 * 1024 * 1024
	maxDrain      = 64 << 20
)

// routes are the endpoints other than the upsert, which serveHTTP takes
// directly.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v3/account", s.handleAccount)
	mux.HandleFunc("GET /v3/contacts", s.handleListContacts)
	mux.HandleFunc("GET /v3/contacts/attributes", s.handleAttributes)
	mux.HandleFunc("POST /v3/contacts/attributes/{category}/{name}", s.handleCreateAttribute)
	mux.HandleFunc("GET /v3/contacts/{identifier}", s.handleGetContact)
	mux.HandleFunc(routeUpdate, s.handleUpdateContact)
	mux.HandleFunc("POST /v3/contacts/lists/{listId}/contacts/add", s.handleListAdd)
	mux.HandleFunc("POST /v3/contacts/lists/{listId}/contacts/remove", s.handleListRemove)
	mux.HandleFunc(routeImport, s.handleImport)
	mux.HandleFunc("GET /v3/processes", s.handleProcesses)
	mux.HandleFunc("GET /v3/processes/{id}", s.handleProcess)
	mux.HandleFunc(routeReport, s.handleReport)
	mux.HandleFunc(routeNotFound, func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "document_not_found", "Route not found")
	})
	return mux
}

// serveHTTP logs every request, checks the key and dispatches.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == "/v3/contacts" {
		s.handleUpsert(w, r)
		return
	}
	_, pattern := s.mux.Handler(r)
	limit := int64(maxBody)
	if pattern == routeImport {
		limit = maxImportBody + 1
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, limit))
	if len(body) > maxImportBody {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxDrain))
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	req := Request{At: time.Now(), Method: r.Method, Path: r.URL.Path, Header: r.Header, Body: body}
	if pattern == routeUpdate {
		req.Email = identifierEmail(strings.TrimPrefix(r.URL.Path, "/v3/contacts/"), r.URL.Query().Get("identifierType"))
	}
	s.mu.Lock()
	idx, gen := s.logLocked(req)
	s.stats.Requests++
	// Report downloads need no key, like signed links.
	ok := pattern == routeNotFound || pattern == routeReport || s.authorizedLocked(r.Header.Get("api-key"))
	s.mu.Unlock()

	sw := &statusWriter{ResponseWriter: w, s: s, idx: idx, gen: gen}
	if ok {
		s.mux.ServeHTTP(sw, r)
	} else {
		writeUnauthorized(sw)
	}
	if !sw.wrote {
		sw.WriteHeader(http.StatusOK)
	}
}

// identifierEmail is the email a contact identifier names, lower-cased and
// trimmed, or "" when it names a contact id.
func identifierEmail(ident, identifierType string) string {
	switch identifierType {
	case "email_id":
		return normalizeEmail(ident)
	case "":
		if _, err := strconv.ParseInt(ident, 10, 64); err != nil {
			return normalizeEmail(ident)
		}
	}
	return ""
}

// statusWriter records the status of a logged request as it is written,
// before the client can see it.
type statusWriter struct {
	http.ResponseWriter
	s        *Server
	idx, gen int
	wrote    bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		w.s.mu.Lock()
		w.s.setStatusLocked(w.idx, w.gen, code)
		w.s.mu.Unlock()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}
