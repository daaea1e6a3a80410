package postgres

import (
	"context"
	"math/rand/v2"
	"sync"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// OpenUnserialisedForTest opens a store that breaks the contract of Update
// on purpose, to show that the conformance suite's serialisation checks
// catch a PostgreSQL store without the write lock: its Updates run at READ
// COMMITTED without pg_advisory_xact_lock, side by side (no local write
// slot either), on a pool large enough for every racing Update.
//
// It implements storetest.Interleaver: after Interleave(n), each of the
// next n Updates waits at its first write until all n have got there (or
// ended without writing); then the waiting ones go on one at a time, each
// to its commit, in a random order. Every one has read before any writes.
func OpenUnserialisedForTest(ctx context.Context, url string) (registry.Store, error) {
	s, err := Open(ctx, Config{URL: url})
	if err != nil {
		return nil, err
	}
	s.beginUpdate = "BEGIN ISOLATION LEVEL READ COMMITTED"
	s.writeSlot = make(chan struct{}, 1024)
	u := &unserialised{Store: s}
	s.onUpdate = u.onUpdate
	return u, nil
}

type unserialised struct {
	*Store

	mu      sync.Mutex
	want    int             // Updates still to arrive; 0 = not interleaving
	waiting []chan struct{} // the arrived Updates held at their first write
}

// Interleave implements storetest.Interleaver.
func (u *unserialised) Interleave(n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.want, u.waiting = n, nil
}

// onUpdate holds the Update at its first write; the returned func counts
// in an Update that ended without writing and lets the next one go on.
func (u *unserialised) onUpdate(t *tx) func() {
	arrived, held := false, false
	t.beforeWrite = func() {
		if !arrived {
			arrived = true
			held = u.arrive(true)
		}
	}
	return func() {
		if !arrived {
			arrived = true
			u.arrive(false)
		}
		if held {
			u.mu.Lock()
			u.releaseLocked()
			u.mu.Unlock()
		}
	}
}

// arrive counts an Update in; with hold it waits until its turn, and
// reports whether it did.
func (u *unserialised) arrive(hold bool) (held bool) {
	u.mu.Lock()
	if u.want == 0 {
		u.mu.Unlock()
		return false
	}
	var turn chan struct{}
	if hold {
		turn = make(chan struct{})
		u.waiting = append(u.waiting, turn)
	}
	u.want--
	if u.want == 0 {
		rand.Shuffle(len(u.waiting), func(i, j int) { u.waiting[i], u.waiting[j] = u.waiting[j], u.waiting[i] })
		u.releaseLocked()
	}
	u.mu.Unlock()
	if turn == nil {
		return false
	}
	<-turn
	return true
}

// releaseLocked lets the next held Update go on, once every one arrived.
func (u *unserialised) releaseLocked() {
	if u.want == 0 && len(u.waiting) > 0 {
		close(u.waiting[0])
		u.waiting = u.waiting[1:]
	}
}
