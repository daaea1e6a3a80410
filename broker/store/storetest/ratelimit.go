package storetest

import (
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
