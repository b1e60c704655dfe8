package brevotest_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/brevosync/brevosync/syncer/brevo"
	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// BenchmarkUpsert measures upserts per second through a brevo.Client with
// 32 requests in flight per CPU, as `brevosync bench` drives the simulator.
func BenchmarkUpsert(b *testing.B) {
	for _, log := range []bool{true, false} {
		b.Run(fmt.Sprintf("log=%v", log), func(b *testing.B) {
			s := brevotest.New(b, brevotest.Config{NoRequestLog: !log})
			c := brevo.NewClient(brevo.Config{BaseURL: s.URL(), APIKey: "k"})
			var n atomic.Int64
			b.SetParallelism(32) // goroutines = 32 × GOMAXPROCS
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					_, err := c.UpsertContact(b.Context(), brevo.Contact{
						Email:      fmt.Sprintf("user%d@example.com", i%5000),
						Attributes: map[string]any{"FIRSTNAME": "Ann", "LASTNAME": "Lee", "HAS_GMAIL": true, "SOURCE_URL": "https://example.com/x"},
						ListIDs:    []int64{3},
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "upserts/s")
		})
	}
}
