package brevotest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// listResult is the 201 body of the list add and remove endpoints.
type listResult struct {
	Contacts struct {
		Success []any `json:"success"`
		Failure []any `json:"failure"`
	} `json:"contacts"`
}

// changeList posts body to /contacts/lists/{list}/contacts/{op} and decodes
// a 201.
func changeList(t *testing.T, s *brevotest.Server, list, op, body string) listResult {
	t.Helper()
	r := call(t, s, http.MethodPost, "/contacts/lists/"+list+"/contacts/"+op, testKey, body)
	if r.status != 201 {
		t.Fatalf("%s list %s %s = %d %s, want 201", op, list, body, r.status, r.body)
	}
	var out listResult
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		t.Fatalf("%s body %s: %v", op, r.body, err)
	}
	return out
}

func TestListAddRemove(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{})
	upsert(t, s, `{"email":"a@example.com","listIds":[7],"updateEnabled":true}`)
	upsert(t, s, `{"email":"b@example.com","updateEnabled":true}`)
	upsert(t, s, `{"email":"c@example.com","updateEnabled":true}`)

	got := changeList(t, s, "7", "add", `{"emails":["a@example.com","B@Example.com","nobody@example.com","b@example.com"]}`)
	want := listResult{}
	want.Contacts.Success = []any{"b@example.com"}
	want.Contacts.Failure = []any{"a@example.com", "nobody@example.com", "b@example.com"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("add by email mismatch (-want +got):\n%s", diff)
	}
	got = changeList(t, s, "7", "add", `{"ids":[3,1,99]}`)
	want.Contacts.Success, want.Contacts.Failure = []any{3.0}, []any{1.0, 99.0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("add by id mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a@example.com", "b@example.com", "c@example.com"}, s.ListMembers(7)); diff != "" {
		t.Errorf("ListMembers(7) mismatch (-want +got):\n%s", diff)
	}

	got = changeList(t, s, "7", "remove", `{"emails":["a@example.com","nobody@example.com"]}`)
	want.Contacts.Success, want.Contacts.Failure = []any{"a@example.com"}, []any{"nobody@example.com"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("remove by email mismatch (-want +got):\n%s", diff)
	}
	got = changeList(t, s, "7", "remove", `{"ids":[2,1]}`)
	want.Contacts.Success, want.Contacts.Failure = []any{2.0}, []any{1.0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("remove by id mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"c@example.com"}, s.ListMembers(7)); diff != "" {
		t.Errorf("ListMembers(7) after removes mismatch (-want +got):\n%s", diff)
	}
	if a, _ := s.Contact("a@example.com"); a.ListIDs != nil {
		t.Errorf("a's lists = %v after leaving its only list, want none", a.ListIDs)
	}
	if got := s.ListMembers(8); len(got) != 0 {
		t.Errorf("ListMembers(8) = %v, want none", got)
	}
}

func TestListValidation(t *testing.T) {
	t.Parallel()
	s := brevotest.New(t, brevotest.Config{Lists: []int64{7}})
	upsert(t, s, `{"email":"a@example.com","updateEnabled":true}`)
	many := func(key string, n int) string {
		items := make([]string, n)
		for i := range items {
			if key == "ids" {
				items[i] = fmt.Sprint(i + 1)
			} else {
				items[i] = fmt.Sprintf(`"u%d@example.com"`, i)
			}
		}
		return `{"` + key + `":[` + strings.Join(items, ",") + `]}`
	}
	for _, op := range []string{"add", "remove"} {
		path := "/contacts/lists/7/contacts/" + op
		wantError(t, call(t, s, http.MethodPost, path, testKey, many("emails", 151)), 400, "out_of_range")
		wantError(t, call(t, s, http.MethodPost, path, testKey, many("ids", 151)), 400, "out_of_range")
		wantError(t, call(t, s, http.MethodPost, path, testKey, `{"emails":["a@example.com"],"ids":[1]}`), 400, "invalid_parameter")
		wantError(t, call(t, s, http.MethodPost, path, testKey, `{}`), 400, "missing_parameter")
		wantError(t, call(t, s, http.MethodPost, path, testKey, `{"emails":`), 400, "bad_request")
		wantError(t, call(t, s, http.MethodPost, "/contacts/lists/8/contacts/"+op, testKey, `{"ids":[1]}`), 404, "document_not_found")
		wantError(t, call(t, s, http.MethodPost, "/contacts/lists/0/contacts/"+op, testKey, `{"ids":[1]}`), 404, "document_not_found")
		if r := call(t, s, http.MethodPost, path, testKey, many("emails", 150)); r.status != 201 {
			t.Errorf("%s of 150 emails = %d %s, want 201", op, r.status, r.body)
		}
	}
	wantError(t, call(t, s, http.MethodPost, "/contacts/lists/7/contacts/remove", testKey, `{"all":true}`), 400, "invalid_parameter")

	// Without Config.Lists every positive id is a list.
	open := brevotest.New(t, brevotest.Config{})
	upsert(t, open, `{"email":"a@example.com","updateEnabled":true}`)
	if got := changeList(t, open, "123456", "add", `{"ids":[1]}`); len(got.Contacts.Success) != 1 {
		t.Errorf("add to list 123456 = %+v, want a success", got)
	}
	wantError(t, call(t, open, http.MethodPost, "/contacts/lists/-1/contacts/add", testKey, `{"ids":[1]}`), 404, "document_not_found")
}
