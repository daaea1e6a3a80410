package main

import (
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCryptoRefStats(t *testing.T) {
	cases := []struct {
		name          string
		ms            []float64
		lo, med, high float64
	}{
		{"none", nil, 0, 0, 0},
		{"odd", []float64{0.2, 0.08, 0.1}, 0.08, 0.1, 0.2},
		{"even", []float64{0.1, 0.3, 0.08, 0.2}, 0.08, 0.15, 0.3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lo, med, hi := (&cryptoRef{ms: c.ms}).stats()
			if diff := cmp.Diff([]float64{c.lo, c.med, c.high}, []float64{lo, med, hi}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestCryptoRefSample checks that a sample measures something where the
// thread clock exists; never how fast.
func TestCryptoRefSample(t *testing.T) {
	c := newCryptoRef()
	ms, ok := c.one(10 * time.Millisecond)
	if runtime.GOOS == "linux" && (!ok || ms <= 0) {
		t.Fatalf("one() = %v, %v; want a positive thread-CPU figure on linux", ms, ok)
	}
}
