package brevotest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// put sends PUT /contacts/{ident} with the test key.
func put(t *testing.T, s *brevotest.Server, ident, body string) reply {
	t.Helper()
	return call(t, s, http.MethodPut, "/contacts/"+ident, testKey, body)
}

// wantDuplicate checks r is 400 duplicate_parameter with message and
// metadata.duplicate_identifiers [identifier].
func wantDuplicate(t *testing.T, r reply, message, identifier string) {
	t.Helper()
	var e struct {
		Code, Message string
		Metadata      struct {
			DuplicateIdentifiers []string `json:"duplicate_identifiers"`
		}
	}
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || r.status != 400 {
		t.Fatalf("answer = %d %s, want 400 duplicate_parameter", r.status, r.body)
	}
	if e.Code != "duplicate_parameter" || e.Message != message || len(e.Metadata.DuplicateIdentifiers) != 1 ||
		e.Metadata.DuplicateIdentifiers[0] != identifier {
		t.Errorf("error body = %s, want duplicate_parameter %q with duplicate_identifiers [%s]", r.body, message, identifier)
	}
}

func TestUpdateContact(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	upsert(t, s, `{"email":"ann@example.com","attributes":{"FIRSTNAME":"Ann","LASTNAME":"Lee"},"listIds":[1,2],"updateEnabled":true}`)
	upsert(t, s, `{"email":"bob@example.com","updateEnabled":true}`)

	r := put(t, s, url.PathEscape("Ann@Example.com"), `{"attributes":{"FIRSTNAME":"Anna"},"listIds":[3],"unlinkListIds":[1]}`)
	if r.status != 204 || r.body != "" {
		t.Fatalf("PUT = %d %q, want 204 with no body", r.status, r.body)
	}
	if r := put(t, s, "2", `{"attributes":{"LASTNAME":"Ray"},"smsBlacklisted":true}`); r.status != 204 {
		t.Fatalf("PUT by id = %d %s, want 204", r.status, r.body)
	}
	if r := put(t, s, "ann@example.com?identifierType=email_id", `{"attributes":{"LASTNAME":"Lee-Smith"}}`); r.status != 204 {
		t.Fatalf("PUT with identifierType=email_id = %d %s, want 204", r.status, r.body)
	}
	if r := put(t, s, "2?identifierType=contact_id", `{"listIds":[9]}`); r.status != 204 {
		t.Fatalf("PUT with identifierType=contact_id = %d %s, want 204", r.status, r.body)
	}
	want := []brevotest.Contact{
		{ID: 1, Email: "ann@example.com", Upserts: 1, ListIDs: []int64{2, 3},
			Attributes: map[string]any{"FIRSTNAME": "Anna", "LASTNAME": "Lee-Smith"}},
		{ID: 2, Email: "bob@example.com", Upserts: 1, ListIDs: []int64{9}, SMSBlacklisted: true,
			Attributes: map[string]any{"LASTNAME": "Ray"}},
	}
	if diff := cmp.Diff(want, s.Contacts()); diff != "" {
		t.Errorf("Contacts mismatch (-want +got):\n%s", diff)
	}

	wantError(t, put(t, s, "nobody@example.com", `{"attributes":{}}`), 404, "document_not_found")
	wantError(t, put(t, s, "99", `{"attributes":{}}`), 404, "document_not_found")
	wantError(t, put(t, s, "1?identifierType=email_id", `{}`), 404, "document_not_found")
	wantError(t, put(t, s, "ann@example.com?identifierType=contact_id", `{}`), 404, "document_not_found")
	wantError(t, put(t, s, "1?identifierType=ext_id", `{}`), 400, "invalid_parameter")
	wantError(t, put(t, s, "1?identifierType=bogus", `{}`), 400, "invalid_parameter")
	wantError(t, put(t, s, "1", `{`), 400, "bad_request")
	wantError(t, put(t, s, "1", `{"attributes":{"EMAIL":"not an email"}}`), 400, "invalid_parameter")
	wantError(t, put(t, s, "1", `{"attributes":{"SMS":"12"}}`), 400, "invalid_parameter")
}

func TestUpdateContactEmail(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	upsert(t, s, `{"email":"ann@example.com","updateEnabled":true}`)
	upsert(t, s, `{"email":"bob@example.com","updateEnabled":true}`)

	wantDuplicate(t, put(t, s, "ann@example.com", `{"attributes":{"EMAIL":"Bob@example.com"}}`),
		"Unable to update contact, email is already associated with another Contact", "email")
	if r := put(t, s, "ann@example.com", `{"attributes":{"EMAIL":"Ann.New@example.com","FIRSTNAME":"Ann"}}`); r.status != 204 {
		t.Fatalf("PUT changing the email = %d %s, want 204", r.status, r.body)
	}
	if _, ok := s.Contact("ann@example.com"); ok {
		t.Error("the old email still finds the contact")
	}
	c, ok := s.Contact("ann.new@example.com")
	if !ok || c.ID != 1 || c.Attributes["FIRSTNAME"] != "Ann" {
		t.Errorf("Contact(ann.new) = %+v, %v; want contact 1 with its new attributes", c, ok)
	}
	if _, has := c.Attributes["EMAIL"]; has {
		t.Error("attributes.EMAIL was kept as an attribute")
	}
	// Setting the email it already has is no change.
	if r := put(t, s, "1", `{"attributes":{"EMAIL":"ann.new@example.com"}}`); r.status != 204 {
		t.Errorf("PUT with the same email = %d %s, want 204", r.status, r.body)
	}
	if st := s.Stats(); st.Resubscribed != 0 {
		t.Errorf("Resubscribed = %d without any blocklisted contact, want 0", st.Resubscribed)
	}
}

func TestUpdateEmailResubscribes(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	for _, e := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		upsert(t, s, `{"email":"`+e+`","updateEnabled":true}`)
		if !s.SetBlacklisted(e, true) {
			t.Fatalf("SetBlacklisted(%s) found no contact", e)
		}
	}
	if s.SetBlacklisted("nobody@example.com", true) {
		t.Error("SetBlacklisted(nobody) reported a contact")
	}

	// An attribute change keeps the blocklisting; so does an email change
	// that sets emailBlacklisted.
	put(t, s, "a@example.com", `{"attributes":{"FIRSTNAME":"A"}}`)
	put(t, s, "b@example.com", `{"attributes":{"EMAIL":"b2@example.com"},"emailBlacklisted":true}`)
	if st := s.Stats(); st.Resubscribed != 0 {
		t.Fatalf("Resubscribed = %d, want 0", st.Resubscribed)
	}
	// Brevo: changing a blocklisted contact's email removes the blocklisting.
	put(t, s, "c@example.com", `{"attributes":{"EMAIL":"c2@example.com"}}`)
	if st := s.Stats(); st.Resubscribed != 1 {
		t.Errorf("Resubscribed = %d after an email change of a blocklisted contact, want 1", st.Resubscribed)
	}
	for email, want := range map[string]bool{"a@example.com": true, "b2@example.com": true, "c2@example.com": false} {
		if c, _ := s.Contact(email); c.EmailBlacklisted != want {
			t.Errorf("%s EmailBlacklisted = %v, want %v", email, c.EmailBlacklisted, want)
		}
	}
	// Unblocking explicitly counts too.
	put(t, s, "a@example.com", `{"emailBlacklisted":false}`)
	if st := s.Stats(); st.Resubscribed != 2 {
		t.Errorf("Resubscribed = %d after emailBlacklisted false, want 2", st.Resubscribed)
	}
}

func TestBlacklistFlags(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	upsert(t, s, `{"email":"a@example.com","updateEnabled":true}`)
	upsert(t, s, `{"email":"b@example.com","emailBlacklisted":true,"smsBlacklisted":true,"updateEnabled":true}`)
	s.SetBlacklisted("a@example.com", true)

	get := func(ident string) (email, sms bool) {
		t.Helper()
		r := call(t, s, http.MethodGet, "/contacts/"+ident, testKey, "")
		var got struct{ EmailBlacklisted, SMSBlacklisted bool }
		if err := json.Unmarshal([]byte(r.body), &got); err != nil || r.status != 200 {
			t.Fatalf("GET /contacts/%s = %d %s", ident, r.status, r.body)
		}
		return got.EmailBlacklisted, got.SMSBlacklisted
	}
	if e, m := get("a@example.com"); !e || m {
		t.Errorf("a: emailBlacklisted %v, smsBlacklisted %v; want true, false (SetBlacklisted)", e, m)
	}
	if e, m := get("b@example.com?identifierType=email_id"); !e || !m {
		t.Errorf("b: emailBlacklisted %v, smsBlacklisted %v; want both set by the upsert", e, m)
	}
	// An upsert carrying emailBlacklisted false unblocks, as the SDK's
	// non-omitempty field would.
	upsert(t, s, `{"email":"a@example.com","emailBlacklisted":false,"updateEnabled":true}`)
	if e, _ := get("1"); e {
		t.Error("a is still blocklisted after an upsert with emailBlacklisted false")
	}
	st := s.Stats()
	if st.UpsertsWithBlacklistFlags != 2 || st.Resubscribed != 1 {
		t.Errorf("Stats = %+v, want 2 upserts with blacklist flags, 1 resubscribed", st)
	}
	wantError(t, call(t, s, http.MethodGet, "/contacts/1?identifierType=phone_id", testKey, ""), 400, "invalid_parameter")
}

func TestUniqueSMS(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	if r := upsert(t, s, `{"email":"a@example.com","attributes":{"SMS":"+33612345678"},"updateEnabled":true}`); r.status != 201 {
		t.Fatalf("first upsert = %d %s", r.status, r.body)
	}
	const create = "Unable to create contact, SMS is already associated with another Contact"
	const update = "Unable to update contact, SMS is already associated with another Contact"
	for _, sms := range []string{`"+33612345678"`, `"33612345678"`, `"0033612345678"`, `33612345678`} {
		wantDuplicate(t, upsert(t, s, `{"email":"b@example.com","attributes":{"SMS":`+sms+`},"updateEnabled":true}`), create, "SMS")
	}
	if _, ok := s.Contact("b@example.com"); ok {
		t.Fatal("a refused upsert created its contact")
	}
	upsert(t, s, `{"email":"b@example.com","attributes":{"SMS":"+33600000000"},"updateEnabled":true}`)
	wantDuplicate(t, upsert(t, s, `{"email":"b@example.com","attributes":{"SMS":"0033612345678"},"updateEnabled":true}`), update, "SMS")
	wantDuplicate(t, put(t, s, "b@example.com", `{"attributes":{"SMS":"+33612345678"}}`), update, "SMS")
	// A contact may keep its own number.
	if r := upsert(t, s, `{"email":"a@example.com","attributes":{"SMS":"0033612345678"},"updateEnabled":true}`); r.status != 204 {
		t.Errorf("upsert of a with its own number = %d %s, want 204", r.status, r.body)
	}
	// Once a gives the number up, b may take it.
	put(t, s, "a@example.com", `{"attributes":{"SMS":"+33611111111"}}`)
	if r := put(t, s, "b@example.com", `{"attributes":{"SMS":"+33612345678"}}`); r.status != 204 {
		t.Errorf("PUT of a released number = %d %s, want 204", r.status, r.body)
	}
	upsert(t, s, `{"email":"a@example.com","attributes":{"SMS":null},"updateEnabled":true}`)
	if r := upsert(t, s, `{"email":"c@example.com","attributes":{"SMS":"+33611111111"},"updateEnabled":true}`); r.status != 201 {
		t.Errorf("upsert of a number cleared with null = %d %s, want 201", r.status, r.body)
	}
}

func TestUpdateLogged(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	upsert(t, s, `{"email":"a@example.com","updateEnabled":true}`)
	put(t, s, url.PathEscape(" A@Example.com"), `{}`)
	put(t, s, "1", `{}`)
	put(t, s, "nobody@example.com", `{}`)
	type entry struct {
		Method, Path, Email string
		Status              int
	}
	var got []entry
	for _, r := range s.Requests() {
		got = append(got, entry{r.Method, r.Path, r.Email, r.Status})
	}
	want := []entry{
		{"POST", "/v3/contacts", "a@example.com", 201},
		{"PUT", "/v3/contacts/ A@Example.com", "a@example.com", 204},
		{"PUT", "/v3/contacts/1", "", 204},
		{"PUT", "/v3/contacts/nobody@example.com", "nobody@example.com", 404},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Requests mismatch (-want +got):\n%s", diff)
	}
	if n := s.Stats().ByRoute["PUT /v3/contacts/{identifier}"]; n != 3 {
		t.Errorf("ByRoute[PUT] = %d, want 3", n)
	}
}
