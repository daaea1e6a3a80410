package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// testFailureCounts pins registry.LimitTx: adds accumulate per (window,
// scope), concurrent adds lose nothing, the list is from a window on in
// order, and delete removes the windows before a time.
func testFailureCounts(t *testing.T, s registry.Store) {
	w0, w1, w2 := t0, t0.Add(time.Minute), t0.Add(2*time.Minute)
	list := func(since time.Time) []registry.FailureCount {
		var out []registry.FailureCount
		view(t, s, func(tx registry.Tx) error {
			var err error
			out, err = tx.ListFailureCounts(since)
			return err
		})
		return out
	}
	if got := list(w0); len(got) != 0 {
		t.Fatalf("empty store lists %v", got)
	}
	update(t, s, func(tx registry.Tx) error {
		return tx.AddFailureCounts([]registry.FailureCount{
			{Window: w1, Scope: "addr:192.0.2.1", Count: 3}, {Window: w0, Scope: "key:abc", Count: 1},
			{Window: w1, Scope: "addr:192.0.2.1", Count: 2}, {Window: w2, Scope: "addr:2001:db8::/64", Count: 7},
		})
	})
	update(t, s, func(tx registry.Tx) error { return tx.AddFailureCounts(nil) })
	// Concurrent adds, as brokers merging at once.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(t.Context(), func(tx registry.Tx) error {
				return tx.AddFailureCounts([]registry.FailureCount{{Window: w1, Scope: "key:abc", Count: 1}})
			})
			if err != nil {
				t.Errorf("concurrent add: %v", err)
			}
		}()
	}
	wg.Wait()
	want := []registry.FailureCount{
		{Window: w0, Scope: "key:abc", Count: 1},
		{Window: w1, Scope: "addr:192.0.2.1", Count: 5},
		{Window: w1, Scope: "key:abc", Count: 8},
		{Window: w2, Scope: "addr:2001:db8::/64", Count: 7},
	}
	if diff := cmp.Diff(want, list(w0), cmpOpts...); diff != "" {
		t.Errorf("ListFailureCounts(w0) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[1:], list(w1), cmpOpts...); diff != "" {
		t.Errorf("ListFailureCounts(w1) (-want +got):\n%s", diff)
	}
	var n int
	update(t, s, func(tx registry.Tx) error {
		var err error
		n, err = tx.DeleteFailureCounts(w2)
		return err
	})
	if n != 3 {
		t.Errorf("DeleteFailureCounts deleted %d, want 3", n)
	}
	if diff := cmp.Diff(want[3:], list(w0), cmpOpts...); diff != "" {
		t.Errorf("after delete (-want +got):\n%s", diff)
	}
}

// testCountPending pins CountPendingByKeyValue and CountPendingByAccount
// (SPEC R8): only pending endpoints count, through every way an endpoint
// enters or leaves the state, and a rolled back change counts nothing.
func testCountPending(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	decision := registry.Decision{Action: "approve", By: "user:u1", At: at(0)}
	update(t, s, func(tx registry.Tx) error {
		for i, c := range []struct{ acct, value string }{{acctA, "v1"}, {acctA, "v1"}, {acctA, "v2"}, {acctB, "v1"}, {acctA, "v1"}} {
			e := registry.Endpoint{ID: fmt.Sprintf("ep-%d", i), AccountID: c.acct, KeyValueID: c.value,
				State: registry.StatePending, RegisteredAt: at(0)}
			if err := tx.CreateEndpoint(&e); err != nil {
				return err
			}
		}
		trusted := registry.Endpoint{ID: "ep-trusted", AccountID: acctA, KeyValueID: "v1", State: registry.StateTrusted, RegisteredAt: at(0)}
		if err := tx.CreateEndpoint(&trusted); err != nil {
			return err
		}
		if err := tx.TransitionEndpoint("ep-1", []registry.State{registry.StatePending}, registry.StateTrusted, decision); err != nil {
			return err
		}
		if err := tx.DeleteEndpoint("ep-4"); err != nil {
			return err
		}
		ep, err := tx.GetEndpoint("ep-2")
		if err != nil {
			return err
		}
		ep.Hostname = "renamed" // an update that keeps it pending
		return tx.UpdateEndpoint(ep)
	})
	// Rolled back: nothing counts.
	_ = s.Update(t.Context(), func(tx registry.Tx) error {
		e := registry.Endpoint{ID: "ep-rolled-back", AccountID: acctA, KeyValueID: "v1", State: registry.StatePending, RegisteredAt: at(0)}
		if err := tx.CreateEndpoint(&e); err != nil {
			return err
		}
		return errors.New("roll back")
	})
	type counts struct{ V1, V2, Nope, A, B, Root int }
	var got counts
	view(t, s, func(tx registry.Tx) error {
		for _, c := range []struct {
			dst *int
			fn  func(string) (int, error)
			id  string
		}{
			{&got.V1, tx.CountPendingByKeyValue, "v1"}, {&got.V2, tx.CountPendingByKeyValue, "v2"},
			{&got.Nope, tx.CountPendingByKeyValue, "nope"}, {&got.A, tx.CountPendingByAccount, acctA},
			{&got.B, tx.CountPendingByAccount, acctB}, {&got.Root, tx.CountPendingByAccount, acctRoot},
		} {
			n, err := c.fn(c.id)
			if err != nil {
				return err
			}
			*c.dst = n
		}
		return nil
	})
	// ep-0 (A, v1), ep-2 (A, v2), ep-3 (B, v1) remain pending.
	if diff := cmp.Diff(counts{V1: 2, V2: 1, A: 2, B: 1}, got); diff != "" {
		t.Errorf("pending counts (-want +got):\n%s", diff)
	}
}
