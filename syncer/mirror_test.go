package syncer_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// synced inserts a contact and syncs it, returning its id and Brevo's id.
func (b *testBundle) synced(t *testing.T, email, name string) (string, int64) {
	t.Helper()
	var id string
	if err := b.pool.QueryRow(t.Context(), `INSERT INTO contacts (email, name) VALUES ($1, $2) RETURNING id`,
		email, name).Scan(&id); err != nil {
		t.Fatal(err)
	}
	b.selectContacts(t, id)
	b.obs.final(t, id, syncer.ResultComplete)
	c, ok := b.sim.Contact(email)
	if !ok {
		t.Fatalf("Brevo has no %s after its sync", email)
	}
	return id, c.ID
}

// completions counts a contact's complete outcomes in byID (the
// observer's, as its wait conditions see it).
func completions(byID map[string][]syncer.Outcome, id string) int {
	n := 0
	for _, o := range byID[id] {
		if o.Result == syncer.ResultComplete {
			n++
		}
	}
	return n
}

var mirrorOpts = runOpts{level: slog.LevelDebug, listIDs: []int64{7}}

// A synced contact whose name changes is sent again, once, within seconds;
// a change to a column the mapping does not send sends nothing.
func TestMirrorResendsChangedFields(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	b.run(t, testConfig(), mirrorOpts)
	id, _ := b.synced(t, "ada@example.com", "Ada Lovelace")

	// An unmapped column: nothing to send.
	if _, err := b.pool.Exec(t.Context(), `UPDATE contacts SET created_at = now() - interval '1 day' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if r := b.row(t, id); r.Sync != "Complete" || r.Proc != "Complete" {
		t.Errorf("after an unmapped change the row is %s/%s, want Complete/Complete", r.Sync, r.Proc)
	}

	// The name: Update pending, then sent once.
	start := time.Now()
	if _, err := b.pool.Exec(t.Context(), `UPDATE contacts SET name = 'Ada King' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	b.obs.wait(t, "the update", func(_ map[syncer.Result]int, byID map[string][]syncer.Outcome) bool {
		return completions(byID, id) >= 2
	})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the update took %v, want seconds", d)
	}
	c, _ := b.sim.Contact("ada@example.com")
	if c.Attributes["LASTNAME"] != "King" || c.Upserts != 2 {
		t.Errorf("Brevo has %+v, want LASTNAME King after 2 upserts", c)
	}
	if r := b.row(t, id); r.Sync != "Complete" || r.Proc != "Complete" {
		t.Errorf("row after the update = %s/%s, want Complete/Complete", r.Sync, r.Proc)
	}
	if n := len(b.sim.UpsertsFor("ada@example.com")); n != 2 {
		t.Errorf("Brevo received %d upserts, want 2 (the sync and one update)", n)
	}
}

// 10,000 synced contacts changed in one statement: one notification, all
// sent again.
func TestMirrorManyChangedInOneStatement(t *testing.T) {
	t.Parallel()
	const n = 10000
	b := newBundle(t, brevotest.Config{})
	b.insertMany(t, "many", n)
	if _, err := b.pool.Exec(t.Context(), `UPDATE contacts SET brevo_sync_status = 'Complete', brevo_processing_status = 'Complete',
		brevo_synced_at = now(), brevo_synced_email = lower(email)`); err != nil {
		t.Fatal(err)
	}
	conn, err := b.pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(t.Context(), "LISTEN brevosync"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(t.Context(), `UPDATE contacts SET source_url = 'https://example.com/' || id`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(t.Context(), `SELECT pg_notify('brevosync', 'marker')`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if nf, err := conn.Conn().WaitForNotification(ctx); err != nil || nf.Payload != "" {
		t.Fatalf("first notification = %+v, %v; want the update's", nf, err)
	}
	if nf, err := conn.Conn().WaitForNotification(ctx); err != nil || nf.Payload != "marker" {
		t.Fatalf("second notification = %+v, %v; want the marker: one notification for the statement", nf, err)
	}
	if got := b.states(t)["Complete/Queued"]; got != n {
		t.Fatalf("%d rows Update pending, want %d", got, n)
	}
	cfg := testConfig()
	cfg.Concurrency = 50
	b.run(t, cfg, runOpts{level: slog.LevelInfo})
	b.obs.completes(t, n)
	if got := b.states(t)["Complete/Complete"]; got != n {
		t.Errorf("%d rows Complete after the updates, want %d", got, n)
	}
	if st := b.sim.Stats(); st.Upserts != n {
		t.Errorf("Brevo received %d upserts, want %d", st.Upserts, n)
	}
}

// An email change updates the Brevo contact in place: one contact, the new
// email, the old id; an unsubscribed one stays unsubscribed.
func TestMirrorEmailChangeInPlace(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	b.run(t, testConfig(), mirrorOpts)
	id, brevoID := b.synced(t, "old@example.com", "Grace Hopper")
	blocked, blockedBrevoID := b.synced(t, "blocked@example.com", "Barbara Liskov")
	b.sim.SetBlacklisted("blocked@example.com", true)

	for _, c := range []struct{ id, email string }{{id, "New@Example.com"}, {blocked, "still-blocked@example.com"}} {
		if _, err := b.pool.Exec(t.Context(), `UPDATE contacts SET email = $2 WHERE id = $1`, c.id, c.email); err != nil {
			t.Fatal(err)
		}
	}
	b.obs.wait(t, "the email changes", func(_ map[syncer.Result]int, byID map[string][]syncer.Outcome) bool {
		return completions(byID, id) >= 2 && completions(byID, blocked) >= 2
	})
	if _, ok := b.sim.Contact("old@example.com"); ok {
		t.Error("Brevo still has old@example.com")
	}
	c, ok := b.sim.Contact("new@example.com")
	if !ok || c.ID != brevoID {
		t.Errorf("Brevo's new@example.com = %+v (%v), want the old contact (id %d)", c, ok, brevoID)
	}
	if all := b.sim.Contacts(); len(all) != 2 {
		t.Errorf("Brevo holds %d contacts, want 2 (no duplicate for a changed email)", len(all))
	}
	s, ok := b.sim.Contact("still-blocked@example.com")
	if !ok || s.ID != blockedBrevoID || !s.EmailBlacklisted {
		t.Errorf("Brevo's still-blocked@example.com = %+v (%v), want id %d, still blocklisted", s, ok, blockedBrevoID)
	}
	if st := b.sim.Stats(); st.Resubscribed != 0 {
		t.Errorf("%d contacts were resubscribed", st.Resubscribed)
	}
}

// Unselecting a synced contact, or deleting it, takes it out of the list;
// the Brevo contact is kept. A deletion survives a restart.
func TestMirrorRemovesUnselectedAndDeleted(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	svc := b.run(t, testConfig(), mirrorOpts)
	unselected, _ := b.synced(t, "unselected@example.com", "Un Selected")
	deleted, _ := b.synced(t, "deleted@example.com", "De Leted")
	later, _ := b.synced(t, "later@example.com", "La Ter")
	if got := b.sim.ListMembers(7); len(got) != 3 {
		t.Fatalf("list 7 has %v, want the 3 synced contacts", got)
	}

	// The application's unselect: back to New/NULL. The row tells the
	// truth meanwhile (Removal pending is New, never Selected).
	if _, err := b.pool.Exec(t.Context(), `UPDATE contacts SET brevo_sync_status = 'New', brevo_processing_status = NULL
		WHERE id = $1`, unselected); err != nil {
		t.Fatal(err)
	}
	if r := b.row(t, unselected); r.Sync != "New" {
		t.Errorf("an unselected row reads %s/%s, want New", r.Sync, r.Proc)
	}
	if _, err := b.pool.Exec(t.Context(), `DELETE FROM contacts WHERE id = $1`, deleted); err != nil {
		t.Fatal(err)
	}
	b.obs.wait(t, "the removal", func(_ map[syncer.Result]int, byID map[string][]syncer.Outcome) bool {
		return completions(byID, unselected) >= 2
	})
	waitMembers(t, b, 7, 1)
	if r := b.row(t, unselected); r.Sync != "New" || r.Proc != "" {
		t.Errorf("row after its removal = %s/%s, want New/NULL", r.Sync, r.Proc)
	}
	if _, ok := b.sim.Contact("unselected@example.com"); !ok {
		t.Error("the Brevo contact was deleted; it must be kept")
	}

	// Across a restart: a deletion while the service is down is removed
	// when it comes back.
	svc.stop()
	if _, err := b.pool.Exec(t.Context(), `DELETE FROM contacts WHERE id = $1`, later); err != nil {
		t.Fatal(err)
	}
	b.run(t, testConfig(), mirrorOpts)
	waitMembers(t, b, 7, 0)
	// The removal's record goes once the call has returned.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left int
		if err := b.pool.QueryRow(t.Context(), `SELECT count(*) FROM brevosync_removals`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d removals left 10s after the list removal, want none", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitMembers waits until list has n members. The simulator signals a
// request when it arrives, before it is applied, so the list is also
// looked at again every few milliseconds.
func waitMembers(t *testing.T, b *testBundle, list int64, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(b.sim.ListMembers(list)) != n {
		if time.Now().After(deadline) {
			t.Fatalf("list %d has %v, want %d members", list, b.sim.ListMembers(list), n)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		_ = b.sim.WaitStats(ctx, func(brevotest.Stats) bool { return len(b.sim.ListMembers(list)) == n })
		cancel()
	}
}

// With the mirror off, a synced contact's changes, unselect and deletion
// send nothing and leave its row as the application wrote it.
func TestMirrorOff(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	cfg := testConfig()
	cfg.DisableMirror = true
	b.run(t, cfg, mirrorOpts)
	id, _ := b.synced(t, "off@example.com", "Mirror Off")
	gone, _ := b.synced(t, "gone@example.com", "Gone")
	before := b.sim.Stats().Requests
	for _, q := range []string{
		`UPDATE contacts SET name = 'Changed', email = 'changed@example.com' WHERE id = $1`,
		`UPDATE contacts SET brevo_sync_status = 'New', brevo_processing_status = NULL WHERE id = $1`,
	} {
		if _, err := b.pool.Exec(t.Context(), q, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.pool.Exec(t.Context(), `DELETE FROM contacts WHERE id = $1`, gone); err != nil {
		t.Fatal(err)
	}
	// A later request proves the claim loop ran past all of it.
	marker, _ := b.synced(t, "marker@example.com", "Marker")
	_ = marker
	if r := b.row(t, id); r.Sync != "New" || r.Proc != "" {
		t.Errorf("row = %s/%s, want New/NULL as the application wrote it", r.Sync, r.Proc)
	}
	if got := b.sim.Stats().Requests - before; got != 1 {
		t.Errorf("%d requests after the changes, want only the marker's 1", got)
	}
	var removals int
	if err := b.pool.QueryRow(t.Context(), `SELECT count(*) FROM brevosync_removals`).Scan(&removals); err != nil || removals != 0 {
		t.Errorf("%d removals recorded with the mirror off (%v)", removals, err)
	}
	_ = fmt.Sprint
}

// A mapped change made while the contact's first sync is in flight is not
// lost: the request starts again with the new data.
func TestMirrorChangeWhileFirstSyncInFlight(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	b.run(t, testConfig(), mirrorOpts)
	var id string
	if err := b.pool.QueryRow(t.Context(), `INSERT INTO contacts (email, name) VALUES ('flight@example.com', 'Old Name')
		RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	b.sim.OnUpsert(func(r brevotest.Request) {
		if r.Email == "flight@example.com" && len(b.sim.UpsertsFor("flight@example.com")) == 1 {
			<-release // the first upsert waits while the row changes
		}
	})
	b.selectContacts(t, id)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := b.sim.WaitUpserts(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(t.Context(), `UPDATE contacts SET name = 'New Name' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	close(release)
	b.obs.wait(t, "the second sync", func(_ map[syncer.Result]int, byID map[string][]syncer.Outcome) bool {
		return completions(byID, id) >= 1 && len(b.sim.UpsertsFor("flight@example.com")) >= 2
	})
	c, _ := b.sim.Contact("flight@example.com")
	if c.Attributes["LASTNAME"] != "Name" || c.Attributes["FIRSTNAME"] != "New" {
		t.Errorf("Brevo has %v, want the new name", c.Attributes)
	}
	if r := b.row(t, id); r.Sync != "Complete" {
		t.Errorf("row = %+v, want Complete", r)
	}
}

// A large change to synced contacts goes through the import path, like a
// large selection.
func TestMirrorLargeChangeIsImported(t *testing.T) {
	t.Parallel()
	const n = 2000
	b := newBundle(t, brevotest.Config{})
	b.insertMany(t, "bulk", n)
	if _, err := b.pool.Exec(t.Context(), `UPDATE contacts SET brevo_sync_status = 'Complete', brevo_processing_status = 'Complete',
		brevo_synced_at = now(), brevo_synced_email = lower(email)`); err != nil {
		t.Fatal(err)
	}
	b.run(t, importConfig(500, nil), importOpts(0))
	if _, err := b.pool.Exec(t.Context(), `UPDATE contacts SET name = 'Renamed ' || id`); err != nil {
		t.Fatal(err)
	}
	b.obs.completes(t, n)
	st := b.sim.Stats()
	if st.Imports == 0 || st.ImportedRows < n/2 {
		t.Errorf("%d imports of %d rows for %d changed contacts, want most of them imported", st.Imports, st.ImportedRows, n)
	}
	if got := b.states(t)["Complete/Complete"]; got != n {
		t.Errorf("%d rows Complete after the updates, want %d", got, n)
	}
}
