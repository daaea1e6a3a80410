package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/sqlite"
)

// A failed fn's error can rest on the writes of an earlier fn of its batch
// (B fails because A wrote x), so it is answered only once that batch has
// committed: never while a later fn (C) still holds the transaction open.
func TestFailedResultWaitsForTheCommit(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "d.db"))
	defer s.Close()
	release := blockWriter(t, s)
	resA, resB, resC := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	started, hold := make(chan struct{}), make(chan struct{})
	go func() {
		resA <- s.Update(context.Background(), func(tx registry.Tx) error { return tx.SetMeta("x", "1") })
	}()
	waitFor(t, "A queued", func() bool { return sqlite.SendingForTest(s) == 1 })
	go func() {
		resB <- s.Update(context.Background(), func(tx registry.Tx) error {
			if _, err := tx.GetMeta("x"); err == nil {
				return registry.ErrConflict // x exists: A's write, not yet committed
			}
			return tx.SetMeta("x", "2")
		})
	}()
	waitFor(t, "B queued", func() bool { return sqlite.SendingForTest(s) == 2 })
	go func() {
		resC <- s.Update(context.Background(), func(tx registry.Tx) error { close(started); <-hold; return nil })
	}()
	waitFor(t, "C queued", func() bool { return sqlite.SendingForTest(s) == 3 })
	go release()
	<-started // A and B have run; the batch is open until C returns
	// B must not be answered while the batch is open. (Give a wrongly
	// answered B's goroutine time to deliver; a right one never does.)
	var errB error
	early := false
	select {
	case errB = <-resB:
		early = true
	case <-time.After(200 * time.Millisecond):
	}
	close(hold)
	for name, ch := range map[string]chan error{"A": resA, "C": resC} {
		if err := <-ch; err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if early {
		t.Fatalf("B was answered (%v) before its batch committed", errB)
	}
	if errB = <-resB; !errors.Is(errB, registry.ErrConflict) {
		t.Fatalf("B = %v, want ErrConflict", errB)
	}
	if got := metaKeys(t, s, []string{"x"}); !got["x"] {
		t.Error("B was told x exists, but x is not committed")
	}
}
