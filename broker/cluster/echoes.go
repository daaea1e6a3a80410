package cluster

import (
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// An event this broker made reaches its Bus twice: published by its
// registry right after the commit, and read back from the change feed. The
// feed does not say which broker wrote an event (the audit log does not
// know), so the two are matched by what they say: type, endpoint, account
// and time to the nanosecond (the registry stamps the event and its audit
// row with one clock reading; stores keep nanoseconds). Whichever arrives
// first is delivered and the second is dropped.
//
// Order matters more than duplicates: an agent is told states, and the last
// one told must be the endpoint's state. When this broker delivered its own
// decision D locally and then reads from the feed another broker's
// decision E about the same endpoint (E committed before D, but this
// broker learns of it only now), subscribers have seen D then E, the wrong
// order. So once a foreign event of a scope (an endpoint, or an account for
// events of no endpoint) is delivered while own events of that scope are
// still unconfirmed by the feed, those own events are delivered again when
// the feed reaches them: subscribers end on the feed's, that is commit,
// order. Pushes of agentapi are idempotent (a state already told is not
// pushed again), so a repeat costs nothing there.
//
// A match may fail (an event the feed does not carry, a store that rounds
// times): the event is then delivered twice, never lost. Entries expire
// (localTTL, feedTTL) so that memory stays bounded.
type echoes struct {
	// pending are own events delivered locally, not yet read from the
	// feed, by scope in the order delivered.
	pending map[string][]echo
	// dirty scopes had a foreign event delivered while own ones were pending.
	dirty map[string]bool
	// early are events delivered from the feed whose local publish has not
	// come (yet): for own events the registry publishes a moment after the
	// commit, and the follower may read the feed in between.
	early map[echoKey][]time.Time
}

type echoKey struct {
	typ, endpoint, account string
	at                     int64
}

type echo struct {
	key  echoKey
	seen time.Time
}

const (
	// localTTL bounds how long an own event waits for the feed: a broker
	// whose database was away for longer than this delivers its own events
	// again when it reads them (a repeat, not a loss).
	localTTL = 10 * time.Minute
	// feedTTL bounds how long an event read from the feed waits for its
	// local publish; other brokers' events never get one.
	feedTTL = time.Minute
)

func newEchoes() echoes {
	return echoes{pending: map[string][]echo{}, dirty: map[string]bool{}, early: map[echoKey][]time.Time{}}
}

func keyOf(ev registry.Event) echoKey {
	return echoKey{typ: ev.Type, endpoint: ev.EndpointID, account: ev.AccountID, at: ev.At.UnixNano()}
}

func scopeOf(ev registry.Event) string {
	if ev.EndpointID != "" {
		return "endpoint:" + ev.EndpointID
	}
	return "account:" + ev.AccountID
}

// local records an event this broker's registry published and reports
// whether to deliver it (false: the feed delivered it already).
func (e *echoes) local(ev registry.Event, now time.Time) bool {
	k := keyOf(ev)
	if ts := e.early[k]; len(ts) > 0 {
		if len(ts) == 1 {
			delete(e.early, k)
		} else {
			e.early[k] = ts[1:]
		}
		return false
	}
	s := scopeOf(ev)
	e.pending[s] = append(e.pending[s], echo{key: k, seen: now})
	return true
}

// feed records an event read from the feed and reports whether to deliver
// it.
func (e *echoes) feed(ev registry.Event, now time.Time) bool {
	k, s := keyOf(ev), scopeOf(ev)
	list := e.pending[s]
	for i, p := range list {
		if p.key != k {
			continue
		}
		// An own event delivered already: again only if a foreign one
		// came in between.
		again := e.dirty[s]
		list = append(list[:i:i], list[i+1:]...)
		if len(list) == 0 {
			delete(e.pending, s)
			delete(e.dirty, s)
		} else {
			e.pending[s] = list
		}
		return again
	}
	if len(list) > 0 {
		e.dirty[s] = true
	}
	e.early[k] = append(e.early[k], now)
	return true
}

// prune forgets entries past their time.
func (e *echoes) prune(now time.Time) {
	for s, list := range e.pending {
		keep := list[:0]
		for _, p := range list {
			if now.Sub(p.seen) < localTTL {
				keep = append(keep, p)
			}
		}
		if len(keep) == 0 {
			delete(e.pending, s)
			delete(e.dirty, s)
		} else {
			e.pending[s] = keep
		}
	}
	for k, ts := range e.early {
		i := 0
		for i < len(ts) && now.Sub(ts[i]) >= feedTTL {
			i++
		}
		if i == len(ts) {
			delete(e.early, k)
		} else {
			e.early[k] = ts[i:]
		}
	}
}
