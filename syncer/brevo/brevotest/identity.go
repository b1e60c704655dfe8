package brevotest

import (
	"maps"
	"strconv"
	"strings"
)

// setAttrsLocked merges attrs into c's attributes (later values win),
// keeping the SMS index current.
func (s *Server) setAttrsLocked(c *contact, attrs map[string]any) {
	if len(attrs) == 0 {
		return
	}
	old := smsKey(c.Attributes["SMS"])
	maps.Copy(c.Attributes, attrs)
	s.reindexSMSLocked(c, old)
}

// reindexSMSLocked moves c in the SMS index from key old to its current SMS.
func (s *Server) reindexSMSLocked(c *contact, old string) {
	now := smsKey(c.Attributes["SMS"])
	if now == old {
		return
	}
	if old != "" && s.bySMS[old] == c {
		delete(s.bySMS, old)
	}
	if now != "" {
		s.bySMS[now] = c
	}
}

// smsOwnerLocked returns the contact holding the SMS of attrs, or nil.
func (s *Server) smsOwnerLocked(attrs map[string]any) *contact {
	if k := smsKey(attrs["SMS"]); k != "" {
		return s.bySMS[k]
	}
	return nil
}

// smsKey is how SMS numbers are compared for uniqueness: the digits as a
// string, without a leading + and then a leading 00 ("+33…", "0033…" and
// "33…" are one number). "" for no number.
func smsKey(v any) string {
	var k string
	switch v := v.(type) {
	case string:
		k = strings.TrimSpace(v)
	case float64:
		if v != float64(int64(v)) {
			return ""
		}
		k = strconv.FormatInt(int64(v), 10)
	default:
		return ""
	}
	k = strings.TrimPrefix(k, "+")
	return strings.TrimPrefix(k, "00")
}

// setBlacklistLocked applies the blocklisting flags that are set, counting
// an email blocklisting removed as a resubscription.
func (s *Server) setBlacklistLocked(c *contact, email, sms *bool) {
	if email != nil {
		if c.EmailBlacklisted && !*email {
			s.stats.Resubscribed++
		}
		c.EmailBlacklisted = *email
	}
	if sms != nil {
		c.SMSBlacklisted = *sms
	}
}

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
