package registry

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FailureLimit is how many failures a scope (an address, a key's public
// id, a user) may have in Per before its next attempt is limited. The
// count is a sliding window: the previous window's count weighs in by the
// part of it still inside Per of now.
type FailureLimit struct {
	N   int
	Per time.Duration
}

func (l FailureLimit) String() string {
	switch l.Per {
	case time.Second:
		return strconv.Itoa(l.N) + "/s"
	case time.Minute:
		return strconv.Itoa(l.N) + "/min"
	case time.Hour:
		return strconv.Itoa(l.N) + "/h"
	}
	return strconv.Itoa(l.N) + "/" + l.Per.String()
}

// KeyFailureLimits limit failed API key presentations (issue 15): per
// source address (IPv6 by /64) and per key public id.
type KeyFailureLimits struct {
	PerAddress FailureLimit
	PerKey     FailureLimit
}

// DefaultKeyFailureLimits: 20 failures a minute per address, 10 a minute
// per key public id.
var DefaultKeyFailureLimits = KeyFailureLimits{
	PerAddress: FailureLimit{N: 20, Per: time.Minute},
	PerKey:     FailureLimit{N: 10, Per: time.Minute},
}

func (l KeyFailureLimits) String() string { return l.PerAddress.String() + "," + l.PerKey.String() }

// ParseKeyFailureLimits parses the value of --key-failure-limit:
// "ADDRESS_LIMIT,KEY_LIMIT", each "N/UNIT" with UNIT one of s, min, h or
// a Go duration ("20/min,10/min", "100/10m,50/10m"). "" means the
// defaults. N must be at least 1.
func ParseKeyFailureLimits(s string) (KeyFailureLimits, error) {
	if s == "" {
		return DefaultKeyFailureLimits, nil
	}
	a, k, ok := strings.Cut(s, ",")
	if !ok {
		return KeyFailureLimits{}, fmt.Errorf("%q: want PER_ADDRESS,PER_KEY, e.g. 20/min,10/min", s)
	}
	var out KeyFailureLimits
	var err error
	if out.PerAddress, err = parseFailureLimit(a); err != nil {
		return KeyFailureLimits{}, fmt.Errorf("%q: per address: %w", s, err)
	}
	if out.PerKey, err = parseFailureLimit(k); err != nil {
		return KeyFailureLimits{}, fmt.Errorf("%q: per key: %w", s, err)
	}
	return out, nil
}

func parseFailureLimit(s string) (FailureLimit, error) {
	ns, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return FailureLimit{}, errors.New("want N/UNIT, e.g. 20/min")
	}
	n, err := strconv.Atoi(ns)
	if err != nil || n < 1 {
		return FailureLimit{}, fmt.Errorf("count %q must be a whole number of at least 1", ns)
	}
	var per time.Duration
	switch unit {
	case "s", "sec":
		per = time.Second
	case "m", "min":
		per = time.Minute
	case "h", "hour":
		per = time.Hour
	default:
		per, err = time.ParseDuration(unit)
		if err != nil || per < time.Second {
			return FailureLimit{}, fmt.Errorf("unit %q must be s, min, h or a duration of at least 1s", unit)
		}
	}
	return FailureLimit{N: n, Per: per}, nil
}

// failureWindow is the count of one scope in one window.
type failureWindow struct {
	own    int // failures seen by this broker
	merged int // the store's total at the last merge (every broker)
	snap   int // own as it was when merged was read (own-snap: since)
	sent   int // own already added to the store
}

func (w *failureWindow) total() int { return w.merged + w.own - w.snap }

// failureCounts counts failures per scope in fixed windows of length per,
// the current and the previous one, in memory. Merge adds this broker's
// new counts to the store and reads every broker's totals, at most once a
// second (Registry.MergeFailures), so a flood costs no durable write per
// failure. A scope is a string such as "addr:192.0.2.1" or "key:<public
// id>"; each kind has its own FailureLimit. Maps hold only the two windows
// in use, so memory is bounded by the failures of two windows.
type failureCounts struct {
	prefix string // of every scope counted here ("addr:", "key:", ...)
	mu     sync.Mutex
	per    time.Duration
	start  time.Time                 // the current window's start
	cur    map[string]*failureWindow // scope -> counts in [start, start+per)
	prev   map[string]*failureWindow // in [start-per, start)
}

func newFailureCounts(prefix string, per time.Duration) *failureCounts {
	return &failureCounts{prefix: prefix, per: per, cur: map[string]*failureWindow{}, prev: map[string]*failureWindow{}}
}

// owns reports whether scope is one of c's (its prefix).
func (c *failureCounts) owns(scope string) bool { return strings.HasPrefix(scope, c.prefix) }

// rollLocked moves the windows on to the one holding now.
func (c *failureCounts) rollLocked(now time.Time) {
	start := now.Truncate(c.per)
	switch {
	case start.Equal(c.start):
		return
	case start.Equal(c.start.Add(c.per)):
		c.prev, c.cur = c.cur, map[string]*failureWindow{}
	default:
		c.prev, c.cur = map[string]*failureWindow{}, map[string]*failureWindow{}
	}
	c.start = start
}

// estimateLocked is the sliding-window count of scope at now.
func (c *failureCounts) estimateLocked(scope string, now time.Time) float64 {
	var n float64
	if w := c.cur[scope]; w != nil {
		n = float64(w.total())
	}
	if w := c.prev[scope]; w != nil {
		left := 1 - float64(now.Sub(c.start))/float64(c.per)
		n += float64(w.total()) * left
	}
	return n
}

// over reports whether scope has reached limit at now (its next failure
// would pass it), and how long until it has fallen below.
func (c *failureCounts) over(scope string, limit int, now time.Time) (bool, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rollLocked(now)
	if c.estimateLocked(scope, now) < float64(limit) {
		return false, 0
	}
	return true, c.retryLocked(scope, limit, now)
}

// retryLocked is how long from now until the sliding count of scope falls
// below limit, if no failure is added: while the current window's count is
// below it, until the previous window's weight has shrunk enough; else
// into the next window, until the current one's has. At least a second.
func (c *failureCounts) retryLocked(scope string, limit int, now time.Time) time.Duration {
	var p, n float64
	if w := c.prev[scope]; w != nil {
		p = float64(w.total())
	}
	if w := c.cur[scope]; w != nil {
		n = float64(w.total())
	}
	per := float64(c.per)
	elapsed := float64(now.Sub(c.start))
	l := float64(limit)
	var wait float64
	if n < l {
		// p*(1-t/per) + n < l  <=>  t > per*(1-(l-n)/p)
		wait = per*(1-(l-n)/p) - elapsed
	} else {
		// Next window: n*(1-t/per) < l  <=>  t > per*(1-l/n)
		wait = per - elapsed + per*(1-l/n)
	}
	d := time.Duration(wait) + time.Nanosecond // strictly below
	return max(d, time.Second)
}

// add counts one failure of scope at now.
func (c *failureCounts) add(now time.Time, scope string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rollLocked(now)
	w := c.cur[scope]
	if w == nil {
		w = &failureWindow{}
		c.cur[scope] = w
	}
	w.own++
}

// FailureCount is one row of the failure counts a store keeps for brokers
// sharing it: Count failures of Scope in the window starting at Window.
type FailureCount struct {
	Window time.Time
	Scope  string
	Count  int
}

// unsent returns this broker's counts not yet added to the store.
func (c *failureCounts) unsent(now time.Time) []FailureCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rollLocked(now)
	var out []FailureCount
	for _, win := range []struct {
		start time.Time
		m     map[string]*failureWindow
	}{{c.start.Add(-c.per), c.prev}, {c.start, c.cur}} {
		for s, w := range win.m {
			if w.own > w.sent {
				out = append(out, FailureCount{Window: win.start, Scope: s, Count: w.own - w.sent})
			}
		}
	}
	return out
}

// merged takes the store's totals read after sent was added.
func (c *failureCounts) merged(now time.Time, sent, totals []FailureCount) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rollLocked(now)
	window := func(start time.Time) map[string]*failureWindow {
		switch {
		case start.Equal(c.start):
			return c.cur
		case start.Equal(c.start.Add(-c.per)):
			return c.prev
		}
		return nil
	}
	for _, f := range sent {
		if m := window(f.Window); m != nil && m[f.Scope] != nil {
			m[f.Scope].sent += f.Count
		}
	}
	for _, f := range totals {
		m := window(f.Window)
		if m == nil {
			continue
		}
		w := m[f.Scope]
		if w == nil {
			w = &failureWindow{}
			m[f.Scope] = w
		}
		// Counts of this broker added since the read are not in the
		// total: w.own-w.sent (those sent are).
		w.merged, w.snap = f.Count, w.sent
	}
}

// addrScope is the scope of a source address: an IPv4 address, or the /64
// of an IPv6 address (one site's hosts; an attacker holds a whole /64).
func addrScope(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + a.String()
}

// MergeFailures merges this broker's counts of failed key presentations
// with the other brokers' through the store (issue 15): it adds the counts
// not yet added and reads every broker's totals of the current and the
// previous windows, and deletes older windows. The broker calls it about
// once a second, so a flood costs one write a second, not one per failure.
// Between merges each broker counts alone, so across N brokers a scope may
// see up to N times its limit before every broker has merged. A failed
// merge keeps the unsent counts for the next one.
func (r *Registry) MergeFailures(ctx context.Context) error {
	now := r.now()
	var errs []error
	for _, c := range []*failureCounts{r.addrFails, r.keyFails} {
		sent := c.unsent(now)
		since := now.Truncate(c.per).Add(-c.per)
		var totals []FailureCount
		err := r.store.Update(ctx, func(tx Tx) error {
			totals = nil
			if len(sent) > 0 {
				if err := tx.AddFailureCounts(sent); err != nil {
					return err
				}
			}
			all, err := tx.ListFailureCounts(since)
			if err != nil {
				return err
			}
			for _, f := range all {
				if c.owns(f.Scope) {
					totals = append(totals, f)
				}
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.merged(now, sent, totals)
	}
	// Windows end at most an hour (the longest limit unit) after they
	// start; anything older than two of the longest is done with.
	oldest := now.Add(-2 * max(r.addrFails.per, r.keyFails.per))
	err := r.store.Update(ctx, func(tx Tx) error {
		_, err := tx.DeleteFailureCounts(oldest)
		return err
	})
	return errors.Join(append(errs, err)...)
}

// KeyChecks returns how many key presentations have reached the key check
// of a use case (checkKey, inside its store transaction) since the registry
// was made; limited presentations stop before it. For tests and metrics.
func (r *Registry) KeyChecks() int64 { return r.keyChecks.Load() }
