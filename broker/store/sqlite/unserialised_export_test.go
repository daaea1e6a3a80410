package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"sync"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// unserialised is a registry.Store that breaks the contract of Update on
// purpose, to show that the conformance suite catches it: Update runs fn on
// a connection of its own without a transaction, so each statement commits
// alone and concurrent Updates interleave, as they would on PostgreSQL at
// READ COMMITTED without a lock. View and Close are those of a normal Store
// on the same file.
//
// It implements storetest.Interleaver: after Interleave(n), each of the
// next n Updates waits at its first write until all n have got there (or
// ended without writing); then the waiting ones go on one at a time, each
// to its end, in a random order. Every one of them has read before any
// writes, and each order of their writes occurs.
type unserialised struct {
	*Store
	db *sql.DB

	mu      sync.Mutex
	want    int             // Updates still to arrive; 0 = not interleaving
	waiting []chan struct{} // the arrived Updates held at their first write
}

// OpenUnserialisedForTest opens the database at path as a store whose
// Updates are not serialised (see unserialised).
func OpenUnserialisedForTest(ctx context.Context, path string) (registry.Store, error) {
	s, err := Open(ctx, Config{Path: path})
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return &unserialised{Store: s, db: db}, nil
}

// Interleave implements storetest.Interleaver.
func (u *unserialised) Interleave(n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.want, u.waiting = n, nil
}

// arrive counts an Update in; with hold it waits until its turn, and
// reports whether it did: the Update then lets the next go on when it ends.
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

func (u *unserialised) Update(ctx context.Context, fn func(registry.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := newDBConn(ctx, u.db)
	if err != nil {
		return err
	}
	defer c.close()
	arrived, held := false, false
	c.beforeExec = func() {
		if !arrived {
			arrived = true
			held = u.arrive(true)
		}
	}
	t := &tx{ctx: ctx, qctx: ctx, c: c}
	defer func() {
		t.done.Store(true)
		if !arrived {
			arrived = true
			u.arrive(false)
		}
		if held {
			u.mu.Lock()
			u.releaseLocked()
			u.mu.Unlock()
		}
	}()
	return fn(t)
}

func (u *unserialised) Close() error {
	return errors.Join(u.db.Close(), u.Store.Close())
}
