package cluster

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// step is one arrival at the Bus: from this broker's registry (local) or
// from the change feed.
type step struct {
	local bool
	ev    registry.Event
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func state(id string, s registry.State, ns int) registry.Event {
	return registry.Event{Type: protocol.EndpointEvent(string(s)), EndpointID: id, AccountID: "acct", State: s, At: t0.Add(time.Duration(ns))}
}

// Each event reaches subscribers once, whichever way it comes first, and
// subscribers end on the feed's (commit) order when another broker's
// decision about the same endpoint is learnt late.
func TestEchoes(t *testing.T) {
	own1, own2 := state("x", registry.StateTrusted, 1), state("x", registry.StateUntrusted, 2)
	foreign := state("x", registry.StateRejected, 0) // committed before own2 on another broker
	other := state("y", registry.StatePending, 3)
	key := registry.Event{Type: protocol.EventAPIKeyUpdated, AccountID: "acct", At: t0}
	tests := []struct {
		name  string
		steps []step
		want  []registry.State // what subscribers see, in order
	}{
		{"own, local first", []step{{true, own1}, {false, own1}}, []registry.State{registry.StateTrusted}},
		{"own, feed first", []step{{false, own1}, {true, own1}}, []registry.State{registry.StateTrusted}},
		{"foreign", []step{{false, foreign}}, []registry.State{registry.StateRejected}},
		{"two own, then the feed", []step{{true, own1}, {true, own2}, {false, own1}, {false, own2}},
			[]registry.State{registry.StateTrusted, registry.StateUntrusted}},
		// own2 delivered locally, then the feed brings a foreign decision
		// committed before it: own2 again, so that it is the last one told.
		{"foreign learnt late", []step{{true, own2}, {false, foreign}, {false, own2}},
			[]registry.State{registry.StateUntrusted, registry.StateRejected, registry.StateUntrusted}},
		// Once the feed has caught up, the scope is clean again.
		{"clean after catching up", []step{{true, own2}, {false, foreign}, {false, own2}, {true, own1}, {false, own1}},
			[]registry.State{registry.StateUntrusted, registry.StateRejected, registry.StateUntrusted, registry.StateTrusted}},
		// A foreign event of another endpoint changes nothing here.
		{"other endpoint", []step{{true, own2}, {false, other}, {false, own2}},
			[]registry.State{registry.StateUntrusted, registry.StatePending}},
		// Two identical events (a bulk change of one account at one instant)
		// are two, not one.
		{"identical events", []step{{true, key}, {true, key}, {false, key}, {false, key}}, []registry.State{"", ""}},
		{"identical events, feed first", []step{{false, key}, {false, key}, {true, key}, {true, key}}, []registry.State{"", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEchoes()
			var got []registry.State
			for _, s := range tc.steps {
				deliver := e.feed
				if s.local {
					deliver = e.local
				}
				if deliver(s.ev, t0) {
					got = append(got, s.ev.State)
				}
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("delivered (-want +got):\n%s", d)
			}
			e.prune(t0.Add(localTTL))
			if len(e.pending)+len(e.dirty)+len(e.early) != 0 {
				t.Errorf("entries left after their time: %+v", e)
			}
		})
	}
}

// An own event the feed has not confirmed within localTTL is forgotten: if
// the feed brings it later, it is delivered again (a repeat, never a loss).
func TestEchoesExpire(t *testing.T) {
	e := newEchoes()
	ev := state("x", registry.StateTrusted, 1)
	if !e.local(ev, t0) {
		t.Fatal("not delivered locally")
	}
	e.prune(t0.Add(localTTL - time.Second))
	if len(e.pending) != 1 {
		t.Fatalf("pruned too early: %+v", e.pending)
	}
	e.prune(t0.Add(localTTL))
	if !e.feed(ev, t0.Add(localTTL)) {
		t.Error("an own event read after its entry expired was not delivered")
	}
	e.prune(t0.Add(localTTL + feedTTL))
	if len(e.early) != 0 {
		t.Errorf("early entries left: %+v", e.early)
	}
}
