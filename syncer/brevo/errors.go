package brevo

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/brevosync/brevosync/syncer"
)

// defaultRateLimitReset is the wait assumed for a 429 without a usable
// x-sib-ratelimit-reset header.
const defaultRateLimitReset = time.Second

// APIError is a non-2xx answer from Brevo.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is Brevo's error code, e.g. "invalid_parameter"; empty when the
	// body had none.
	Code string
	// Message is Brevo's message, or the status text when the body had none.
	Message string
	// RateLimitReset is the x-sib-ratelimit-reset header: how long until the
	// rate-limit window resets. A 429 without the header gets 1s.
	RateLimitReset time.Duration
	// RequestID is the sib-request-id header, for Brevo support; may be empty.
	RequestID string
	// DuplicateIdentifiers is metadata.duplicate_identifiers of a refusal
	// because another contact holds an identifier (e.g. ["SMS"]).
	DuplicateIdentifiers []string
}

// DuplicateSMS reports Brevo's refusal of a contact whose SMS number
// another contact already holds. The code of this refusal has changed over
// time (duplicate_parameter, invalid_parameter), so it is recognised by the
// metadata or by the message.
func (e *APIError) DuplicateSMS() bool {
	if e.StatusCode != http.StatusBadRequest {
		return false
	}
	for _, id := range e.DuplicateIdentifiers {
		if strings.EqualFold(id, "SMS") {
			return true
		}
	}
	return strings.Contains(e.Message, "SMS is already associated with another Contact")
}

// newAPIError builds the error for a non-2xx response with the (capped) body b.
func newAPIError(resp *http.Response, b []byte) *APIError {
	e := &APIError{
		StatusCode: resp.StatusCode,
		RequestID:  resp.Header.Get("sib-request-id"),
	}
	var body struct {
		Code     any `json:"code"`
		Message  any `json:"message"`
		Metadata struct {
			DuplicateIdentifiers []string `json:"duplicate_identifiers"`
		} `json:"metadata"`
	}
	if json.Unmarshal(b, &body) == nil {
		e.Code = jsonText(body.Code)
		e.Message = jsonText(body.Message)
		e.DuplicateIdentifiers = body.Metadata.DuplicateIdentifiers
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if d, ok := headerSeconds(resp.Header, "x-sib-ratelimit-reset"); ok {
		e.RateLimitReset = d
	}
	if resp.StatusCode == http.StatusTooManyRequests && e.RateLimitReset <= 0 {
		e.RateLimitReset = defaultRateLimitReset
	}
	return e
}

// jsonText renders a decoded JSON scalar; codes are strings, but be lenient.
func jsonText(v any) string {
	switch v := v.(type) {
	case string:
		return strings.TrimSpace(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// Error returns e.g. "brevo: 400 invalid_parameter: Invalid email address",
// or "brevo: 502 Bad Gateway" when Brevo gave no code.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("brevo: ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
		b.WriteString(":")
	}
	if e.Message != "" {
		b.WriteString(" ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Classify tells what err, returned by a [Client] method, means for the
// contact it was about, in the syncer's kinds:
//
//	Retryable     5xx, 408, 425, transport errors, timeouts, malformed answers
//	Rejected      other 4xx (invalid email or phone, duplicate identifier, ...)
//	RateLimited   429
//	Unauthorized  401, 402, 403: the key or the account
//
// Any error that is not an [*APIError] (transport errors, timeouts,
// malformed answers, context cancellation) is Retryable; so is a nil err,
// which callers should not pass.
func Classify(err error) syncer.ErrorKind {
	var e *APIError
	if !errors.As(err, &e) {
		return syncer.Retryable
	}
	switch s := e.StatusCode; {
	case s == http.StatusTooManyRequests:
		return syncer.RateLimited
	case s == http.StatusUnauthorized, s == http.StatusPaymentRequired, s == http.StatusForbidden:
		return syncer.Unauthorized
	case s == http.StatusRequestTimeout, s == http.StatusTooEarly:
		return syncer.Retryable
	case s >= 400 && s <= 499:
		return syncer.Rejected
	}
	// 5xx, and 1xx/3xx answers that should never reach us.
	return syncer.Retryable
}

// crmError sorts err for the syncer: its kind, the rate-limit wait, the
// status, and the text a row shows (Brevo's status, code and message, or
// what went wrong on the way).
func crmError(err error) error {
	e := &syncer.Error{Kind: Classify(err), Err: err, Text: strings.TrimPrefix(err.Error(), "brevo: ")}
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		e.Status, e.Wait = apiErr.StatusCode, apiErr.RateLimitReset
	}
	if e.Kind == syncer.Unauthorized {
		e.Text += " (check BREVO_API_KEY)"
	}
	return e
}
