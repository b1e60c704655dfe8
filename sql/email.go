package schema

import "strings"

// emailSpace is what both normalizations trim from the ends of an email.
const emailSpace = " \t\r\n"

// EmailKey is the SQL form of the one email normalization brevosync matches
// by (contract §2: emails match case-insensitively): expr with spaces, tabs
// and line breaks trimmed from both ends and the ASCII letters A-Z lowered.
// It is computed in the "C" collation, so it gives the same key as
// [NormalizeEmail] whatever the database's locale or collation provider;
// other letters (É, Ä, …) are left as they are, on both sides.
func EmailKey(expr string) string {
	return `lower(btrim(` + expr + `, E' \t\r\n') COLLATE "C")`
}

// NormalizeEmail is [EmailKey] in Go: trimmed, ASCII letters lowered.
func NormalizeEmail(email string) string {
	email = strings.Trim(email, emailSpace)
	for i := 0; i < len(email); i++ {
		if c := email[i]; 'A' <= c && c <= 'Z' {
			b := []byte(email)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return email
}
