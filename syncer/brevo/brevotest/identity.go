package brevotest

import (
	"strconv"
	"strings"
)

// validEmail is a plausibility check: one @, non-empty local part, a domain
// with an inner dot, no whitespace.
func validEmail(email string) bool {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return false
	}
	if strings.ContainsAny(email, " \t\r\n") {
		return false
	}
	dot := strings.IndexByte(domain, '.')
	return dot > 0 && !strings.HasSuffix(domain, ".")
}

// validSMS reports whether attributes carry no SMS, or a plausible one: after
// one optional leading +, 6 to 17 digits. Numbers are accepted as digits.
func validSMS(attrs map[string]any) bool {
	v, ok := attrs["SMS"]
	if !ok || v == nil {
		return true
	}
	var s string
	switch v := v.(type) {
	case string:
		s = strings.TrimPrefix(v, "+")
	case float64:
		if v < 0 || v != float64(int64(v)) {
			return false
		}
		s = strconv.FormatInt(int64(v), 10)
	default:
		return false
	}
	if len(s) < 6 || len(s) > 17 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
