package brevotest

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Route patterns, as counted in Stats.ByRoute.
const (
	routeUpsert    = "POST /v3/contacts"
	routeImport    = "POST /v3/contacts/import"
	routeUpdate    = "PUT /v3/contacts/{identifier}"
	routeProcess   = "GET /v3/processes/{id}"
	routeProcesses = "GET /v3/processes"
	routeReport    = "GET /reports/{id}/{file}"
	routeNotFound  = "/"
)

// maxImportBody is Brevo's cap on an import's body (fileBody or jsonBody:
// 10 MB), and maxDrain how much more of a refused body is read so the
// client gets its answer instead of a reset connection.
const (
	maxImportBody = 10 * 1024 * 1024
	maxDrain      = 64 << 20
)

// routeClass is how a route is admitted.
type routeClass int

const (
	classAPI       routeClass = iota // api-key, no rate limit
	classContacts                    // api-key, the /v3/contacts limit
	classProcesses                   // api-key, the /v3/processes limit
	classOpen                        // no api-key, no limit
)

// routes are the endpoints other than the upsert, which serveHTTP takes
// directly, with the class of each pattern.
func (s *Server) routes() (*http.ServeMux, map[string]routeClass) {
	mux := http.NewServeMux()
	class := map[string]routeClass{}
	handle := func(pattern string, c routeClass, h http.HandlerFunc) {
		mux.HandleFunc(pattern, h)
		class[pattern] = c
	}
	handle("GET /v3/account", classAPI, s.handleAccount)
	handle("GET /v3/contacts", classContacts, s.handleListContacts)
	handle("GET /v3/contacts/attributes", classContacts, s.handleAttributes)
	handle("POST /v3/contacts/attributes/{category}/{name}", classContacts, s.handleCreateAttribute)
	handle("GET /v3/contacts/{identifier}", classContacts, s.handleGetContact)
	handle(routeUpdate, classContacts, s.handleUpdateContact)
	handle("POST /v3/contacts/lists/{listId}/contacts/add", classContacts, s.handleListAdd)
	handle("POST /v3/contacts/lists/{listId}/contacts/remove", classContacts, s.handleListRemove)
	handle(routeImport, classContacts, s.handleImport)
	handle(routeProcesses, classProcesses, s.handleProcesses)
	handle(routeProcess, classProcesses, s.handleProcess)
	handle(routeReport, classOpen, s.handleReport) // like a signed link
	handle(routeNotFound, classOpen, func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "document_not_found", "Route not found")
	})
	return mux, class
}

// serveHTTP logs every request, checks the key and the rate limits, and
// dispatches.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == "/v3/contacts" {
		s.handleUpsert(w, r)
		return
	}
	_, pattern := s.mux.Handler(r)
	class := s.class[pattern]
	limit := int64(maxBody)
	if pattern == routeImport {
		limit = maxImportBody + 1
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, limit))
	if len(body) > maxImportBody {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxDrain))
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	now := time.Now()
	req := Request{At: now, Method: r.Method, Path: r.URL.Path, Header: r.Header, Body: body}
	if pattern == routeUpdate {
		req.Email = identifierEmail(strings.TrimPrefix(r.URL.Path, "/v3/contacts/"), r.URL.Query().Get("identifierType"))
	}

	s.mu.Lock()
	idx, gen := s.logLocked(req)
	s.stats.Requests++
	if pattern != routeNotFound && pattern != "" {
		s.countRouteLocked(pattern)
	}
	ok := class == classOpen || s.authorizedLocked(r.Header.Get("api-key"))
	var (
		rl       rateHeaders
		admitted = true
		b        *bucket
	)
	switch class {
	case classContacts:
		b = &s.bucket
	case classProcesses:
		b = &s.procBucket
		s.stats.ProcessRequests++
	}
	if b != nil {
		if ok {
			rl, admitted = b.take(now)
		} else {
			rl = b.peek(now)
		}
	}
	if !admitted {
		s.stats.RateLimited++
	}
	s.mu.Unlock()

	if b != nil {
		rl.write(w.Header())
	}
	sw := &statusWriter{ResponseWriter: w, s: s, idx: idx, gen: gen}
	switch {
	case !ok:
		writeUnauthorized(sw)
	case !admitted:
		writeError(sw, http.StatusTooManyRequests, "too_many_requests", "The expected rate limit is exceeded.")
	default:
		s.mux.ServeHTTP(sw, r)
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
