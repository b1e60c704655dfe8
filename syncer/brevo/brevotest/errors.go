package brevotest

import (
	"encoding/json"
	"net/http"
)

// writeError answers a Brevo-style error body.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(apiError{Code: code, Message: message})
	_, _ = w.Write(b)
}

// writeDuplicate answers 400 duplicate_parameter with
// metadata.duplicate_identifiers [identifier], as Brevo's contact endpoints
// do when an identifier (email or SMS) belongs to another contact.
func writeDuplicate(w http.ResponseWriter, message, identifier string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	b, _ := json.Marshal(apiError{
		Code: "duplicate_parameter", Message: message,
		Metadata: &errorMetadata{DuplicateIdentifiers: []string{identifier}},
	})
	_, _ = w.Write(b)
}

// apiError is Brevo's error body; Metadata is the contactErrorModel's
// optional addition.
type apiError struct {
	Code     string         `json:"code"`
	Message  string         `json:"message"`
	Metadata *errorMetadata `json:"metadata,omitempty"`
}

// errorMetadata is the metadata of a contactErrorModel.
type errorMetadata struct {
	DuplicateIdentifiers []string `json:"duplicate_identifiers,omitempty"`
}

func writeUnauthorized(w http.ResponseWriter) {
	writeError(w, http.StatusUnauthorized, "unauthorized", "Key not found")
}

// errorCode is the Brevo error code the simulator uses for a status.
func errorCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusPaymentRequired:
		return "not_enough_credits"
	case http.StatusForbidden:
		return "permission_denied"
	case http.StatusNotFound:
		return "document_not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusConflict:
		return "duplicate_request"
	case http.StatusUnprocessableEntity:
		return "unprocessable_entity"
	case http.StatusTooManyRequests:
		return "too_many_requests"
	}
	if status >= 500 {
		return "internal_error"
	}
	return "bad_request"
}
