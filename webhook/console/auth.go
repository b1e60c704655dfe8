package console

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
)

// authRealm is the realm of the Basic challenge: a browser shows its login
// dialog for it and then sends the credentials with every request of the
// page, the API's included.
const authRealm = `Basic realm="brevosync console", charset="UTF-8"`

// requireAuth lets through a request that carries the admin token as
// "Authorization: Bearer <token>" or as the password of HTTP Basic auth
// (any user name); anything else is 401 with a Basic challenge. Both sides
// are hashed before the constant-time comparison, so it reveals neither
// the token nor its length. The token is never read from a URL, and the
// reason logged for a refusal holds no part of the header.
func (c *console) requireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := c.authorize(r); err != nil {
			level := slog.LevelWarn
			if r.Header.Get("Authorization") == "" {
				level = slog.LevelDebug // a browser asks once without, then with the token
			}
			c.logger.LogAttrs(r.Context(), level, "console request refused",
				slog.String("path", r.URL.Path), slog.String("reason", err.Error()))
			w.Header().Set("WWW-Authenticate", authRealm)
			writeJSON(w, http.StatusUnauthorized, errorBody{
				Error: "unauthorized: give the admin token (BREVO_SYNC_ADMIN_TOKEN) as a bearer token or as the password of basic auth"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorize checks the credentials of r; its errors are safe to log.
func (c *console) authorize(r *http.Request) error {
	header := r.Header.Get("Authorization")
	scheme, rest, _ := strings.Cut(header, " ")
	var given string
	switch {
	case header == "":
		return errors.New("no credentials")
	case strings.EqualFold(scheme, "Bearer"):
		given = strings.TrimSpace(rest)
	case strings.EqualFold(scheme, "Basic"):
		_, pw, ok := r.BasicAuth()
		if !ok {
			return errors.New("malformed basic credentials")
		}
		given = pw
	default:
		return errors.New("unsupported authorization scheme")
	}
	if given == "" {
		return errors.New("empty credentials")
	}
	sum := sha256.Sum256([]byte(given))
	if subtle.ConstantTimeCompare(sum[:], c.token[:]) != 1 {
		return errors.New("wrong token")
	}
	return nil
}
