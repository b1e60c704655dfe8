package brevotest

import (
	"bytes"
	"io"
	"net/http"
	"time"
)

// routes are the endpoints other than the upsert, which serveHTTP takes
// directly.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v3/account", s.handleAccount)
	mux.HandleFunc("GET /v3/contacts/attributes", s.handleAttributes)
	mux.HandleFunc("POST /v3/contacts/attributes/{category}/{name}", s.handleCreateAttribute)
	mux.HandleFunc("GET /v3/contacts/{identifier}", s.handleGetContact)
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
	s.mu.Lock()
	idx, gen := s.logLocked(Request{At: time.Now(), Method: r.Method, Path: r.URL.Path, Header: r.Header, Body: body})
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
