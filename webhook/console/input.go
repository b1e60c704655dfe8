package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/brevosync/brevosync/syncer/operator"
)

// inputError is bad input: 400 (or 413 when too large), naming the field.
type inputError struct {
	code    int
	field   string
	msg     string
	invalid []operator.BadEntry
}

func (e *inputError) Error() string {
	if e.field == "" {
		return e.msg
	}
	return e.field + ": " + e.msg
}

func badField(field, format string, args ...any) *inputError {
	return &inputError{code: http.StatusBadRequest, field: field, msg: fmt.Sprintf(format, args...)}
}

// writeInputError answers an inputError.
func writeInputError(w http.ResponseWriter, e *inputError) {
	body := errorBody{Error: e.Error(), Field: e.field}
	if len(e.invalid) > 0 {
		first := e.invalid[0]
		body.Field = first.Where
		body.Error = fmt.Sprintf("%s: %s; nothing applied", first.Where, first.Reason)
		if len(e.invalid) > 1 {
			body.Error = fmt.Sprintf("%s: %s, and %d more invalid item(s); nothing applied", first.Where, first.Reason, len(e.invalid)-1)
		}
		body.InvalidCount = len(e.invalid)
		for _, b := range e.invalid[:min(len(e.invalid), maxInvalidShown)] {
			body.Invalid = append(body.Invalid, invalidItem{Field: b.Where, Value: b.Text, Reason: b.Reason})
		}
	}
	writeJSON(w, e.code, body)
}

// readObject reads the body as one JSON object whose members are among
// allowed. An empty body is an empty object.
func readObject(w http.ResponseWriter, r *http.Request, allowed ...string) (map[string]json.RawMessage, *inputError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, &inputError{code: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("body larger than %d bytes", MaxBodyBytes)}
		}
		return nil, badField("", "read body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]json.RawMessage{}, nil
	}
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, badField("", "the body must be one JSON object (%s)", jsonProblem(err))
	}
	if dec.More() {
		return nil, badField("", "the body must be one JSON object, with nothing after it")
	}
	for k := range obj {
		if !slices.Contains(allowed, k) {
			return nil, badField(k, "unknown field; this route takes %s", strings.Join(allowed, ", "))
		}
	}
	return obj, nil
}

func jsonProblem(err error) string {
	if err == nil {
		return "null"
	}
	return err.Error()
}

// stringList decodes obj[field] as an array of strings.
func stringList(obj map[string]json.RawMessage, field string) ([]string, bool, *inputError) {
	raw, ok := obj[field]
	if !ok {
		return nil, false, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || items == nil {
		return nil, true, badField(field, "must be an array of strings")
	}
	if len(items) > MaxEntries {
		return nil, true, badField(field, "at most %d items per request, not %d", MaxEntries, len(items))
	}
	out := make([]string, len(items))
	for i, it := range items {
		if err := json.Unmarshal(it, &out[i]); err != nil {
			return nil, true, badField(fmt.Sprintf("%s[%d]", field, i), "must be a string")
		}
	}
	return out, true, nil
}

// readEntries reads {"ids": […]} and/or {"emails": […]} and checks every
// item; the result has Bad entries named "ids[3]", "emails[0]".
func readEntries(w http.ResponseWriter, r *http.Request) (*operator.Entries, *inputError) {
	obj, ierr := readObject(w, r, "ids", "emails")
	if ierr != nil {
		return nil, ierr
	}
	ids, hasIDs, ierr := stringList(obj, "ids")
	if ierr != nil {
		return nil, ierr
	}
	emails, hasEmails, ierr := stringList(obj, "emails")
	if ierr != nil {
		return nil, ierr
	}
	switch {
	case !hasIDs && !hasEmails:
		return nil, badField("ids", `give {"ids": [...]} or {"emails": [...]}`)
	case len(ids)+len(emails) == 0:
		return nil, badField(cond(hasIDs, "ids", "emails"), "is empty: name at least one contact")
	case len(ids)+len(emails) > MaxEntries:
		return nil, badField("emails", "at most %d ids and emails per request", MaxEntries)
	}
	in := operator.NewEntries()
	for i, s := range ids {
		in.AddID(s, fmt.Sprintf("ids[%d]", i))
	}
	for i, s := range emails {
		in.AddEmail(s, fmt.Sprintf("emails[%d]", i))
	}
	return in, nil
}

func cond[T any](c bool, a, b T) T {
	if c {
		return a
	}
	return b
}
