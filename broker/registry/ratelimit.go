package registry

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiterSet holds one token bucket per key (an address or a username),
// forgetting idle ones so an attacker cycling keys cannot grow it forever.
type limiterSet struct {
	mu    sync.Mutex
	limit rate.Limit
	burst int
	m     map[string]*limiterEntry
	swept time.Time
}

type limiterEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

const limiterIdle = 10 * time.Minute

func newLimiterSet(limit rate.Limit, burst int) *limiterSet {
	return &limiterSet{limit: limit, burst: burst, m: make(map[string]*limiterEntry)}
}

// allow takes one token from key's bucket at now.
func (s *limiterSet) allow(key string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.swept) > limiterIdle {
		for k, e := range s.m {
			if now.Sub(e.seen) > limiterIdle {
				delete(s.m, k)
			}
		}
		s.swept = now
	}
	e := s.m[key]
	if e == nil {
		e = &limiterEntry{lim: rate.NewLimiter(s.limit, s.burst)}
		s.m[key] = e
	}
	e.seen = now
	return e.lim.AllowN(now, 1)
}
