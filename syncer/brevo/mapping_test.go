package brevo

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/brevosync/brevosync/syncer"
)

func ptr[T any](v T) *T { return &v }

// TestToContactTakesTheAttributeTypes: each value goes in the form its
// attribute takes in the account (the application's own setup guide created
// HAS_GMAIL as text and EMAIL_TYPE as a category), or is left out where
// Brevo would drop it.
func TestToContactTakesTheAttributeTypes(t *testing.T) {
	t.Parallel()
	c := syncer.Contact{
		Email: " ÉLISE@Example.COM ", Name: ptr("Élise Dupont"), EmailType: ptr("CORPORATE"), HasGmail: ptr(true),
		DomainID: ptr("11111111-1111-1111-1111-111111111111"), SourceURL: ptr("https://example.com"), PhoneNumber: ptr("+33612345678"),
	}
	types := typesOf([]Attribute{
		{Name: "FIRSTNAME", Category: "normal", Type: "text"},
		{Name: "HAS_GMAIL", Category: "normal", Type: "text"},
		{Name: "EMAIL_TYPE", Category: "category", Type: "text", Enumeration: []EnumValue{
			{Value: 1, Label: "SERVICE"}, {Value: 2, Label: "Corporate"}, {Value: 3, Label: "FREE"}}},
		{Name: "DOMAIN_ID", Category: "calculated"},
		{Name: "SOURCE_URL", Category: "normal", Type: "float"},
	})
	got := ToContact(c, []int64{7}, types)
	want := Contact{
		Email: "Élise@example.com",
		Attributes: map[string]any{
			"FIRSTNAME": "Élise", "LASTNAME": "Dupont", "SMS": "+33612345678", // LASTNAME, SMS: not in the account, sent as they are
			"HAS_GMAIL": "true", "EMAIL_TYPE": 2,
		},
		ListIDs: []int64{7},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ToContact (-want +got):\n%s", diff)
	}

	// Without the account's types: the mapping's own form.
	got = ToContact(c, nil, nil)
	if got.Attributes["HAS_GMAIL"] != true || got.Attributes["EMAIL_TYPE"] != "CORPORATE" {
		t.Errorf("ToContact without types = %v", got.Attributes)
	}

	// A boolean attribute reads text; a category boolean matches yes/no.
	types = typesOf([]Attribute{
		{Name: "HAS_GMAIL", Category: "category", Enumeration: []EnumValue{{Value: 1, Label: "Yes"}, {Value: 2, Label: "No"}}},
		{Name: "EMAIL_TYPE", Category: "normal", Type: "boolean"},
	})
	c.HasGmail = ptr(false)
	got = ToContact(c, nil, types)
	if got.Attributes["HAS_GMAIL"] != 2 {
		t.Errorf("HAS_GMAIL false as a yes/no category = %v, want 2", got.Attributes["HAS_GMAIL"])
	}
	if _, ok := got.Attributes["EMAIL_TYPE"]; ok {
		t.Errorf("EMAIL_TYPE CORPORATE into a boolean attribute = %v, want it left out", got.Attributes["EMAIL_TYPE"])
	}
}

func TestMismatchSaysWhatIsSent(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		a    Attribute
		want string
	}{
		{Attribute{Name: "HAS_GMAIL", Category: "normal", Type: "boolean"}, ""},
		{Attribute{Name: "HAS_GMAIL", Category: "normal", Type: "text"}, `is text: sent as "true" or "false"`},
		{Attribute{Name: "EMAIL_TYPE", Category: "category", Enumeration: []EnumValue{{1, "SERVICE"}, {2, "FREE"}}},
			"is a category (labels: SERVICE, FREE): a value is sent as the category whose label it is; values without a label are left out"},
		{Attribute{Name: "DOMAIN_ID", Category: "calculated"}, `is a "calculated" attribute, which contacts cannot write: left out`},
		{Attribute{Name: "OTHER", Category: "normal", Type: "date"}, ""},
	} {
		if got := Mismatch(tt.a); got != tt.want {
			t.Errorf("Mismatch(%+v) = %q, want %q", tt.a, got, tt.want)
		}
	}
}
