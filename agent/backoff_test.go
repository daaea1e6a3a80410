package agent

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/internal/fakebroker"
	"github.com/edgetrust/edgetrust/protocol"
)

func TestBackoffCeilings(t *testing.T) {
	var ceilings []time.Duration
	b := &backoff{Min: 500 * time.Millisecond, Max: 5 * time.Second, Rand: func(n int64) int64 {
		ceilings = append(ceilings, time.Duration(n-1))
		return n - 1 // the largest possible delay
	}}
	var got []time.Duration
	for i := 0; i < 7; i++ {
		got = append(got, b.Next())
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delays (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, ceilings); diff != "" {
		t.Errorf("ceilings (-want +got):\n%s", diff)
	}
	b.Reset()
	if d := b.Next(); d != 500*time.Millisecond {
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
			b := &backoff{Min: tt.min, Max: tt.max}
			var sum float64
			for i := 0; i < 2000; i++ {
				d := b.Next()
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

// simulate runs the reconnect schedule of n agents that all start (or all
// lose the broker) at time 0 while the broker stays unreachable until
// horizon: every attempt fails at once, the worst case for lock-step. first
// gives an agent's first delay. It returns each agent's attempt times.
func simulate(n int, horizon time.Duration, newBackoff func(i int) *backoff, first func(b *backoff) time.Duration) [][]time.Duration {
	out := make([][]time.Duration, n)
	for i := range out {
		b := newBackoff(i)
		for t := first(b); t < horizon; t += b.Next() {
			out[i] = append(out[i], t)
		}
	}
	return out
}

func seeded(lo, hi time.Duration) func(i int) *backoff {
	return func(i int) *backoff {
		return &backoff{Min: lo, Max: hi, Rand: rand.New(rand.NewPCG(42, uint64(i))).Int64N}
	}
}

// peak is the largest number of attempts inside any window of width w.
func peak(attempts [][]time.Duration, w time.Duration) int {
	var all []time.Duration
	for _, a := range attempts {
		all = append(all, a...)
	}
	slices.Sort(all)
	best, lo := 0, 0
	for hi := range all {
		for all[hi]-all[lo] >= w {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// ksUniform is the Kolmogorov-Smirnov distance between the samples and
// the uniform distribution on [0, max].
func ksUniform(samples []time.Duration, hi time.Duration) float64 {
	x := slices.Clone(samples)
	slices.Sort(x)
	n := float64(len(x))
	var d float64
	for i, v := range x {
		f := float64(v) / float64(hi)
		d = math.Max(d, math.Max(float64(i+1)/n-f, f-float64(i)/n))
	}
	return d
}

// A thousand agents that start together, or lose the broker together, do
// not come back in step: their first attempts are spread uniformly over
// [0, min], no short window ever holds a crowd of them, and at the cap they
// keep arriving at an even rate, forever.
func TestBackoffSpreadsAThousandAgents(t *testing.T) {
	const n = 1000
	lo, hi := DefaultMinBackoff, DefaultMaxBackoff
	window := lo / 10
	starts := map[string]func(b *backoff) time.Duration{
		"started together":         (*backoff).Initial,
		"lost the broker together": (*backoff).Next,
	}
	for name, first := range starts {
		t.Run(name, func(t *testing.T) {
			runs := simulate(n, 10*time.Minute, seeded(lo, hi), first)
			firsts := make([]time.Duration, n)
			for i, r := range runs {
				firsts[i] = r[0]
				if r[0] < 0 || r[0] > lo {
					t.Fatalf("agent %d first attempt at %v, outside [0, %v]", i, r[0], lo)
				}
			}
			// The first attempts are uniform over [0, min] (KS test at the
			// 1% level: critical distance 1.63/sqrt(n)).
			d, crit := ksUniform(firsts, lo), 1.63/math.Sqrt(n)
			if d > crit {
				t.Errorf("first attempts are not uniform over [0, %v]: KS distance %.4f > %.4f", lo, d, crit)
			}
			// In step, all n would share one window. Spread, a window of
			// min/10 holds about n/10 of each round of attempts; the first
			// two or three rounds overlap, so a window holds n/4 at most
			// (across seeds), never near n.
			crowd := peak(runs, window)
			if crowd > n*3/10 {
				t.Errorf("%d of %d agents' attempts fall within %v of each other", crowd, n, window)
			}
			// At the cap (past 2 minutes every agent is there) attempts
			// arrive at about n/(max/2) a second; no second sees twice that.
			var steady [][]time.Duration
			for _, r := range runs {
				i, _ := slices.BinarySearch(r, 2*time.Minute)
				steady = append(steady, r[i:])
			}
			rate := float64(n) / (hi / 2).Seconds()
			busiest := peak(steady, time.Second)
			if float64(busiest) > 2*rate {
				t.Errorf("%d attempts in one second at the cap; the mean is %.0f", busiest, rate)
			}
			t.Logf("KS distance of first attempts %.4f (limit %.4f); busiest %v window: %d attempts; busiest second at the cap: %d (mean %.0f)",
				d, crit, window, crowd, busiest, rate)
		})
	}
}

// The spread checks above would catch agents in step: the same schedule
// without jitter puts all of them in one window.
func TestBackoffSpreadCheckCatchesLockStep(t *testing.T) {
	const n = 1000
	noJitter := func(int) *backoff {
		return &backoff{Min: DefaultMinBackoff, Max: DefaultMaxBackoff, Rand: func(n int64) int64 { return n - 1 }}
	}
	runs := simulate(n, 10*time.Minute, noJitter, (*backoff).Next)
	if p := peak(runs, DefaultMinBackoff/10); p != n {
		t.Fatalf("without jitter peak = %d, want all %d", p, n)
	}
}

// Retries never stop and never wait longer than the cap, however long the
// broker stays away.
func TestBackoffNeverGivesUp(t *testing.T) {
	runs := simulate(100, 6*time.Hour, seeded(DefaultMinBackoff, DefaultMaxBackoff), (*backoff).Next)
	for i, r := range runs {
		for j := 1; j < len(r); j++ {
			if gap := r[j] - r[j-1]; gap > DefaultMaxBackoff {
				t.Fatalf("agent %d waited %v between attempts %d and %d", i, gap, j-1, j)
			}
		}
		if last := r[len(r)-1]; last < 6*time.Hour-DefaultMaxBackoff {
			t.Fatalf("agent %d stopped trying at %v", i, last)
		}
	}
}

// Run draws its first connection and its first reconnect from the jittered
// schedule: both are uniform in [0, MinBackoff], never at a fixed instant.
func TestRunJittersFirstConnectionAndReconnect(t *testing.T) {
	const minBackoff = 200 * time.Millisecond
	var mu sync.Mutex
	var draws []int64
	srv := fakebroker.New(t, fakebroker.Handler{
		Register: func(c *fakebroker.Conn, r *protocol.Register) protocol.Message {
			return &protocol.Registered{EndpointID: c.Hello.ClientID, State: protocol.StatePending}
		},
	})
	start := time.Now()
	startAgent(t, srv, func(c *Config) {
		c.MinBackoff, c.MaxBackoff = minBackoff, time.Second
		c.rnd = func(n int64) int64 { // the longest delay, to see it
			mu.Lock()
			defer mu.Unlock()
			draws = append(draws, n)
			return n - 1
		}
	})
	c, err := srv.NextConn(ctx10(t))
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < minBackoff {
		t.Errorf("first connection after %v, before the drawn delay %v", waited, minBackoff)
	}
	poll(t, func() bool { return len(c.Registers()) == 1 }, "registration")
	c.Kill("broker restarting")
	if _, err := srv.NextConn(ctx10(t)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := slices.Clone(draws[:2])
	mu.Unlock()
	// Each draw is from [0, n): n-1 = MinBackoff for both.
	want := []int64{int64(minBackoff) + 1, int64(minBackoff) + 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delay ranges drawn (-want +got):\n%s", diff)
	}
}
