package agent

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBackoffCeilings(t *testing.T) {
	var ceilings []time.Duration
	b := &backoff{min: 500 * time.Millisecond, max: 5 * time.Second, rnd: func(n int64) int64 {
		ceilings = append(ceilings, time.Duration(n-1))
		return n - 1 // the largest possible delay
	}}
	var got []time.Duration
	for i := 0; i < 7; i++ {
		got = append(got, b.next())
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delays (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, ceilings); diff != "" {
		t.Errorf("ceilings (-want +got):\n%s", diff)
	}
	b.reset()
	if d := b.next(); d != 500*time.Millisecond {
		t.Errorf("after reset: %v", d)
	}
}

func TestBackoffJitter(t *testing.T) {
	tests := []struct {
		name     string
		min, max time.Duration
	}{
		{"defaults", 500 * time.Millisecond, 60 * time.Second},
		{"tiny", time.Millisecond, 10 * time.Millisecond},
		{"huge max", time.Second, 1 << 62},
		{"min equals max", time.Second, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &backoff{min: tt.min, max: tt.max}
			var sum float64
			for i := 0; i < 2000; i++ {
				d := b.next()
				if d < 0 || d > tt.max {
					t.Fatalf("delay %v outside [0, %v]", d, tt.max)
				}
				if i >= 1000 {
					sum += float64(d)
				}
			}
			// Full jitter: at the cap the mean is about max/2, not max.
			mean := sum / 1000 / float64(tt.max)
			if mean < 0.4 || mean > 0.6 {
				t.Errorf("mean delay at cap is %.2f of max, want about 0.5", mean)
			}
		})
	}
}
