package webhook

import (
	"context"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/brevosync/brevosync/syncer"
)

// importNotifyRoute is where Brevo calls an import's notifyUrl, which the
// syncer builds as BREVO_SYNC_PUBLIC_URL + syncer.ImportNotifyPath +
// "{job}/{secret}". Brevo POSTs an empty body and cannot authenticate
// itself, so the per-job secret in the path is the only credential: it is
// compared in constant time (syncer.ImportNotified) and never logged (the
// access log shows the path without it, see loggedPath).
const importNotifyRoute = syncer.ImportNotifyPath + "{job}/{secret}"

// importDone is POST importNotifyRoute: 204 when the job and its secret
// match (the syncer reads the import's process at once), 404 otherwise,
// whether the job is unknown or the secret wrong.
func (h *handler) importDone(w http.ResponseWriter, r *http.Request) {
	if h.pool == nil {
		h.fail(w, r, errNotConfigured)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	ok, err := syncer.ImportNotified(ctx, h.pool, chi.URLParam(r, "job"), chi.URLParam(r, "secret"))
	switch {
	case err != nil:
		h.fail(w, r, err) // 429: Brevo may call again
	case !ok:
		h.notFound(w, r)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// loggedPath is the request's path as logs show it: an import
// notification's secret is replaced by "…".
func loggedPath(r *http.Request) string {
	p := r.URL.Path
	rest, ok := strings.CutPrefix(p, syncer.ImportNotifyPath)
	if !ok {
		return p
	}
	job, _, hasSecret := strings.Cut(rest, "/")
	if !hasSecret {
		return p
	}
	return syncer.ImportNotifyPath + job + "/…"
}
