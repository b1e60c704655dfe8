package brevotest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// submitImport posts body to /contacts/import and returns the process id
// of its 202.
func submitImport(t *testing.T, s *brevotest.Server, body string) int64 {
	t.Helper()
	r := call(t, s, http.MethodPost, "/contacts/import", testKey, body)
	var out struct {
		ProcessID int64 `json:"processId"`
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.status != 202 || out.ProcessID == 0 {
		t.Fatalf("import = %d %s, want 202 with a processId", r.status, r.body)
	}
	return out.ProcessID
}

// waitProcess waits until process id has one of statuses (none: has ended).
func waitProcess(t *testing.T, s *brevotest.Server, id int64, statuses ...string) brevotest.Process {
	t.Helper()
	p, err := s.WaitProcess(waitCtx(t), id, statuses...)
	if err != nil {
		t.Fatalf("waiting for process %d to be %v: %v (it is %+v)", id, statuses, err, p)
	}
	return p
}

// getProcess sends GET /processes/{id} and decodes a 200 generically.
func getProcess(t *testing.T, s *brevotest.Server, id int64) map[string]any {
	t.Helper()
	r := call(t, s, http.MethodGet, fmt.Sprintf("/processes/%d", id), testKey, "")
	var out map[string]any
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.status != 200 {
		t.Fatalf("GET /processes/%d = %d %s", id, r.status, r.body)
	}
	return out
}

// download GETs a report URL without any api-key.
func download(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestImport(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	upsert(t, s, `{"email":"a@example.com","attributes":{"FIRSTNAME":"A","LASTNAME":"Lee","SMS":"+33611111111"},"listIds":[5],"updateEnabled":true}`)
	upsert(t, s, `{"email":"b@example.com","updateEnabled":true}`)

	id := submitImport(t, s, `{"listIds":[5,6],"jsonBody":[
		{"email":"A@Example.com","attributes":{"FIRSTNAME":"Ann","LASTNAME":""}},
		{"email":"new@example.com","attributes":{"SMS":"+33622222222","FIRSTNAME":"New"}},
		{"email":"Not An Email"},
		{"email":"new@example.com"},
		{"email":"c@example.com","attributes":{"SMS":"0033611111111"}},
		{"email":"b@example.com","attributes":{"SMS":"33622222222"}}
	]}`)
	if id != 1 {
		t.Errorf("first processId = %d, want 1 (process ids have their own counter)", id)
	}
	p := waitProcess(t, s, id)

	want := brevotest.Process{
		ID: 1, Status: "completed", Rows: 6, Processed: 6, Imported: 2, ListIDs: []int64{5, 6},
		Rejected: map[string][]string{
			"invalid_emails":     {"Not An Email"},
			"duplicate_email_id": {"new@example.com"},
			"duplicate_phone_id": {"c@example.com", "b@example.com"},
		},
	}
	ignoreTimes := cmpopts.IgnoreFields(brevotest.Process{}, "Submitted", "Started", "Finished")
	if diff := cmp.Diff(want, p, ignoreTimes); diff != "" {
		t.Errorf("process mismatch (-want +got):\n%s", diff)
	}
	if p.Submitted.IsZero() || p.Started.Before(p.Submitted) || p.Finished.Before(p.Started) {
		t.Errorf("process times: submitted %v, started %v, finished %v", p.Submitted, p.Started, p.Finished)
	}
	if diff := cmp.Diff([]brevotest.Process{p}, s.Processes()); diff != "" {
		t.Errorf("Processes mismatch (-want +got):\n%s", diff)
	}

	wantContacts := []brevotest.Contact{
		{ID: 1, Email: "a@example.com", Upserts: 1, ListIDs: []int64{5, 6},
			Attributes: map[string]any{"FIRSTNAME": "Ann", "LASTNAME": "Lee", "SMS": "+33611111111"}},
		{ID: 2, Email: "b@example.com", Upserts: 1, Attributes: map[string]any{}},
		{ID: 3, Email: "new@example.com", ListIDs: []int64{5, 6},
			Attributes: map[string]any{"FIRSTNAME": "New", "SMS": "+33622222222"}},
	}
	if diff := cmp.Diff(wantContacts, s.Contacts()); diff != "" {
		t.Errorf("Contacts mismatch (-want +got):\n%s", diff)
	}
	cs, _ := listContacts(t, s, "limit=1")
	if at, err := time.Parse(time.RFC3339Nano, cs[0].ModifiedAt); err != nil || at.Before(p.Started.Truncate(time.Millisecond)) {
		t.Errorf("newest modifiedAt %s (%v), want at or after the import started %v", cs[0].ModifiedAt, err, p.Started)
	}

	got := getProcess(t, s, id)
	host := strings.TrimSuffix(s.URL(), "/v3")
	report := func(kind string) string { return fmt.Sprintf("%s/reports/1/%s.csv", host, kind) }
	wantView := map[string]any{"id": 1.0, "name": "IMPORTUSER", "status": "completed", "info": map[string]any{"import": map[string]any{
		"invalid_emails":               report("invalid_emails"),
		"duplicate_contact_id":         nil,
		"duplicate_ext_id":             nil,
		"duplicate_email_id":           report("duplicate_email_id"),
		"duplicate_phone_id":           report("duplicate_phone_id"),
		"duplicate_whatsapp_id":        nil,
		"duplicate_landline_number_id": nil,
	}}}
	if diff := cmp.Diff(wantView, got); diff != "" {
		t.Errorf("GET /processes/1 mismatch (-want +got):\n%s", diff)
	}
	for kind, body := range map[string]string{
		"invalid_emails":     "EMAIL\nNot An Email\n",
		"duplicate_email_id": "EMAIL\nnew@example.com\n",
		"duplicate_phone_id": "EMAIL\nc@example.com\nb@example.com\n",
	} {
		if status, got := download(t, report(kind)); status != 200 || got != body {
			t.Errorf("report %s = %d %q, want 200 %q", kind, status, got, body)
		}
	}

	wantError(t, call(t, s, http.MethodGet, "/processes/99", testKey, ""), 404, "invalid_parameter")
	if r := call(t, s, http.MethodGet, "/processes/x", testKey, ""); r.status != 404 || r.body != `{"code":"invalid_parameter","message":"processId is invalid"}` {
		t.Errorf("GET /processes/x = %d %s, want 404 processId is invalid", r.status, r.body)
	}
	st := s.Stats()
	if st.Imports != 1 || st.ImportedRows != 2 || st.ImportsFinished != 1 || st.OverlappingImports != 0 || st.ImportsWithBlacklistFlags != 0 {
		t.Errorf("Stats = %+v, want 1 import of 2 rows, finished, no overlap, no blacklist flags", st)
	}
	if id := submitImport(t, s, `{"listIds":[1],"jsonBody":[{"email":"d@example.com"}]}`); id != 2 {
		t.Errorf("second processId = %d, want 2", id)
	}
}

func TestImportOptions(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	upsert(t, s, `{"email":"a@example.com","attributes":{"FIRSTNAME":"A","LASTNAME":"Lee"},"updateEnabled":true}`)

	// updateExistingContacts false: existing contacts keep their attributes
	// but join the lists; new ones are created.
	id := submitImport(t, s, `{"listIds":[2],"updateExistingContacts":false,"jsonBody":[
		{"email":"a@example.com","attributes":{"FIRSTNAME":"Changed"}},
		{"email":"b@example.com","attributes":{"FIRSTNAME":"B"}}]}`)
	waitProcess(t, s, id)
	if a, _ := s.Contact("a@example.com"); a.Attributes["FIRSTNAME"] != "A" || len(a.ListIDs) != 1 {
		t.Errorf("a = %+v, want its attributes kept and list 2 joined", a)
	}
	if b, ok := s.Contact("b@example.com"); !ok || b.Attributes["FIRSTNAME"] != "B" {
		t.Errorf("b = %+v, %v; want created", b, ok)
	}

	// emptyContactsAttributes erases; the blacklist flags blocklist every row.
	id = submitImport(t, s, `{"listIds":[2],"emptyContactsAttributes":true,"emailBlacklist":true,"smsBlacklist":true,
		"disableNotification":true,"jsonBody":[{"email":"a@example.com","attributes":{"LASTNAME":"","FIRSTNAME":"Ann"}}]}`)
	waitProcess(t, s, id)
	a, _ := s.Contact("a@example.com")
	if diff := cmp.Diff(map[string]any{"FIRSTNAME": "Ann"}, a.Attributes); diff != "" || !a.EmailBlacklisted || !a.SMSBlacklisted {
		t.Errorf("a = %+v, want LASTNAME erased and both blocklistings set (%s)", a, diff)
	}
	if b, _ := s.Contact("b@example.com"); b.EmailBlacklisted {
		t.Error("b, not in the import, was blocklisted")
	}
	st := s.Stats()
	if st.Imports != 2 || st.ImportsWithBlacklistFlags != 1 || st.ImportedRows != 3 {
		t.Errorf("Stats = %+v, want 2 imports, 1 with blacklist flags, 3 rows", st)
	}
}

func TestImportValidation(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	const rows = `"jsonBody":[{"email":"a@example.com"}]`
	tests := []struct{ body, code string }{
		{`{"listIds":[1],"fileBody":"EMAIL\na@example.com"}`, "invalid_parameter"},
		{`{"listIds":[1],"fileUrl":"https://example.com/c.csv"}`, "invalid_parameter"},
		{`{"listIds":[1],"fileUrl":"https://example.com/c.csv",` + rows + `}`, "invalid_parameter"},
		{`{"listIds":[1],`, "bad_request"},
		{`{"listIds":[1]}`, "missing_parameter"},
		{`{"listIds":[1],"jsonBody":[]}`, "invalid_parameter"},
		{`{` + rows + `}`, "missing_parameter"},
		{`{"listIds":[0],` + rows + `}`, "invalid_parameter"},
		{`{"newList":{"listName":"x","folderId":1},` + rows + `}`, "invalid_parameter"},
		{`{"listIds":[1],"jsonBody":[{"attributes":{"SMS":"+33612345678"}}]}`, "missing_parameter"},
	}
	for _, tt := range tests {
		wantError(t, call(t, s, http.MethodPost, "/contacts/import", testKey, tt.body), 400, tt.code)
	}
	if r := call(t, s, http.MethodPost, "/contacts/import", testKey, `{"listIds":[1],"fileUrl":"x"}`); !strings.Contains(r.body, "jsonBody") {
		t.Errorf("fileUrl refusal %s does not say only jsonBody is supported", r.body)
	}

	// Exactly 10 MB is read and accepted; a byte more is refused.
	head := `{"listIds":[1],"jsonBody":[{"email":"big@example.com","attributes":{"NOTE":"`
	tail := `"}}]}`
	pad := 10*1024*1024 - len(head) - len(tail)
	if id := submitImport(t, s, head+strings.Repeat("x", pad)+tail); id != 1 {
		t.Errorf("10 MB import = process %d, want 1", id)
	}
	r := call(t, s, http.MethodPost, "/contacts/import", testKey, head+strings.Repeat("x", pad+1)+tail)
	wantError(t, r, 400, "out_of_range")
	if !strings.Contains(r.body, "10 MB") {
		t.Errorf("oversized import answer %s does not name the 10 MB limit", r.body)
	}
	p := waitProcess(t, s, 1)
	if c, _ := s.Contact("big@example.com"); p.Status != "completed" || len(c.Attributes["NOTE"].(string)) != pad {
		t.Errorf("10 MB import ended %s, contact NOTE of %d bytes", p.Status, len(c.Attributes["NOTE"].(string)))
	}
	if st := s.Stats(); st.Imports != 1 || len(s.Processes()) != 1 {
		t.Errorf("Imports = %d with %d processes, want only the accepted one", st.Imports, len(s.Processes()))
	}
}

func TestImportQueue(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	s.SetImportSpeed(0) // paused
	first := submitImport(t, s, `{"listIds":[1],"jsonBody":[{"email":"a@example.com"},{"email":"b@example.com"}]}`)
	second := submitImport(t, s, `{"listIds":[1],"jsonBody":[{"email":"c@example.com"}]}`)
	waitProcess(t, s, first, "in_process")

	status := func(id int64) (string, bool) {
		v := getProcess(t, s, id)
		_, hasInfo := v["info"]
		return v["status"].(string), hasInfo
	}
	if st, info := status(first); st != "in_process" || info {
		t.Errorf("first import: %s, info %v; want in_process without info", st, info)
	}
	if st, info := status(second); st != "queued" || info {
		t.Errorf("second import: %s, info %v; want queued without info", st, info)
	}
	if ps := s.Processes(); ps[0].Processed != 0 || len(s.Contacts()) != 0 {
		t.Errorf("while paused: %d rows processed, %d contacts; want none", ps[0].Processed, len(s.Contacts()))
	}
	if st := s.Stats(); st.OverlappingImports != 1 {
		t.Errorf("OverlappingImports = %d, want 1", st.OverlappingImports)
	}

	r := call(t, s, http.MethodGet, "/processes?sort=asc", testKey, "")
	var list struct {
		Processes []struct {
			ID     int64
			Status string
		}
		Count int
	}
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || list.Count != 2 || len(list.Processes) != 2 ||
		list.Processes[0].ID != 1 || list.Processes[1].Status != "queued" {
		t.Errorf("GET /processes?sort=asc = %d %s", r.status, r.body)
	}
	r = call(t, s, http.MethodGet, "/processes?limit=1", testKey, "")
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || list.Count != 2 || len(list.Processes) != 1 || list.Processes[0].ID != 2 {
		t.Errorf("GET /processes?limit=1 = %d %s, want the newest of 2", r.status, r.body)
	}
	wantError(t, call(t, s, http.MethodGet, "/processes?limit=51", testKey, ""), 400, "out_of_range")
	wantError(t, call(t, s, http.MethodGet, "/processes?sort=up", testKey, ""), 400, "invalid_parameter")

	s.SetImportSpeed(1_000_000)
	p2 := waitProcess(t, s, second)
	p1 := s.Processes()[0]
	if p1.Status != "completed" || p2.Status != "completed" || p2.Started.Before(p1.Finished) {
		t.Errorf("imports %+v and %+v: want both completed, the second started after the first finished", p1, p2)
	}
	if diff := cmp.Diff([]string{"a@example.com", "b@example.com", "c@example.com"}, s.ListMembers(1)); diff != "" {
		t.Errorf("list 1 mismatch (-want +got):\n%s", diff)
	}
}

func TestImportSpeed(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{ImportRowsPerSecond: 200})
	rows := make([]string, 20)
	for i := range rows {
		rows[i] = fmt.Sprintf(`{"email":"u%d@example.com"}`, i)
	}
	id := submitImport(t, s, `{"listIds":[1],"jsonBody":[`+strings.Join(rows, ",")+`]}`)
	p := waitProcess(t, s, id)
	if d := p.Finished.Sub(p.Started); d < 100*time.Millisecond {
		t.Errorf("20 rows at 200 a second took %v, want at least 100ms", d)
	}
	if st := s.Stats(); st.ImportedRows != 20 {
		t.Errorf("ImportedRows = %d, want 20", st.ImportedRows)
	}
}

func TestFailNextImport(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	const body = `{"listIds":[1],"jsonBody":[{"email":"a@example.com"}]}`
	for _, status := range []string{"failed", "cancelled"} {
		s.FailNextImport(status)
		id := submitImport(t, s, body)
		if p := waitProcess(t, s, id); p.Status != status || p.Processed != 0 {
			t.Errorf("import after FailNextImport(%s) = %+v, want %s with no row processed", status, p, status)
		}
		if v := getProcess(t, s, id); v["status"] != status || v["info"] != nil {
			t.Errorf("GET /processes/%d = %v, want %s without info", id, v, status)
		}
		if len(s.Contacts()) != 0 {
			t.Fatalf("a %s import created contacts", status)
		}
	}
	if p := waitProcess(t, s, submitImport(t, s, body)); p.Status != "completed" {
		t.Errorf("the import after = %s, want completed", p.Status)
	}
	s.FailNextImport("failed")
	s.FailNextImport("")
	if p := waitProcess(t, s, submitImport(t, s, body)); p.Status != "completed" {
		t.Errorf("import after FailNextImport(\"\") = %s, want completed", p.Status)
	}
	defer func() {
		if recover() == nil {
			t.Error("FailNextImport(\"done\") did not panic")
		}
	}()
	s.FailNextImport("done")
}

func TestReports(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{APIKey: testKey})
	id := submitImport(t, s, `{"listIds":[1],"jsonBody":[{"email":"bad"},{"email":"ok@example.com"}]}`)
	waitProcess(t, s, id)
	info := getProcess(t, s, id)["info"].(map[string]any)["import"].(map[string]any)
	url, _ := info["invalid_emails"].(string)
	if url == "" || info["duplicate_email_id"] != nil || info["duplicate_phone_id"] != nil {
		t.Fatalf("info.import = %v, want only invalid_emails", info)
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") || strings.Contains(url, "/v3/") {
		t.Errorf("report URL %s, want the simulator outside /v3", url)
	}
	if status, body := download(t, url); status != 200 || body != "EMAIL\nbad\n" {
		t.Errorf("report = %d %q", status, body)
	}
	s.BreakReports(true)
	if status, _ := download(t, url); status != 500 {
		t.Errorf("broken report = %d, want 500", status)
	}
	s.BreakReports(false)
	if status, _ := download(t, url); status != 200 {
		t.Errorf("mended report = %d, want 200", status)
	}
	for _, other := range []string{
		strings.Replace(url, "invalid_emails", "duplicate_email_id", 1), // no rows
		strings.Replace(url, "invalid_emails", "nothing", 1),
		strings.Replace(url, "/1/", "/9/", 1),
		strings.TrimSuffix(url, ".csv"),
	} {
		if status, _ := download(t, other); status != 404 {
			t.Errorf("GET %s = %d, want 404", other, status)
		}
	}
	if n := s.Stats().ByRoute["GET /reports/{id}/{file}"]; n != 7 {
		t.Errorf("ByRoute[reports] = %d, want 7", n)
	}
	var statuses []int
	for _, r := range s.Requests() {
		if strings.HasPrefix(r.Path, "/reports/") {
			statuses = append(statuses, r.Status)
		}
	}
	if diff := cmp.Diff([]int{200, 500, 200, 404, 404, 404, 404}, statuses); diff != "" {
		t.Errorf("logged report statuses mismatch (-want +got):\n%s", diff)
	}
}
