package syncer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// The application's other writers (contract §2): its DeBounce auto-queue
// writes Queued/Queued, its "reset failed" SQL Error/Queued. Each is a
// request like the UI's: synced within seconds (the sweep is an hour away
// here), starting fresh, so a row's stale retry count from an earlier
// request does not fail it on its first 5xx.
func TestRequestsFromEveryWriter(t *testing.T) {
	t.Parallel()
	for _, pair := range [][2]string{{"Queued", "Queued"}, {"Error", "Queued"}} {
		t.Run(pair[0]+"/"+pair[1], func(t *testing.T) {
			t.Parallel()
			b := newBundle(t, brevotest.Config{})
			b.start(t, testConfig())
			email := "writer@example.com"
			var id string
			err := b.pool.QueryRow(t.Context(), `INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status,
				brevo_processing_error, brevo_retry_count) VALUES ($1, 'Error', 'Error', 'gave up after 4 attempts', 3)
				RETURNING id`, email).Scan(&id)
			if err != nil {
				t.Fatal(err)
			}
			b.sim.Script(email, brevotest.Fault{Status: 503})
			start := time.Now()
			if _, err := b.pool.Exec(t.Context(), `UPDATE contacts SET brevo_sync_status = $2, brevo_processing_status = $3
				WHERE id = $1`, id, pair[0], pair[1]); err != nil {
				t.Fatal(err)
			}
			b.obs.final(t, id, syncer.ResultComplete)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("a %s/%s request took %v to sync; want seconds, not the sweep", pair[0], pair[1], d)
			}
			outs := b.obs.byIDCopy(id)
			if len(outs) != 2 || outs[0].Result != syncer.ResultRetry || outs[0].Attempt != 1 {
				t.Errorf("outcomes = %+v, want a retry of attempt 1 (the stale count was reset), then complete", outs)
			}
		})
	}
}

// Rows the old scheduler left claimed, with no lease, are taken back within
// seconds of start and synced; Selected/Error is Failed.
func TestInterruptedClaimsTakenBackAtStart(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	var ids []string
	for i, pair := range [][2]string{{"Selected", "Processing"}, {"Processing", "Processing"}} {
		var id string
		err := b.pool.QueryRow(t.Context(), `INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status)
			VALUES ($1, $2, $3) RETURNING id`, fmt.Sprintf("interrupted%d@example.com", i), pair[0], pair[1]).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	start := time.Now()
	b.start(t, testConfig())
	for _, id := range ids {
		b.obs.final(t, id, syncer.ResultComplete)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("interrupted claims took %v to sync after start", d)
	}
}

// One email on three rows (the application's key is (domain_id, email)),
// waiting together: one upsert with the most recently requested row's
// data, and every row gets the outcome and Brevo's id.
func TestOneEmailSeveralRows(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	var ids []string
	for i, email := range []string{"Same@Example.com", "same@example.com", " SAME@example.COM"} {
		var id string
		err := b.pool.QueryRow(t.Context(), `INSERT INTO contacts (email, name) VALUES ($1, $2) RETURNING id`,
			email, fmt.Sprintf("Row %d", i)).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// Selected in two statements, the last row last: its data is sent.
	b.selectContacts(t, ids[0], ids[1])
	if _, err := b.pool.Exec(t.Context(), `UPDATE contacts SET brevo_requested_at = now() - interval '1 second'
		WHERE id = ANY($1)`, ids[:2]); err != nil {
		t.Fatal(err)
	}
	b.selectContacts(t, ids[2])
	b.start(t, testConfig())
	for _, id := range ids {
		b.obs.final(t, id, syncer.ResultComplete)
	}
	ups := b.sim.UpsertsFor("same@example.com")
	if len(ups) != 1 {
		t.Fatalf("Brevo received %d upserts for one email on three rows, want 1", len(ups))
	}
	sim, _ := b.sim.Contact("same@example.com")
	if got := sim.Attributes["FIRSTNAME"]; got != "Row" || sim.Attributes["LASTNAME"] != "2" {
		t.Errorf("Brevo has %v, want the most recently requested row's name (Row 2)", sim.Attributes)
	}
	for _, id := range ids {
		r := b.row(t, id)
		if r.Sync != "Complete" || r.ContactID == nil || *r.ContactID != fmt.Sprint(sim.ID) {
			t.Errorf("row %s = %+v, want Complete with Brevo id %d", id, r, sim.ID)
		}
	}
}

// Outcome writes bump updated_at, which the application's monitoring reads.
func TestOutcomeBumpsUpdatedAt(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	id := b.insert(t, "bump@example.com")
	if _, err := b.pool.Exec(t.Context(), `UPDATE contacts SET updated_at = now() - interval '1 day' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	b.start(t, testConfig())
	b.selectContacts(t, id)
	b.obs.final(t, id, syncer.ResultComplete)
	var fresh bool
	if err := b.pool.QueryRow(t.Context(), `SELECT updated_at > now() - interval '1 minute' FROM contacts WHERE id = $1`, id).
		Scan(&fresh); err != nil || !fresh {
		t.Errorf("updated_at not bumped by the outcome write (%v)", err)
	}
}

// Brevo refuses a contact whose SMS number another contact holds: it is
// sent again without the SMS, and the row says why its phone number was
// left out.
func TestDuplicateSMSSentWithoutIt(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	b.start(t, testConfig())
	var first, second string
	for _, c := range []struct {
		email string
		id    *string
	}{{"first@example.com", &first}, {"second@example.com", &second}} {
		if err := b.pool.QueryRow(t.Context(), `INSERT INTO contacts (email, phone_number) VALUES ($1, '+33612345678')
			RETURNING id`, c.email).Scan(c.id); err != nil {
			t.Fatal(err)
		}
	}
	b.selectContacts(t, first)
	b.obs.final(t, first, syncer.ResultComplete)
	b.selectContacts(t, second)
	b.obs.final(t, second, syncer.ResultComplete)

	sim, ok := b.sim.Contact("second@example.com")
	if !ok || sim.Attributes["SMS"] != nil {
		t.Errorf("Brevo has second@example.com = %+v (%v), want it without the SMS", sim, ok)
	}
	if ups := b.sim.UpsertsFor("second@example.com"); len(ups) != 2 || ups[0].Status != 400 || ups[1].Status != 201 {
		t.Errorf("upserts of the second contact: %d, want a 400 then a 201", len(ups))
	}
	var note *string
	if err := b.pool.QueryRow(t.Context(), `SELECT brevo_sync_note FROM contacts WHERE id = $1`, second).Scan(&note); err != nil {
		t.Fatal(err)
	}
	if note == nil || !strings.Contains(*note, "another contact") {
		t.Errorf("brevo_sync_note = %v, want why the phone number was left out", note)
	}
	if r := b.row(t, second); r.Sync != "Complete" || r.Error != nil {
		t.Errorf("row = %+v, want Complete with no error", r)
	}
}

// The sweep runs its tasks on the replica that holds its lock, each under a
// savepoint: one that fails is reported and the others still run.
func TestSweepRunsItsTasks(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	if _, err := b.pool.Exec(t.Context(), `INSERT INTO brevosync_webhook_events (dedupe_key, event, effect, payload, received_at)
		VALUES ('old', 'opened', 'none', '{}', now() - interval '40 days'), ('new', 'opened', 'none', '{}', now())`); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.SweepTasks = []syncer.SweepTask{
		{Name: "broken", Run: func(ctx context.Context, tx pgx.Tx) (int64, error) {
			_, err := tx.Exec(ctx, `SELECT no_such_function()`)
			return 0, err
		}},
		{Name: "prune", Run: func(ctx context.Context, tx pgx.Tx) (int64, error) {
			tag, err := tx.Exec(ctx, `DELETE FROM brevosync_webhook_events WHERE received_at < now() - interval '30 days'`)
			return tag.RowsAffected(), err
		}},
	}
	s, err := syncer.New(b.pool, brevo.NewCRM(brevo.NewClient(brevo.Config{BaseURL: b.sim.URL(), APIKey: apiKey}), nil), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Sweep(t.Context())
	if err != nil {
		t.Fatalf("Sweep: %v (a failing task must not fail the sweep)", err)
	}
	if r.Tasks["broken"].Err == nil || r.Tasks["prune"].Count != 1 || r.Tasks["prune"].Err != nil {
		t.Errorf("task results = %+v, want broken failed and prune deleting 1", r.Tasks)
	}
	var left int
	if err := b.pool.QueryRow(t.Context(), `SELECT count(*) FROM brevosync_webhook_events`).Scan(&left); err != nil || left != 1 {
		t.Errorf("%d events left (%v), want the new one", left, err)
	}
}
