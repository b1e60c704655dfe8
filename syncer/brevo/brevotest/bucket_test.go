package brevotest

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type step struct {
		at   time.Time
		ok   bool
		want rateHeaders
	}
	tests := []struct {
		name  string
		rate  float64
		steps []step
	}{
		{"off", 0, []step{
			{at(0), true, rateHeaders{offLimit, offLimit, 0}},
			{at(0), true, rateHeaders{offLimit, offLimit, 0}},
		}},
		{"burst then refill", 2, []step{
			{at(0), true, rateHeaders{2, 1, 1}},
			{at(0), true, rateHeaders{2, 0, 1}},
			{at(0), false, rateHeaders{2, 0, 1}},
			{at(400), false, rateHeaders{2, 0, 1}},
			{at(600), true, rateHeaders{2, 0, 1}},
			{at(2000), true, rateHeaders{2, 1, 1}},
		}},
		{"slower than one a second", 0.5, []step{
			{at(0), true, rateHeaders{1, 0, 2}},
			{at(0), false, rateHeaders{1, 0, 2}},
			{at(1000), false, rateHeaders{1, 0, 1}},
			{at(2000), true, rateHeaders{1, 0, 2}},
		}},
	}
	for _, tt := range tests {
		b := newBucket(tt.rate, t0)
		for i, st := range tt.steps {
			got, ok := b.take(st.at)
			if ok != st.ok || got != st.want {
				t.Errorf("%s: step %d: take = %+v, %v; want %+v, %v", tt.name, i, got, ok, st.want, st.ok)
			}
		}
	}
}
