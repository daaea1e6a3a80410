// Package reconnect is how an agent keeps its broker session: the loop
// that runs one session after another, and the capped exponential backoff
// with full jitter between them. The agent (package agent) runs it, and so
// does edgetrust-bench's reconnect storm (issue 17), so the storm measures
// the agents' real schedule, not a copy of it.
package reconnect

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is capped exponential backoff with full jitter: the n-th delay
// is uniform in [0, min(Max, Min*2^n)]. Because every delay, the first one
// too, is drawn from the whole range, agents that lose the broker at the
// same moment (it restarted, the network came back) spread their attempts
// instead of arriving in step, and keep spreading at every retry; at the
// cap each agent tries on average every Max/2, and never gives up.
type Backoff struct {
	Min, Max time.Duration
	// Rand is uniform in [0, n); rand.Int64N when nil.
	Rand func(n int64) int64
	n    int
}

// Next returns the next delay and advances the schedule.
func (b *Backoff) Next() time.Duration {
	ceil := b.Max
	if b.n < 62 {
		if c := b.Min << b.n; c > 0 && c < b.Max {
			ceil = c
			b.n++
		}
	}
	return time.Duration(b.rand()(int64(ceil) + 1))
}

// Reset starts the schedule again at Min.
func (b *Backoff) Reset() { b.n = 0 }

// Initial is the delay before the very first connection of a process:
// uniform in [0, Min], so that agents started together do not connect in
// the same instant. It does not advance the schedule.
func (b *Backoff) Initial() time.Duration {
	return time.Duration(b.rand()(int64(b.Min) + 1))
}

func (b *Backoff) rand() func(int64) int64 {
	if b.Rand == nil {
		return rand.Int64N
	}
	return b.Rand
}

// Loop runs sessions one after another until its context ends.
type Loop struct {
	Min, Max time.Duration
	Rand     func(n int64) int64 // see Backoff.Rand
	Now      func() time.Time    // time.Now when nil
	// Ended is told why each session ended and how long the loop waits
	// before the next one (logs, status); nil = nothing.
	Ended func(err error, retryIn time.Duration)
}

// Run waits Backoff.Initial, then calls session until ctx ends, waiting
// Backoff.Next after each session. The schedule starts again at Min after
// a session that registered and held for min(10 s, Max): a broker that
// accepts and drops at once must not be hammered at the minimum delay.
// session returns when it registered (zero if not) and why it ended.
func (l Loop) Run(ctx context.Context, session func(ctx context.Context) (registeredAt time.Time, err error)) {
	now := l.Now
	if now == nil {
		now = time.Now
	}
	bo := &Backoff{Min: l.Min, Max: l.Max, Rand: l.Rand}
	stable := min(10*time.Second, l.Max)
	Sleep(ctx, bo.Initial())
	for ctx.Err() == nil {
		registeredAt, err := session(ctx)
		if ctx.Err() != nil {
			return
		}
		if !registeredAt.IsZero() && now().Sub(registeredAt) >= stable {
			bo.Reset()
		}
		d := bo.Next()
		if l.Ended != nil {
			l.Ended(err, d)
		}
		Sleep(ctx, d)
	}
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
