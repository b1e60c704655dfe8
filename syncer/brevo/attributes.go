package brevo

import (
	"fmt"
	"strings"
)

// Attribute reconciliation: what the account has against what the mapping
// sends (MappedAttributes), and what ToContact does about a difference.

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
// mapping sends, and how its values are sent then; "" when it fits (or the
// mapping does not send it).
func Mismatch(a Attribute) string {
	want := MappedType(a.Name)
	if want == "" {
		return ""
	}
	switch {
	case a.Category == "category" || len(a.Enumeration) > 0:
		labels := make([]string, len(a.Enumeration))
		for i, e := range a.Enumeration {
			labels[i] = e.Label
		}
		return fmt.Sprintf("is a category (labels: %s): a value is sent as the category whose label it is; "+
			"values without a label are left out", strings.Join(labels, ", "))
	case a.Category != "normal":
		return fmt.Sprintf("is a %q attribute, which contacts cannot write: left out", a.Category)
	case a.Type == want:
		return ""
	case want == "boolean" && a.Type == "text":
		return `is text: sent as "true" or "false"`
	case a.Type == "boolean":
		return "is boolean: a value is sent only when it reads as true/false, yes/no or 1/0"
	case a.Type == "float":
		return "is float: a value is sent only when it is a number"
	case a.Type == "date":
		return "is a date: a value is sent only when it is YYYY-MM-DD"
	case a.Type == "multiple-choice":
		return "is multiple-choice: a value is sent as a one-option list"
	case a.Type == "text":
		return fmt.Sprintf("is text: the %s value is sent as text", want)
	}
	return fmt.Sprintf("has type %s, which brevosync cannot write: left out", a.Type)
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

// Mismatches lists, for every mapped attribute of attrs that differs from
// the mapping, "NAME is …" with what brevosync does about it.
func Mismatches(attrs []Attribute) []string {
	var out []string
	for _, a := range attrs {
		if m := Mismatch(a); m != "" {
			out = append(out, a.Name+" "+m)
		}
	}
	return out
}

// typesOf indexes attrs by name.
func typesOf(attrs []Attribute) map[string]Attribute {
	m := make(map[string]Attribute, len(attrs))
	for _, a := range attrs {
		m[a.Name] = a
	}
	return m
}
