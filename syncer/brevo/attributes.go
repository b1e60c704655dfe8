package brevo

import "fmt"

// Attribute reconciliation: what the account has against what the mapping
// sends (MappedAttributes).

// MappedType is the type the mapping needs for the attribute name, or ""
// when the mapping does not send it.
func MappedType(name string) string {
	for _, m := range MappedAttributes {
		if m.Name == name {
			return m.Type
		}
	}
	return ""
}

// Mismatch says how an existing mapped attribute differs from what the
// mapping sends; "" when it fits (or the mapping does not send it).
func Mismatch(a Attribute) string {
	want := MappedType(a.Name)
	if want == "" || (a.Category == "normal" && a.Type == want) {
		return ""
	}
	if a.Category != "normal" {
		return fmt.Sprintf("is a %q attribute; the mapping sends a %s value", a.Category, want)
	}
	return fmt.Sprintf("has type %s; the mapping sends %s", a.Type, want)
}

// Missing lists the mapped attributes absent from attrs, in mapping order.
func Missing(attrs []Attribute) []string {
	have := make(map[string]bool, len(attrs))
	for _, a := range attrs {
		have[a.Name] = true
	}
	var missing []string
	for _, m := range MappedAttributes {
		if !have[m.Name] {
			missing = append(missing, m.Name)
		}
	}
	return missing
}
