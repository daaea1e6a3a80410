// Package cluster lets several brokers share one database (issue 14): a
// Bus that carries every broker's decisions to the agents connected to
// this one, read from the store's commit-ordered change feed; the
// freshness that makes a broker fail closed when it cannot follow that
// feed; the one TLS identity every broker presents, kept in the database
// encrypted with the operator's cluster key; and the shared set of
// token-verification keys (one JWKS).
//
// The database is the only channel between brokers. A wake-up (PostgreSQL
// LISTEN/NOTIFY, through a Waker) only says "read the feed"; the events
// themselves are read from the audit log, so a broker that lost its
// listener reads everything it missed from the last cursor it saw.
package cluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/internal/logfield"
)

// Waker wakes the follower when a change has committed. Listen calls wake
// (with the change's cursor, which the follower does not need: it reads
// from its own) for every committed change until ctx ends, then returns
// nil; it returns an error as soon as it can no longer listen (the
// connection was lost). The PostgreSQL store implements it with LISTEN.
type Waker interface {
	Listen(ctx context.Context, wake func(cursor registry.ChangeCursor)) error
}

// Feed is the change feed the follower reads; *registry.Registry is one.
type Feed interface {
	ReadChanges(ctx context.Context, after registry.ChangeCursor, limit int, visible func(registry.Event) bool) ([]registry.Change, registry.ChangeCursor, error)
}

// Defaults of zero Config fields.
const (
	DefaultFailClosedAfter = 30 * time.Second
	DefaultPoll            = time.Second
)

// Config configures NewBus. Every zero field means its default.
type Config struct {
	// Waker wakes the follower at each commit; nil = read on the timer only.
	Waker Waker
	// Poll is how often the feed is read without a wake-up: the safety net
	// under the Waker, and what keeps the broker fresh while nothing
	// changes. 0 = DefaultPoll.
	Poll time.Duration
	// FailClosedAfter is how long the broker may go without a fresh read
	// (the feed read and the listener up) before Fresh fails. 0 =
	// DefaultFailClosedAfter.
	FailClosedAfter time.Duration
	Logger          *zap.Logger      // nil = no logging
	Now             func() time.Time // nil = time.Now
}

// Bus is a registry.Bus for brokers sharing one store. Events this broker's
// registry publishes (after their commit) go to local subscribers at once;
// the follower (Run) reads the change feed and publishes locally the events
// other brokers made. Each event reaches local subscribers once: an event
// comes both ways on the broker that made it, and the second arrival is
// dropped (see echoes).
type Bus struct {
	local *registry.LocalBus
	waker Waker
	poll  time.Duration
	bound time.Duration
	log   *zap.Logger
	now   func() time.Time

	mu     sync.Mutex // echoes, and the order of deliveries from both sides
	echoes echoes

	fmu       sync.Mutex
	freshAt   time.Time // the last read of the feed while the listener was up
	listening bool      // the Waker listens (always true without one)
	listenGen uint64    // counts the times the listener came up
	readErr   bool      // the last read failed
	cursor    registry.ChangeCursor
	followed  bool // Run has read the head of the feed
}

var _ registry.Bus = (*Bus)(nil)

// NewBus returns a Bus; call Run with the registry to follow the feed.
func NewBus(cfg Config) *Bus {
	b := &Bus{local: registry.NewLocalBus(), waker: cfg.Waker, poll: cfg.Poll, bound: cfg.FailClosedAfter,
		log: cfg.Logger, now: cfg.Now, echoes: newEchoes()}
	if b.poll <= 0 {
		b.poll = DefaultPoll
	}
	if b.bound <= 0 {
		b.bound = DefaultFailClosedAfter
	}
	if b.log == nil {
		b.log = zap.NewNop()
	}
	if b.now == nil {
		b.now = time.Now
	}
	b.freshAt = b.now() // the broker has just read the store to start
	b.listening = b.waker == nil
	return b
}

// Publish implements registry.Bus: an event of this broker, committed.
func (b *Bus) Publish(ev registry.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.echoes.local(ev, b.now()) {
		b.local.Publish(ev)
	}
}

// Subscribe implements registry.Bus.
func (b *Bus) Subscribe(endpointID string) (<-chan registry.Event, func()) {
	return b.local.Subscribe(endpointID)
}

// SubscribeFunc implements registry.Bus.
func (b *Bus) SubscribeFunc(endpointID string, deliver func(registry.Event)) func() {
	return b.local.SubscribeFunc(endpointID, deliver)
}

// fromFeed publishes locally an event read from the feed, unless local
// subscribers have had it already.
func (b *Bus) fromFeed(ev registry.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.echoes.feed(ev, b.now()) {
		b.local.Publish(ev)
	}
}

// Fresh returns nil while the broker reads fresh state, and an error saying
// for how long it has not once that is longer than Config.FailClosedAfter:
// the registry's Config.Fresh. The text names no host or database error (it
// is shown on /readyz); the log has those.
func (b *Bus) Fresh() error {
	b.fmu.Lock()
	defer b.fmu.Unlock()
	age := b.now().Sub(b.freshAt)
	if age <= b.bound {
		return nil
	}
	why := "the change feed cannot be read"
	if !b.listening && !b.readErr {
		why = "the change listener is down"
	}
	return fmt.Errorf("no fresh read of the shared store for %s (%s)", age.Round(time.Second), why)
}

// Run follows the change feed of feed (this broker's registry) until ctx
// ends: from its head now, at every wake-up and every Config.Poll, and at
// once after the listener comes back (resynchronising what it may have
// missed). It returns nil when ctx ends; a failing read is logged and
// retried, and Fresh reports it.
func (b *Bus) Run(ctx context.Context, feed Feed) error {
	kick := make(chan struct{}, 1)
	wake := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if b.waker != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.listen(ctx, wake)
		}()
	}
	t := time.NewTicker(b.poll)
	defer t.Stop()
	for {
		b.read(ctx, feed)
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-t.C:
		}
	}
}

// listenSettle is how long Listen must run before the listener counts as
// up: one that fails at once (the database is down) never does.
const listenSettle = 200 * time.Millisecond

// listen keeps the Waker listening, restarting it after a lost connection
// with a growing pause (at most the fail-closed bound / 3, so that a
// returning database is noticed in time), and wakes the follower each time
// it (re)starts and once it is up, so that what was missed meanwhile is
// read at once.
func (b *Bus) listen(ctx context.Context, wake func()) {
	pause := 100 * time.Millisecond
	for ctx.Err() == nil {
		wake() // resynchronise from the last cursor
		started := b.now()
		errc := make(chan error, 1)
		go func() { errc <- b.waker.Listen(ctx, func(registry.ChangeCursor) { wake() }) }()
		var err error
		select {
		case err = <-errc:
		case <-time.After(listenSettle):
			b.setListening(true)
			wake() // anything committed before LISTEN took hold
			err = <-errc
		}
		b.setListening(false)
		if ctx.Err() != nil {
			return
		}
		if b.now().Sub(started) > time.Minute {
			pause = 100 * time.Millisecond
		}
		b.log.Warn("change listener lost; reading the feed on the timer until it is back",
			zap.Error(err), zap.Duration(logfield.RetryIn, pause))
		wake()
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(pause*2, max(b.bound/3, 100*time.Millisecond))
	}
}

func (b *Bus) setListening(up bool) {
	b.fmu.Lock()
	defer b.fmu.Unlock()
	b.listening = up
	if up {
		b.listenGen++
	}
}

// read reads the feed from the cursor and publishes what it finds; the
// first read only finds the head.
func (b *Bus) read(ctx context.Context, feed Feed) {
	b.fmu.Lock()
	cursor, followed := b.cursor, b.followed
	listening, gen := b.listening, b.listenGen
	b.fmu.Unlock()
	var changes []registry.Change
	var next registry.ChangeCursor
	var err error
	if followed {
		changes, next, err = feed.ReadChanges(ctx, cursor, 0, nil)
	} else {
		// The head: what happened before this broker started was never
		// live here; agents read their state when they register.
		_, next, err = feed.ReadChanges(ctx, 0, 0, func(registry.Event) bool { return false })
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		b.fmu.Lock()
		first := !b.readErr
		b.readErr = true
		b.fmu.Unlock()
		if first {
			b.log.Warn("reading the change feed failed; retrying", zap.Error(err))
		}
		return
	}
	for _, c := range changes {
		b.fromFeed(c.Event)
	}
	now := b.now()
	b.mu.Lock()
	b.echoes.prune(now)
	b.mu.Unlock()
	b.fmu.Lock()
	defer b.fmu.Unlock()
	if b.readErr {
		b.log.Info("reading the change feed again")
	}
	b.cursor, b.followed, b.readErr = next, true, false
	// Fresh only if the listener was up the whole read: a change
	// committed meanwhile woke the follower again.
	if listening && b.listening && gen == b.listenGen {
		b.freshAt = now
	}
}
