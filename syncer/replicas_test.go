package syncer_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brevosync/brevosync/syncer"
	"github.com/brevosync/brevosync/syncer/brevo"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// Several replicas share one large selection, made in ONE statement: the
// claims (FOR UPDATE SKIP LOCKED under a claim token) hand every contact to
// exactly one replica, so Brevo receives each contact once and every row
// ends Complete.
//
// 20,000 contacts take 15–25 s per configuration under -race on two cores,
// so two replicas get 10,000, claimed 10 at a time: many small claims racing
// for the same rows, where TestTenThousandSelectedInOneStatement claims 100
// at a time.
func TestReplicasShareOneBigSelection(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ replicas, contacts, batch int }{{3, 20000, 0}, {2, 10000, 10}} {
		t.Run(fmt.Sprintf("replicas=%d/contacts=%d", tt.replicas, tt.contacts), func(t *testing.T) {
			timed(t, t.Name())
			b := newBundle(t, brevotest.Config{NoRequestLog: true})
			cfg := testConfig()
			cfg.Concurrency = 32
			cfg.BatchSize = tt.batch
			done := make([]atomic.Int64, tt.replicas) // completions per replica
			for i := range tt.replicas {
				b.run(t, cfg, runOpts{onOutcome: func(o syncer.Outcome) {
					if o.Result == syncer.ResultComplete {
						done[i].Add(1)
					}
				}})
			}
			b.selectMany(t, tt.contacts)
			b.obs.completes(t, tt.contacts)
			b.assertAllSyncedOnce(t, tt.contacts)
			var split []int64
			for i := range done {
				split = append(split, done[i].Load())
				if done[i].Load() == 0 {
					t.Errorf("replica %d synced no contact: the selection was not shared", i)
				}
			}
			t.Logf("contacts synced per replica: %v", split)
		})
	}
}

// sweepLockKey is the advisory lock syncer/store.go's sweepOnce takes for
// the sweep's heavy part ("brevosyc"). Kept in step by hand: if it changes
// there, TestSweepRunsOnOneReplicaAtATime fails here.
const sweepLockKey int64 = 0x62726576_6f737963

// TestSweepRunsOnOneReplicaAtATime: the sweep's heavy part (taking back
// expired claims, counting what is due) runs on one replica at a time. While
// another holds the lock every replica reports Skipped and changes nothing;
// once it is free a sweep runs; and of three sweeps started together, while
// one is inside the heavy part the other two skip at once rather than run it
// too.
//
// The replicas are syncers that are not Run: a running claim loop takes
// back expired claims by itself (guarded, outside the lock), which would
// hide what the sweep did.
func TestSweepRunsOnOneReplicaAtATime(t *testing.T) {
	t.Parallel()
	b := newBundle(t, brevotest.Config{})
	replicas := make([]*syncer.Syncer, 3)
	for i := range replicas {
		client := brevo.NewClient(brevo.Config{BaseURL: b.sim.URL(), APIKey: apiKey, Timeout: 2 * time.Second})
		s, err := syncer.New(b.pool, brevo.NewCRM(client, nil), testConfig())
		if err != nil {
			t.Fatal(err)
		}
		replicas[i] = s
	}
	const expired = 50
	emails := b.insertMany(t, "claimed", expired)
	// expire leaves every contact claimed by a replica that died: Processing
	// under a claim token whose lease ran out a minute ago.
	expire := func() {
		t.Helper()
		tag, err := b.pool.Exec(t.Context(), `UPDATE contacts SET brevo_sync_status='Processing', brevo_processing_status='Processing',
			brevo_claim_token=gen_random_uuid(), brevo_lease_until=now() - interval '1 minute'`)
		if err != nil || tag.RowsAffected() != expired {
			t.Fatalf("expire claims: %v (%d rows)", err, tag.RowsAffected())
		}
	}
	wantRescued := map[string]int{"Queued/Queued": expired}

	// 1. Another replica is sweeping (holds the lock): every replica skips.
	expire()
	holder, err := b.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Rollback(context.Background()) }) // before the pool closes
	if _, err := holder.Exec(t.Context(), `SELECT pg_advisory_xact_lock($1)`, sweepLockKey); err != nil {
		t.Fatal(err)
	}
	for i, s := range replicas {
		r, err := s.Sweep(t.Context())
		if err != nil || !r.Skipped || r.Rescued != 0 {
			t.Errorf("replica %d: Sweep = %+v, %v while another holds the sweep lock; want Skipped, nothing rescued", i, r, err)
		}
	}
	if diff := cmp.Diff(map[string]int{"Processing/Processing": expired}, b.states(t)); diff != "" {
		t.Errorf("after skipped sweeps, row states (-want +got):\n%s", diff)
	}

	// 2. The lock is free again: the sweep runs.
	if err := holder.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	r, err := replicas[1].Sweep(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if r.Skipped || r.Rescued != expired || r.Due != expired {
		t.Errorf("Sweep = %+v; want it run, %d rescued and due", r, expired)
	}
	if diff := cmp.Diff(wantRescued, b.states(t)); diff != "" {
		t.Errorf("after the sweep, row states (-want +got):\n%s", diff)
	}
	for e, row := range b.rowsByEmail(t) {
		if row.Claimed || row.Retries != 0 {
			t.Errorf("rescued row %s = %+v; want unclaimed, no attempt charged", e, row)
		}
	}

	// 3. Three sweeps started together. A test transaction locks one of the
	// expired rows, so whichever replica gets the sweep lock is held inside
	// the heavy part (its rescue waits for that row) until the test lets
	// go. Meanwhile the other two must come back Skipped; had they run the
	// heavy part as well, they would be waiting on the row too.
	expire()
	blocker, err := b.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = blocker.Rollback(context.Background()) })
	if _, err := blocker.Exec(t.Context(), `SELECT 1 FROM contacts WHERE email = $1 FOR UPDATE`, emails[0]); err != nil {
		t.Fatal(err)
	}
	type result struct {
		replica int
		r       syncer.SweepReport
		err     error
	}
	start := make(chan struct{})
	results := make(chan result, len(replicas))
	for i, s := range replicas {
		go func() {
			<-start
			r, err := s.Sweep(t.Context())
			results <- result{i, r, err}
		}()
	}
	close(start)
	timeout := time.After(20 * time.Second)
	rescued := int64(0)
	for range len(replicas) - 1 {
		select {
		case res := <-results:
			if res.err != nil || !res.r.Skipped {
				t.Errorf("replica %d: Sweep = %+v, %v while another replica is inside the sweep; want Skipped", res.replica, res.r, res.err)
			}
			rescued += res.r.Rescued
		case <-timeout:
			t.Fatal("two sweeps are stuck inside the heavy part at once: the sweep lock does not exclude them")
		}
	}
	select {
	case res := <-results:
		t.Fatalf("replica %d's sweep returned %+v, %v while the row it must rescue is locked", res.replica, res.r, res.err)
	default:
	}
	if err := blocker.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-results:
		if res.err != nil || res.r.Skipped || res.r.Rescued != expired {
			t.Errorf("replica %d: Sweep = %+v, %v; want it run and %d rescued", res.replica, res.r, res.err, expired)
		}
		rescued += res.r.Rescued
	case <-timeout:
		t.Fatal("the sweep holding the lock never finished")
	}
	if rescued != expired {
		t.Errorf("the replicas rescued %d claims in all, want %d (each expired claim once)", rescued, expired)
	}
	if diff := cmp.Diff(wantRescued, b.states(t)); diff != "" {
		t.Errorf("after concurrent sweeps, row states (-want +got):\n%s", diff)
	}
}
