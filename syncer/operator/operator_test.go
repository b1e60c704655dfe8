package operator_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brevosync/brevosync/sql/schematest"
	"github.com/brevosync/brevosync/syncer/operator"
)

// db is a migrated database of the test's own.
type db struct{ pool *pgxpool.Pool }

func newDB(t *testing.T) db {
	t.Helper()
	return db{schematest.NewPool(t)}
}

func (d db) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := d.pool.Exec(t.Context(), q, args...); err != nil {
		t.Fatalf("exec %s: %v", q, err)
	}
}

// insert adds a contact in a state and returns its id.
func (d db) insert(t *testing.T, email, sync, proc, errText string) string {
	t.Helper()
	var id string
	err := d.pool.QueryRow(t.Context(), `
		INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status, brevo_processing_error)
		VALUES ($1, $2::crm_sync_status, nullif($3, '')::crm_processing_status, nullif($4, ''))
		RETURNING id::text`, email, sync, proc, errText).Scan(&id)
	if err != nil {
		t.Fatalf("insert %s: %v", email, err)
	}
	return id
}

// state is a contact's pair, "Sync/Proc" with NULL spelled out.
func (d db) state(t *testing.T, id string) string {
	t.Helper()
	var s string
	err := d.pool.QueryRow(t.Context(), `SELECT brevo_sync_status::text || '/' || coalesce(brevo_processing_status::text, 'NULL')
		FROM contacts WHERE id = $1`, id).Scan(&s)
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return s
}

func (d db) count(t *testing.T, where string) int {
	t.Helper()
	var n int
	if err := d.pool.QueryRow(t.Context(), `SELECT count(*) FROM contacts WHERE `+where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// notes counts the NOTIFYs on brevosync's channel from now on: count sends
// a marker and reads up to it (notifications arrive in commit order).
type notes struct {
	conn *pgx.Conn
	pool *pgxpool.Pool
}

func (d db) listen(t *testing.T) *notes {
	t.Helper()
	conn, err := pgx.ConnectConfig(t.Context(), d.pool.Config().ConnConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(t.Context(), "LISTEN brevosync"); err != nil {
		t.Fatal(err)
	}
	return &notes{conn, d.pool}
}

func (n *notes) count(t *testing.T) int {
	t.Helper()
	if _, err := n.pool.Exec(t.Context(), "SELECT pg_notify('brevosync', 'marker')"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for c := 0; ; c++ {
		note, err := n.conn.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("wait for notifications: %v", err)
		}
		if note.Payload == "marker" {
			return c
		}
	}
}

func entries(t *testing.T, lines ...string) *operator.Entries {
	t.Helper()
	p := operator.NewEntries()
	if err := p.Read(strings.NewReader(strings.Join(lines, "\n")), "test input"); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSelectAllOrNothing(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	ada := d.insert(t, " Ada@Example.com", "New", "", "")
	grace := d.insert(t, "grace@example.com", "Complete", "Complete", "")
	waiting := d.insert(t, "waiting@example.com", "Selected", "Queued", "")
	n := d.listen(t)

	in := entries(t, "ADA@example.com", grace, "oops", "waiting@example.com", "nobody@example.com")
	res, err := operator.Select(t.Context(), d.pool, in, operator.SelectOptions{Batch: 1})
	var inv *operator.InvalidError
	if !errors.As(err, &inv) || !errors.Is(err, operator.ErrInvalidEntries) || len(inv.Bad) != 1 || inv.Bad[0].Where != "line 3" || inv.Valid != 4 {
		t.Fatalf("Select with a bad line = %+v, %v; want an InvalidError naming line 3", res, err)
	}
	if res.Applied || d.state(t, ada) != "New/NULL" || n.count(t) != 0 {
		t.Fatalf("Select with a bad line applied something: %+v, Ada %s", res, d.state(t, ada))
	}

	// Skipping: the rest is applied, in one transaction, one notification.
	res, err = operator.Select(t.Context(), d.pool, in, operator.SelectOptions{Batch: 1, SkipInvalid: true})
	if err != nil {
		t.Fatal(err)
	}
	want := operator.SelectResult{Entries: 4, Skipped: in.Bad, Applied: true, Selected: 2, AlreadyWaiting: 1,
		NotFound: []string{"nobody@example.com"}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Select --skip-invalid (-want +got):\n%s", diff)
	}
	for _, id := range []string{ada, grace, waiting} {
		if s := d.state(t, id); s != "Selected/Queued" {
			t.Errorf("contact %s = %s, want Selected/Queued", id, s)
		}
	}
	if got := n.count(t); got != 1 {
		t.Errorf("one selection of 4 statements sent %d notifications, want 1", got)
	}

	// Every entry bad, skipping or not: nothing to apply is an error.
	_, err = operator.Select(t.Context(), d.pool, entries(t, "x", "y"), operator.SelectOptions{SkipInvalid: true})
	if !errors.As(err, &inv) || inv.Valid != 0 || !inv.Skipping {
		t.Errorf("Select of bad lines only = %v, want an InvalidError with no valid entry", err)
	}
}

// A database error in any statement leaves nothing applied.
func TestSelectDatabaseErrorAppliesNothing(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.exec(t, `INSERT INTO contacts (email) SELECT 'user' || i || '@example.com' FROM generate_series(1, 50) i`)
	d.exec(t, `CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.email = 'user40@example.com' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$`)
	d.exec(t, `CREATE TRIGGER boom BEFORE UPDATE ON contacts FOR EACH ROW EXECUTE FUNCTION boom()`)
	var lines []string
	for i := 1; i <= 50; i++ {
		lines = append(lines, fmt.Sprintf("user%d@example.com", i))
	}
	var progress []int
	res, err := operator.Select(t.Context(), d.pool, entries(t, lines...), operator.SelectOptions{Batch: 10,
		Progress: func(done int) { progress = append(progress, done) }})
	if err == nil || !strings.Contains(err.Error(), "nothing applied") || !strings.Contains(err.Error(), "boom") || res.Applied {
		t.Fatalf("Select = %+v, %v; want the error, nothing applied", res, err)
	}
	if n := d.count(t, `brevo_sync_status <> 'New'`); n != 0 {
		t.Errorf("%d contacts selected after the failed transaction, want 0", n)
	}
	if diff := cmp.Diff([]int{10, 20, 30}, progress); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
}

func TestSelectDryRun(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.insert(t, "ada@example.com", "Error", "Error", "boom")
	d.insert(t, "bob@example.com", "Processing", "Processing", "")
	res, err := operator.Select(t.Context(), d.pool, entries(t, "ada@example.com", "bob@example.com"), operator.SelectOptions{DryRun: true})
	if err != nil || res.Applied || res.Selected != 1 || res.AlreadyWaiting != 1 {
		t.Errorf("dry run = %+v, %v; want 1 would be selected, 1 waiting, not applied", res, err)
	}
	if n := d.count(t, `brevo_sync_status = 'Selected'`); n != 0 {
		t.Errorf("dry run selected %d", n)
	}
}

func TestUnselect(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	ids := map[string]string{}
	for _, c := range []struct{ email, sync, proc, err string }{
		{"waiting@example.com", "Selected", "Queued", ""},
		{"queued@example.com", "Queued", "Queued", ""},
		{"retry@example.com", "Queued", "Error", "attempt 1 failed, retrying: 502"},
		{"busy@example.com", "Processing", "Processing", ""},
		{"done@example.com", "Complete", "Complete", ""},
		{"failed@example.com", "Error", "Error", "rejected by Brevo: 400"},
		{"new@example.com", "New", "", ""},
		{"skipped@example.com", "Skipped", "", ""},
	} {
		ids[c.email] = d.insert(t, c.email, c.sync, c.proc, c.err)
	}
	in := entries(t, "WAITING@example.com", "queued@example.com", ids["retry@example.com"], "busy@example.com",
		"done@example.com", "failed@example.com", "new@example.com", "skipped@example.com", "ghost@example.com")
	if _, err := operator.Unselect(t.Context(), d.pool, entries(t, "done@example.com", "bad line"), 0); !errors.Is(err, operator.ErrInvalidEntries) {
		t.Fatalf("Unselect with a bad line = %v, want ErrInvalidEntries", err)
	}
	if s := d.state(t, ids["done@example.com"]); s != "Complete/Complete" {
		t.Fatalf("Unselect with a bad line wrote %s", s)
	}
	res, err := operator.Unselect(t.Context(), d.pool, in, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := operator.UnselectResult{Unselected: 7, AlreadyNew: 1, NotFound: []string{"ghost@example.com"}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Unselect (-want +got):\n%s", diff)
	}
	for email, id := range ids {
		want := "New/NULL"
		if email == "done@example.com" {
			want = "New/Queued" // synced: the mirror takes it out of Brevo's lists (contract §8)
		}
		if s := d.state(t, id); s != want {
			t.Errorf("%s = %s, want %s", email, s, want)
		}
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	phone := d.insert(t, "p1@example.com", "Error", "Error", "rejected by Brevo: 400 invalid_parameter: Invalid phone number")
	d.insert(t, "p2@example.com", "Error", "Error", "rejected by Brevo: 400 invalid_parameter: Invalid phone number")
	gaveUp := d.insert(t, "g@example.com", "Selected", "Error", "gave up after 4 attempts: 502 Bad Gateway")
	d.insert(t, "r@example.com", "Queued", "Error", "attempt 1 failed, retrying: 502 Bad Gateway")
	d.exec(t, `UPDATE contacts SET updated_at = now() - interval '1 hour' WHERE id = $1`, phone)

	all, err := operator.Failures(t.Context(), d.pool, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Failures) != 3 || all.More || all.Failures[2].ID != phone {
		t.Fatalf("Failures = %+v, want the 3 Failed, newest first, the hour-old one last", all)
	}
	rep, err := operator.Status(t.Context(), d.pool)
	if err != nil {
		t.Fatal(err)
	}
	// The filter takes the causes as the status report gives them.
	for _, c := range rep.Errors {
		res, err := operator.Failures(t.Context(), d.pool, c.Cause, 10)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(res.Failures)) != c.States["Failed"] {
			t.Errorf("Failures(%q) = %d contacts, want the report's %d Failed", c.Cause, len(res.Failures), c.States["Failed"])
		}
		for _, f := range res.Failures {
			if f.Cause != c.Cause || f.Error == "" || f.FailedAt == nil || f.RetryCount == nil {
				t.Errorf("failure %+v: want cause %q, its error, time and retry count", f, c.Cause)
			}
		}
	}
	one, err := operator.Failures(t.Context(), d.pool, "502 Bad Gateway", 1)
	if err != nil || len(one.Failures) != 1 || one.Failures[0].ID != gaveUp || one.Failures[0].State != "Failed (Selected/Error)" {
		t.Errorf("Failures(502) = %+v, %v; want the gave-up contact only", one, err)
	}
	page, err := operator.Failures(t.Context(), d.pool, "", 2)
	if err != nil || len(page.Failures) != 2 || !page.More {
		t.Errorf("Failures(limit 2) = %+v, %v; want 2 and more", page, err)
	}
}

func TestContact(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	id := d.insert(t, "ada@example.com", "Complete", "Complete", "")
	d.exec(t, `UPDATE contacts SET brevo_contact_id = '42', brevo_synced_at = now() WHERE id = $1`, id)
	st, err := operator.Contact(t.Context(), d.pool, strings.ToUpper(id))
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != id || st.Email != "ada@example.com" || st.State != "Complete (Complete/Complete)" {
		t.Errorf("Contact = %+v", st)
	}
	for _, c := range []string{"brevo_sync_status", "brevo_processing_status", "brevo_contact_id", "brevo_synced_at",
		"brevo_retry_count", "brevo_claim_token", "brevo_requested_at"} {
		if _, ok := st.Columns[c]; !ok {
			t.Errorf("Contact columns lack %s: %v", c, st.Columns)
		}
	}
	if st.Columns["brevo_contact_id"] != "42" || st.Columns["brevo_claim_token"] != nil || st.Columns["brevo_synced_at"] == nil {
		t.Errorf("Contact columns = %v", st.Columns)
	}
	if _, err := operator.Contact(t.Context(), d.pool, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, operator.ErrNotFound) {
		t.Errorf("Contact(unknown) = %v, want ErrNotFound", err)
	}
}
