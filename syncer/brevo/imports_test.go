package brevo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// contactsN returns n contacts, every third with a phone number, names
// and URLs of varied length so that rows differ in size.
func contactsN(n int) []syncer.Contact {
	out := make([]syncer.Contact, n)
	for i := range out {
		name := fmt.Sprintf("Person %s %d", strings.Repeat("x", i%17), i)
		url := fmt.Sprintf("https://example.com/%s/%d?q=<&>", strings.Repeat("p", i%31), i)
		gmail := i%2 == 0
		out[i] = syncer.Contact{ID: strconv.Itoa(i), Email: fmt.Sprintf(" Person%d@Example.com ", i),
			Name: &name, SourceURL: &url, HasGmail: &gmail}
		if i%3 == 0 {
			phone := fmt.Sprintf("+3361%07d", i)
			out[i].PhoneNumber = &phone
		}
	}
	return out
}

// importBodies returns the bodies of the imports the simulator received.
func importBodies(t *testing.T, s *brevotest.Server) [][]byte {
	t.Helper()
	var out [][]byte
	for _, r := range s.Requests() {
		if r.Method == http.MethodPost && r.Path == "/v3/contacts/import" {
			out = append(out, r.Body)
		}
	}
	return out
}

func TestImportBodyFitsTheLimitExactly(t *testing.T) {
	t.Parallel()
	s, c := newSim(t, brevotest.Config{})
	crm := brevo.NewCRM(c, []int64{4, 7})
	const limit = 20_000
	crm.SetMaxImportBytes(limit)
	contacts := contactsN(500)
	notify := "https://sync.example.com/webhooks/brevo/imports/1/secret"

	n, size := crm.FitImport(contacts, notify)
	if n <= 0 || n >= len(contacts) || size > limit {
		t.Fatalf("FitImport = %d contacts, %d bytes; want some but not all of %d, at most %d bytes", n, size, len(contacts), limit)
	}
	if n2, _ := crm.FitImport(contacts[:n+1], notify); n2 != n {
		t.Errorf("FitImport of %d contacts = %d; want %d (one more does not fit)", n+1, n2, n)
	}
	if _, err := crm.StartImport(t.Context(), contacts[:n], notify); err != nil {
		t.Fatal(err)
	}
	bodies := importBodies(t, s)
	if len(bodies) != 1 {
		t.Fatalf("simulator got %d imports, want 1", len(bodies))
	}
	if len(bodies[0]) != size {
		t.Errorf("the body sent has %d bytes; FitImport measured %d", len(bodies[0]), size)
	}
	var body map[string]any
	if err := json.Unmarshal(bodies[0], &body); err != nil {
		t.Fatalf("import body is not JSON: %v", err)
	}
	rows := body["jsonBody"].([]any)
	delete(body, "jsonBody")
	want := map[string]any{"listIds": []any{4.0, 7.0}, "notifyUrl": notify, "updateExistingContacts": true,
		"emptyContactsAttributes": false, "disableNotification": true}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("import body besides jsonBody (-want +got):\n%s", diff)
	}
	if len(rows) != n {
		t.Fatalf("jsonBody has %d rows, want %d", len(rows), n)
	}
	// Each row is the upsert's mapping: the same email and attributes.
	for i, r := range rows[:4] {
		ct := brevo.ToContact(contacts[i], nil, nil)
		wantRow := map[string]any{"email": ct.Email, "attributes": jsonRound(t, ct.Attributes)}
		if diff := cmp.Diff(wantRow, r); diff != "" {
			t.Errorf("jsonBody[%d] (-want +got):\n%s", i, diff)
		}
	}
}

func jsonRound(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDefaultImportLimitIsUnderBrevos(t *testing.T) {
	t.Parallel()
	_, c := newSim(t, brevotest.Config{})
	crm := brevo.NewCRM(c, []int64{1})
	if got := crm.MaxImportBytes(); got != brevo.DefaultMaxImportBytes || got > 8_000_000 {
		t.Errorf("MaxImportBytes = %d, want the default, at most 8,000,000", got)
	}
	contacts := contactsN(60_000)
	n, size := crm.FitImport(contacts, "")
	if n == len(contacts) || size > 8_000_000 || size < 7_900_000 {
		t.Errorf("FitImport of 60,000 contacts = %d, %d bytes; want a body just under 8 MB", n, size)
	}
}

func TestImportNeedsALists(t *testing.T) {
	t.Parallel()
	_, c := newSim(t, brevotest.Config{})
	if err := brevo.NewCRM(c, nil).ImportReady(); err == nil || !strings.Contains(err.Error(), "BREVO_LIST_ID") {
		t.Errorf("ImportReady without lists = %v; want an error naming BREVO_LIST_ID", err)
	}
	if err := brevo.NewCRM(c, []int64{2}).ImportReady(); err != nil {
		t.Errorf("ImportReady with a list = %v", err)
	}
}

func TestCheckImportRefusesImpossibleEmails(t *testing.T) {
	t.Parallel()
	crm := brevo.NewCRM(brevo.NewClient(brevo.Config{}), []int64{1})
	for _, tt := range []struct {
		email string
		ok    bool
	}{
		{"ann@example.com", true},
		{"  Ann.Smith+tag@Sub.Example.co.uk ", true},
		{"", false},
		{"ann", false},
		{"@example.com", false},
		{"ann@", false},
		{"ann@localhost", false},
		{"ann@@example.com", false},
		{"ann@exa mple.com", false},
		{"ann@example.com.", false},
		{"ann@.example.com", false},
		{"ann@example..com", false},
		{strings.Repeat("a", 250) + "@example.com", false},
	} {
		err := crm.CheckImport(syncer.Contact{Email: tt.email})
		if (err == nil) != tt.ok {
			t.Errorf("CheckImport(%q) = %v; want ok %v", tt.email, err, tt.ok)
		}
		if err != nil && syncer.KindOf(err) != syncer.Rejected {
			t.Errorf("CheckImport(%q) is %v, want Rejected", tt.email, syncer.KindOf(err))
		}
	}
}

// runImport imports contacts and waits for the process to finish.
func runImport(t *testing.T, s *brevotest.Server, crm *brevo.CRM, contacts []syncer.Contact) syncer.ImportStatus {
	t.Helper()
	id, err := crm.StartImport(t.Context(), contacts, "")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseInt(id, 10, 64)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := s.WaitProcess(ctx, n); err != nil {
		t.Fatal(err)
	}
	st, err := crm.ImportStatus(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestImportRejectionsFromTheReports(t *testing.T) {
	t.Parallel()
	s, c := newSim(t, brevotest.Config{})
	crm := brevo.NewCRM(c, []int64{1})
	// Brevo already has +33611111111 on another contact.
	if _, err := c.UpsertContact(t.Context(), brevo.Contact{Email: "owner@example.com",
		Attributes: map[string]any{"SMS": "+33611111111"}}); err != nil {
		t.Fatal(err)
	}
	phone, other := "+33611111111", "+33622222222"
	contacts := []syncer.Contact{
		{ID: "1", Email: "ok@example.com"},
		{ID: "2", Email: "dup-sms@example.com", PhoneNumber: &phone},
		{ID: "3", Email: "own-sms@example.com", PhoneNumber: &other},
		{ID: "4", Email: "bad@nowhere"}, // not failed before sending here: CheckImport is the syncer's call
	}
	st := runImport(t, s, crm, contacts)
	if st.State != syncer.ImportCompleted || len(st.Reports) != 2 {
		t.Fatalf("ImportStatus = %+v; want completed with two reports", st)
	}
	rep := crm.ImportRejections(t.Context(), st, contacts)
	want := syncer.ImportReport{
		Rejected: map[string]string{
			"dup-sms@example.com": "import report duplicate_phone_id: another Brevo contact has this phone number (SMS)",
			"bad@nowhere":         "import report invalid_emails: invalid email address",
		},
		Unknown: map[string]bool{},
	}
	if diff := cmp.Diff(want, rep); diff != "" {
		t.Errorf("ImportRejections (-want +got):\n%s", diff)
	}

	// Reports that cannot be read: only the contacts each could name are
	// unknown; the duplicate-phone report cannot name a contact sent
	// without an SMS.
	s.BreakReports(true)
	rep = crm.ImportRejections(t.Context(), syncer.ImportStatus{State: syncer.ImportCompleted,
		Reports: map[string]string{"duplicate_phone_id": st.Reports["duplicate_phone_id"]}}, contacts)
	want = syncer.ImportReport{Rejected: map[string]string{},
		Unknown: map[string]bool{"dup-sms@example.com": true, "own-sms@example.com": true}}
	if diff := cmp.Diff(want, rep); diff != "" {
		t.Errorf("ImportRejections with a broken duplicate_phone_id report (-want +got):\n%s", diff)
	}
	rep = crm.ImportRejections(t.Context(), st, contacts)
	if len(rep.Unknown) != len(contacts) || len(rep.Rejected) != 0 {
		t.Errorf("ImportRejections with both reports broken = %+v; want every contact unknown", rep)
	}
}

func TestReportFormats(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("api-key") != "" {
			t.Errorf("report %s fetched with the API key", r.URL.Path)
		}
		switch r.URL.Path {
		case "/comma.csv":
			fmt.Fprint(w, "\ufeffEMAIL,REASON\nA@Example.com,dup\n")
		case "/semicolon.csv":
			fmt.Fprint(w, "LINE;email;SMS\n3;b@example.com;+336\n")
		case "/noheader.csv":
			fmt.Fprint(w, "contact\nc@example.com\n")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	crm := brevo.NewCRM(brevo.NewClient(brevo.Config{APIKey: "secret"}), []int64{1})
	contacts := []syncer.Contact{{Email: "a@example.com"}, {Email: "b@example.com"}, {Email: "c@example.com"}}
	rep := crm.ImportRejections(t.Context(), syncer.ImportStatus{Reports: map[string]string{
		"duplicate_email_id": srv.URL + "/comma.csv",
		"invalid_emails":     srv.URL + "/semicolon.csv",
		"duplicate_ext_id":   srv.URL + "/noheader.csv",
	}}, contacts)
	got := map[string]bool{}
	for e := range rep.Rejected {
		got[e] = true
	}
	if diff := cmp.Diff(map[string]bool{"a@example.com": true, "b@example.com": true, "c@example.com": true}, got); diff != "" {
		t.Errorf("rejected (-want +got):\n%s", diff)
	}
	if len(rep.Unknown) != 0 {
		t.Errorf("unknown = %v, want none", rep.Unknown)
	}
}

func TestImportStatusStates(t *testing.T) {
	t.Parallel()
	s, c := newSim(t, brevotest.Config{})
	crm := brevo.NewCRM(c, []int64{1})
	s.FailNextImport("cancelled")
	if st := runImport(t, s, crm, contactsN(3)); st.State != syncer.ImportFailed || st.Status != "cancelled" {
		t.Errorf("cancelled import: ImportStatus = %+v, want failed", st)
	}
	s.SetImportSpeed(0)
	id, err := crm.StartImport(t.Context(), contactsN(3), "")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := crm.ImportStatus(t.Context(), id); err != nil || st.State != syncer.ImportRunning {
		t.Errorf("paused import: ImportStatus = %+v, %v; want running", st, err)
	}
	_, err = crm.ImportStatus(t.Context(), "999")
	if syncer.KindOf(err) != syncer.Rejected {
		t.Errorf("unknown process: ImportStatus error %v, want Rejected", err)
	}
}

func TestImportStatusRateLimited(t *testing.T) {
	t.Parallel()
	s, c := newSim(t, brevotest.Config{ProcessesPerHour: 1})
	crm := brevo.NewCRM(c, []int64{1})
	st := runImport(t, s, crm, contactsN(2)) // spends the only request
	_, err := crm.ImportStatus(t.Context(), "1")
	e, ok := errors.AsType[*syncer.Error](err)
	if !ok || e.Kind != syncer.RateLimited || e.Wait < time.Hour/2 {
		t.Errorf("ImportStatus over the hourly limit = %v; want RateLimited with a wait of most of an hour (after %+v)", err, st)
	}
}

func TestContactIDsPageThroughRecentChanges(t *testing.T) {
	t.Parallel()
	s, c := newSim(t, brevotest.Config{})
	crm := brevo.NewCRM(c, []int64{1})
	since := time.Now().Add(-time.Minute)
	runImport(t, s, crm, contactsN(2500))

	cur := syncer.IDCursor{Since: since}
	ids := map[string]string{}
	pages := 0
	for {
		p, err := crm.ContactIDs(t.Context(), cur)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for k, v := range p.IDs {
			ids[k] = v
		}
		cur = p.Next
		if p.Last {
			break
		}
	}
	if pages != 3 || len(ids) != 2500 {
		t.Errorf("listed %d ids in %d pages; want 2500 in 3", len(ids), pages)
	}
	for _, sc := range s.Contacts() {
		if ids[sc.Email] != strconv.FormatInt(sc.ID, 10) {
			t.Errorf("id of %s = %q, want %d", sc.Email, ids[sc.Email], sc.ID)
			break
		}
	}
	// Nothing modified later: an empty last page.
	if p, err := crm.ContactIDs(t.Context(), cur); err != nil || len(p.IDs) != 0 || !p.Last {
		t.Errorf("past the end: ContactIDs = %+v, %v; want an empty last page", p, err)
	}
}
