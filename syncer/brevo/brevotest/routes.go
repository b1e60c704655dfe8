package brevotest

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// routeUpdate is the contact update's route pattern.
const routeUpdate = "PUT /v3/contacts/{identifier}"

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
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
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
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	r.Body = io.NopCloser(bytes.NewReader(body))
	req := Request{At: time.Now(), Method: r.Method, Path: r.URL.Path, Header: r.Header, Body: body}
	if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v3/contacts/") {
		req.Email = identifierEmail(strings.TrimPrefix(r.URL.Path, "/v3/contacts/"), r.URL.Query().Get("identifierType"))
	}
	s.mu.Lock()
	idx, gen := s.logLocked(req)
	s.stats.Requests++
	ok := s.authorizedLocked(r.Header.Get("api-key"))
	s.mu.Unlock()

	sw := &statusWriter{ResponseWriter: w, s: s, idx: idx, gen: gen}
	if _, pattern := s.mux.Handler(r); pattern == "/" || ok {
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
