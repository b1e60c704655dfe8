package syncer

import (
	"strconv"
	"testing"
	"time"

	"github.com/brevosync/brevosync/sql/schematest"
)

// BenchmarkClaimFinalize measures the database side of syncing a batch:
// one claim of 100 selected rows and one finalize of their outcomes.
// Compare runs with benchstat.
func BenchmarkClaimFinalize(b *testing.B) {
	const batch = 100
	pool := schematest.NewPool(b)
	ctx := b.Context()
	if _, err := pool.Exec(ctx, `INSERT INTO contacts (email, name)
		SELECT 'b' || i || '@example.com', 'Bench ' || i FROM generate_series(1, $1) AS i`, batch); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		if _, err := pool.Exec(ctx, `UPDATE contacts SET brevo_sync_status='Selected', brevo_processing_status='Queued'`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		token, contacts, err := claim(ctx, pool, batch, time.Minute, time.Time{})
		if err != nil || len(contacts) != batch {
			b.Fatalf("claim: %d rows, %v", len(contacts), err)
		}
		outs := make([]outcome, len(contacts))
		for i, c := range contacts {
			outs[i] = complete(c, token, Sent{ID: strconv.Itoa(i + 1), Status: 201}, c.Email)
		}
		written, err := finalize(ctx, pool, outs, true)
		if err != nil || len(written) != batch {
			b.Fatalf("finalize: %d rows, %v", len(written), err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
}
