package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/brevosync/brevosync/syncer/operator"
)

// statusAnswer is GET /api/v1/status: the `status --json` object with one
// more member, "live".
type statusAnswer struct {
	*operator.Report
	Live *Live `json:"live"`
}

func (c *console) getStatus(w http.ResponseWriter, r *http.Request) {
	rep, err := c.status.get(r.Context())
	if err != nil {
		c.fail(w, r, "read the status report", err)
		return
	}
	ans := statusAnswer{Report: rep}
	if c.live != nil {
		l := c.live()
		ans.Live = &l
	}
	writeJSON(w, http.StatusOK, ans)
}

func (c *console) postSelect(w http.ResponseWriter, r *http.Request) {
	in, ierr := readEntries(w, r)
	if ierr != nil {
		writeInputError(w, ierr)
		return
	}
	res, err := operator.Select(r.Context(), c.pool, in, operator.SelectOptions{})
	if c.failWrite(w, r, "select contacts", err) {
		return
	}
	c.status.invalidate()
	c.logger.LogAttrs(r.Context(), slog.LevelInfo, "operator selected contacts",
		slog.Int("entries", res.Entries), slog.Int("selected", res.Selected),
		slog.Int("already_waiting", res.AlreadyWaiting), slog.Int("unknown", len(res.NotFound)))
	writeJSON(w, http.StatusOK, map[string]any{
		"selected": res.Selected, "already_waiting": res.AlreadyWaiting, "unknown": nonNil(res.NotFound)})
}

func (c *console) postUnselect(w http.ResponseWriter, r *http.Request) {
	in, ierr := readEntries(w, r)
	if ierr != nil {
		writeInputError(w, ierr)
		return
	}
	res, err := operator.Unselect(r.Context(), c.pool, in, 0)
	if c.failWrite(w, r, "unselect contacts", err) {
		return
	}
	c.status.invalidate()
	c.logger.LogAttrs(r.Context(), slog.LevelInfo, "operator unselected contacts",
		slog.Int("entries", len(in.List)), slog.Int("unselected", res.Unselected),
		slog.Int("already_new", res.AlreadyNew), slog.Int("unknown", len(res.NotFound)))
	writeJSON(w, http.StatusOK, map[string]any{"unselected": res.Unselected, "unknown": nonNil(res.NotFound)})
}

func (c *console) postRetry(w http.ResponseWriter, r *http.Request) {
	obj, ierr := readObject(w, r, "ids", "all")
	if ierr != nil {
		writeInputError(w, ierr)
		return
	}
	var all bool
	if raw, ok := obj["all"]; ok {
		if err := json.Unmarshal(raw, &all); err != nil {
			writeInputError(w, badField("all", "must be true or false"))
			return
		}
	}
	ids, hasIDs, ierr := stringList(obj, "ids")
	if ierr != nil {
		writeInputError(w, ierr)
		return
	}
	switch {
	case all && hasIDs:
		writeInputError(w, badField("all", `give either {"all": true} or {"ids": [...]}, not both`))
		return
	case !all && !hasIDs:
		writeInputError(w, badField("ids", `say which contacts to retry: {"ids": [...]} or {"all": true}`))
		return
	case !all && len(ids) == 0:
		writeInputError(w, badField("ids", "is empty: name at least one contact"))
		return
	}
	var retried int64
	if all {
		n, err := operator.RetryAll(r.Context(), c.pool, false)
		if c.failWrite(w, r, "retry every Failed contact", err) {
			return
		}
		retried = n
	} else {
		in := operator.NewEntries()
		for i, s := range ids {
			in.AddID(s, fmt.Sprintf("ids[%d]", i))
		}
		if len(in.Bad) > 0 {
			writeInputError(w, &inputError{code: http.StatusBadRequest, invalid: in.Bad})
			return
		}
		list := make([]string, len(in.List))
		for i, e := range in.List {
			list[i] = e.Value
		}
		res, err := operator.RetryIDs(r.Context(), c.pool, list, false)
		if c.failWrite(w, r, "retry contacts", err) {
			return
		}
		retried = int64(res.Retried)
	}
	c.status.invalidate()
	c.logger.LogAttrs(r.Context(), slog.LevelInfo, "operator retried contacts",
		slog.Bool("all", all), slog.Int("ids", len(ids)), slog.Int64("retried", retried))
	writeJSON(w, http.StatusOK, map[string]int64{"retried": retried})
}

func (c *console) getFailures(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := operator.DefaultFailuresLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > operator.MaxFailuresLimit {
			writeInputError(w, badField("limit", "must be a whole number from 1 to %d", operator.MaxFailuresLimit))
			return
		}
		limit = n
	}
	res, err := operator.Failures(r.Context(), c.pool, q.Get("cause"), limit)
	if err != nil {
		c.fail(w, r, "list Failed contacts", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// contactAnswer is GET /api/v1/contacts/{id}.
type contactAnswer struct {
	operator.ContactState
	Events      any    `json:"events"`
	EventsError string `json:"events_error,omitempty"`
}

func (c *console) getContact(w http.ResponseWriter, r *http.Request) {
	id, ok := operator.ParseID(chi.URLParam(r, "id"))
	if !ok {
		writeInputError(w, badField("id", "is not a contact id (a uuid like 4b3f0c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f)"))
		return
	}
	st, err := operator.Contact(r.Context(), c.pool, id)
	if errors.Is(err, operator.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "no contact has the id " + id, Field: "id"})
		return
	}
	if err != nil {
		c.fail(w, r, "read contact", err)
		return
	}
	ans := contactAnswer{ContactState: st}
	if c.events != nil {
		events, err := c.events(r.Context(), st.Email, 0)
		if err != nil {
			c.logger.LogAttrs(r.Context(), slog.LevelWarn, "could not read a contact's webhook events",
				slog.String("contact_id", id), slog.Any("err", err))
			ans.EventsError = "could not read the webhook events (details in the service log)"
		} else {
			ans.Events = events
		}
	}
	writeJSON(w, http.StatusOK, ans)
}

func (c *console) postCredentialsTest(w http.ResponseWriter, r *http.Request) {
	if _, ierr := readObject(w, r); ierr != nil {
		writeInputError(w, ierr)
		return
	}
	ans := struct {
		OK      bool   `json:"ok"`
		Account string `json:"account"`
		Error   string `json:"error"`
	}{}
	if c.probe == nil {
		ans.Error = "this process has no CRM client to test"
		writeJSON(w, http.StatusOK, ans)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
	defer cancel()
	account, err := c.probe(ctx)
	ans.OK, ans.Account = err == nil, account
	if err != nil {
		ans.Error = err.Error()
	}
	c.logger.LogAttrs(r.Context(), slog.LevelInfo, "operator tested the CRM credentials", slog.Bool("ok", ans.OK))
	writeJSON(w, http.StatusOK, ans)
}

func (c *console) getConfig(w http.ResponseWriter, _ *http.Request) {
	var v any = map[string]any{}
	if c.settings != nil {
		v = c.settings()
	}
	writeJSON(w, http.StatusOK, v)
}

// failWrite answers the error of a write, if any, and reports whether it
// did: bad entries are 400 listing each, anything else 500. Either way
// nothing was applied (the operations are all or nothing).
func (c *console) failWrite(w http.ResponseWriter, r *http.Request, what string, err error) bool {
	if err == nil {
		return false
	}
	if inv, ok := errors.AsType[*operator.InvalidError](err); ok {
		writeInputError(w, &inputError{code: http.StatusBadRequest, invalid: inv.Bad})
		return true
	}
	c.fail(w, r, what+" (nothing applied)", err)
	return true
}

// fail answers 500 with what was being done, and logs the error; the
// answer says no more than that (the log has the details).
func (c *console) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	if r.Context().Err() != nil {
		c.logger.LogAttrs(r.Context(), slog.LevelDebug, "console request cancelled", slog.String("doing", what))
		return
	}
	// Warn, not Error: the operator who asked sees it at once.
	c.logger.LogAttrs(r.Context(), slog.LevelWarn, "console could not "+what, slog.Any("err", err),
		slog.String("path", r.URL.Path))
	writeJSON(w, http.StatusInternalServerError, errorBody{Error: "could not " + what + ": database error (details in the service log)"})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
