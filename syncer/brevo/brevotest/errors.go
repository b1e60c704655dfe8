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

// apiError is Brevo's error body.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
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
