package webhook

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// authorize accepts the token as "Authorization: Bearer <token>" (Brevo's
// auth option) or as the password of HTTP Basic auth with any user name
// (credentials in the webhook URL). Both sides are hashed first, so the
// constant-time comparison does not reveal the token's length either.
//
// The errors it returns are logged, so they never hold any part of the
// header beyond a scheme from knownSchemes: a header without a space is
// all credential, and an unknown scheme may be a token. They give lengths
// instead.
func (h *handler) authorize(r *http.Request) error {
	header := r.Header.Get("Authorization")
	if header == "" {
		return fmt.Errorf("%w: no credentials", errUnauthorized)
	}
	scheme, rest, found := strings.Cut(header, " ")
	name, known := knownScheme(scheme)
	var given string
	switch {
	case !found && known:
		return fmt.Errorf("%w: %s scheme without credentials", errUnauthorized, name)
	case !found:
		return fmt.Errorf("%w: no scheme (a %d-byte header without a space)", errUnauthorized, len(header))
	case name == "Bearer":
		given = strings.TrimSpace(rest)
		if given == "" {
			return fmt.Errorf("%w: empty bearer token", errUnauthorized)
		}
	case name == "Basic":
		_, pw, ok := r.BasicAuth()
		if !ok {
			return fmt.Errorf("%w: malformed basic credentials (%d bytes)", errUnauthorized, len(rest))
		}
		if pw == "" {
			return fmt.Errorf("%w: basic credentials without a password", errUnauthorized)
		}
		given = pw
	case known:
		return fmt.Errorf("%w: unsupported scheme %s", errUnauthorized, name)
	default:
		return fmt.Errorf("%w: unknown scheme (%d bytes, %d bytes of credentials)", errUnauthorized, len(scheme), len(rest))
	}
	sum := sha256.Sum256([]byte(given))
	if subtle.ConstantTimeCompare(sum[:], h.token[:]) != 1 {
		return fmt.Errorf("%w: wrong %s credentials (%d bytes)", errUnauthorized, strings.ToLower(name), len(given))
	}
	return nil
}

// knownSchemes are the authentication schemes an error may name: the IANA
// HTTP Authentication Scheme Registry and a few common non-standard ones.
var knownSchemes = []string{
	"Basic", "Bearer", "Digest", "DPoP", "HOBA", "Mutual", "Negotiate", "NTLM", "OAuth",
	"PrivateToken", "SCRAM-SHA-1", "SCRAM-SHA-256", "vapid", "AWS4-HMAC-SHA256", "Token", "ApiKey",
}

// knownScheme returns the canonical spelling of a known scheme, matched
// case-insensitively.
func knownScheme(s string) (string, bool) {
	for _, k := range knownSchemes {
		if strings.EqualFold(s, k) {
			return k, true
		}
	}
	return "", false
}

// checkSource enforces Config.AllowedCIDRs.
func (h *handler) checkSource(r *http.Request) error {
	if len(h.allowed) == 0 {
		return nil
	}
	addr, err := sourceAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), h.trusted)
	if err != nil {
		return fmt.Errorf("%w: %w", errForbidden, err)
	}
	if !contains(h.allowed, addr) {
		return fmt.Errorf("%w: %s", errForbidden, addr)
	}
	return nil
}

// sourceAddr returns the address a request came from. That is the direct
// peer, unless the peer is a trusted proxy: then it is the right-most
// X-Forwarded-For address that is not a trusted proxy (addresses to its
// left were written by the client and prove nothing). When every forwarded
// address is a trusted proxy it is the left-most one. An unparsable entry
// met before an untrusted address is an error: fail closed.
func sourceAddr(remoteAddr string, xff []string, trusted []netip.Prefix) (netip.Addr, error) {
	peer, err := parseAddr(remoteAddr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("peer address %q: %w", remoteAddr, err)
	}
	if !contains(trusted, peer) {
		return peer, nil
	}
	var hops []string
	for _, v := range xff {
		hops = append(hops, strings.Split(v, ",")...)
	}
	addr := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := parseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{}, fmt.Errorf("X-Forwarded-For entry %.50q: %w", hops[i], err)
		}
		addr = a
		if !contains(trusted, a) {
			break
		}
	}
	return addr, nil
}

// parseAddr parses "ip", "ip:port" or "[ipv6]:port", dropping any zone and
// unmapping IPv4-mapped IPv6 addresses.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(s)
		if err2 != nil {
			return netip.Addr{}, err
		}
		a = ap.Addr()
	}
	return a.WithZone("").Unmap(), nil
}

func contains(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
