package agent

import (
	"math/rand/v2"
	"time"
)

// backoff is capped exponential backoff with full jitter: the n-th delay
// is uniform in [0, min(max, min*2^n)].
type backoff struct {
	min, max time.Duration
	n        int
	rnd      func(n int64) int64 // uniform in [0, n); rand.Int64N when nil
}

func (b *backoff) next() time.Duration {
	ceil := b.max
	if b.n < 62 {
		if c := b.min << b.n; c > 0 && c < b.max {
			ceil = c
			b.n++
		}
	}
	rnd := b.rnd
	if rnd == nil {
		rnd = rand.Int64N
	}
	return time.Duration(rnd(int64(ceil) + 1))
}

func (b *backoff) reset() { b.n = 0 }
