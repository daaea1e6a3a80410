package agent

import (
	"math/rand/v2"
	"time"
)

// backoff is capped exponential backoff with full jitter: the n-th delay
// is uniform in [0, min(max, min*2^n)]. Because every delay, the first one
// too, is drawn from the whole range, agents that lose the broker at the
// same moment (it restarted, the network came back) spread their attempts
// instead of arriving in step, and keep spreading at every retry; at the
// cap each agent tries on average every max/2, and never gives up.
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

// initial is the delay before the very first connection of a process:
// uniform in [0, min], so that agents started together do not connect in
// the same instant. It does not advance the schedule.
func (b *backoff) initial() time.Duration {
	rnd := b.rnd
	if rnd == nil {
		rnd = rand.Int64N
	}
	return time.Duration(rnd(int64(b.min) + 1))
}
