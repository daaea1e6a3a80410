package cluster

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/registry"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// hub is a Waker shared by the brokers of a test, as PostgreSQL's NOTIFY
// is: Notify wakes every listener; Drop ends the listeners of one broker
// with an error and keeps refusing them until Up.
type hub struct {
	mu        sync.Mutex
	listeners map[string]map[int]func(registry.ChangeCursor)
	down      map[string]chan struct{} // closed to end that broker's Listen
	refused   map[string]bool
	n         int
}

func newHub() *hub {
	return &hub{listeners: map[string]map[int]func(registry.ChangeCursor){}, down: map[string]chan struct{}{}, refused: map[string]bool{}}
}

func (h *hub) waker(broker string) Waker { return hubWaker{h, broker} }

type hubWaker struct {
	h      *hub
	broker string
}

func (w hubWaker) Listen(ctx context.Context, wake func(registry.ChangeCursor)) error {
	h := w.h
	h.mu.Lock()
	if h.refused[w.broker] {
		h.mu.Unlock()
		return errors.New("connection refused")
	}
	if h.down[w.broker] == nil {
		h.down[w.broker] = make(chan struct{})
	}
	down := h.down[w.broker]
	id := h.n
	h.n++
	if h.listeners[w.broker] == nil {
		h.listeners[w.broker] = map[int]func(registry.ChangeCursor){}
	}
	h.listeners[w.broker][id] = wake
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.listeners[w.broker], id)
		h.mu.Unlock()
	}()
	select {
	case <-ctx.Done():
		return nil
	case <-down:
		return errors.New("connection lost")
	}
}

// Notify wakes every listening broker (NOTIFY, sent with a commit).
func (h *hub) Notify() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ls := range h.listeners {
		for _, wake := range ls {
			wake(0)
		}
	}
}

// Drop loses broker's listener and refuses new ones until Up.
func (h *hub) Drop(broker string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.refused[broker] = true
	if c := h.down[broker]; c != nil {
		close(c)
		delete(h.down, broker)
	}
}

func (h *hub) Up(broker string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.refused[broker] = false
}

func (h *hub) listening(broker string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.listeners[broker]) > 0
}

// node is one broker of a test cluster: its registry on the shared store
// and its Bus.
type node struct {
	reg *registry.Registry
	bus *Bus
}

// cluster starts n brokers on one store (SQLite, shared by the
// registries) with their followers; cfg is each Bus's configuration, with
// the hub's waker when hub is not nil.
func cluster(t *testing.T, names []string, h *hub, cfg Config) (*brokertest.Env, map[string]*node) {
	t.Helper()
	re := brokertest.New(t, brokertest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	nodes := map[string]*node{}
	for _, name := range names {
		c := cfg
		if h != nil {
			c.Waker = h.waker(name)
		}
		bus := NewBus(c)
		reg, err := registry.New(registry.Config{Store: re.Store, Signer: re.Issuer, Bus: bus, BrokerID: name, Fresh: bus.Fresh})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := bus.Run(ctx, reg); err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
		nodes[name] = &node{reg: reg, bus: bus}
	}
	return re, nodes
}

// recorder keeps what one subscription of a bus received.
type recorder struct {
	mu  sync.Mutex
	got []registry.State
}

func record(b *Bus, endpointID string) *recorder {
	r := &recorder{}
	b.SubscribeFunc(endpointID, func(ev registry.Event) {
		r.mu.Lock()
		r.got = append(r.got, ev.State)
		r.mu.Unlock()
	})
	return r
}

func (r *recorder) states() []registry.State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]registry.State(nil), r.got...)
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// caughtUp waits until every bus has read the feed to its end.
func caughtUp(t *testing.T, nodes map[string]*node) {
	t.Helper()
	var head registry.ChangeCursor
	for _, n := range nodes {
		_, head, _ = n.reg.ReadChanges(context.Background(), 0, 0, func(registry.Event) bool { return false })
		break
	}
	poll(t, "every broker to read the feed to its end", func() bool {
		for _, n := range nodes {
			n.bus.fmu.Lock()
			c := n.bus.cursor
			n.bus.fmu.Unlock()
			if c != head {
				return false
			}
		}
		return true
	})
}

func newEndpoint(t *testing.T, reg *registry.Registry, key string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	if _, err := reg.Register(context.Background(), registry.RegisterRequest{APIKey: key, ClientID: id, ClientType: "desktop_client",
		KeyType: registry.KeyTypeEd25519, PublicKey: pub, Proven: true, Remote: loopback}); err != nil {
		t.Fatal(err)
	}
	return id
}

// A decision made on one broker reaches the subscribers of every broker,
// woken by the Waker (the timer is an hour here); each subscriber sees each
// event once, its own broker's too (issue 14, point 3).
func TestDecisionsTravel(t *testing.T) {
	h := newHub()
	re, nodes := cluster(t, []string{"a", "b"}, h, Config{Poll: time.Hour})
	a, b := nodes["a"], nodes["b"]
	poll(t, "listeners", func() bool { return h.listening("a") && h.listening("b") })
	ctx := context.Background()
	admin := re.Admin(t)
	k, err := a.reg.CreateAPIKey(ctx, admin, registry.CreateAPIKeyRequest{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	id := newEndpoint(t, a.reg, k.Value)
	h.Notify()
	caughtUp(t, nodes)
	onA, onB := record(a.bus, id), record(b.bus, id)
	steps := []struct {
		on     *node
		action registry.Action
	}{
		{a, registry.ActionApprove}, {b, registry.ActionUntrust}, {a, registry.ActionApprove}, {b, registry.ActionDelete},
	}
	var want []registry.State
	for _, s := range steps {
		ep, err := s.on.reg.Decide(ctx, admin, id, s.action, loopback)
		if err != nil {
			t.Fatalf("%s: %v", s.action, err)
		}
		h.Notify()
		want = append(want, ep.State)
		poll(t, "the decision on both brokers", func() bool { return len(onA.states()) == len(want) && len(onB.states()) == len(want) })
	}
	caughtUp(t, nodes)
	for name, r := range map[string]*recorder{"a": onA, "b": onB} {
		if d := cmp.Diff(want, r.states()); d != "" {
			t.Errorf("broker %s delivered (-want +got):\n%s", name, d)
		}
	}
}

// After a lost listener a broker reads what it missed from its last cursor
// as soon as the listener is back, without waiting for a new notification
// or the timer (issue 14, point 3).
func TestResyncAfterListenerLoss(t *testing.T) {
	h := newHub()
	re, nodes := cluster(t, []string{"a", "b"}, h, Config{Poll: time.Hour})
	a, b := nodes["a"], nodes["b"]
	poll(t, "listeners", func() bool { return h.listening("a") && h.listening("b") })
	ctx := context.Background()
	admin := re.Admin(t)
	k, err := a.reg.CreateAPIKey(ctx, admin, registry.CreateAPIKeyRequest{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	id := newEndpoint(t, a.reg, k.Value)
	h.Notify()
	caughtUp(t, nodes)
	onB := record(b.bus, id)

	h.Drop("b")
	poll(t, "b's listener to be down", func() bool { return !h.listening("b") })
	for _, act := range []registry.Action{registry.ActionApprove, registry.ActionUntrust} {
		if _, err := a.reg.Decide(ctx, admin, id, act, loopback); err != nil {
			t.Fatal(err)
		}
		h.Notify() // b does not hear it
	}
	h.Up("b")
	poll(t, "b to catch up", func() bool { return len(onB.states()) == 2 })
	if d := cmp.Diff([]registry.State{registry.StateTrusted, registry.StateUntrusted}, onB.states()); d != "" {
		t.Errorf("b delivered (-want +got):\n%s", d)
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Add(d time.Duration) { c.ns.Add(int64(d)) }
func newClock() *fakeClock               { c := &fakeClock{}; c.ns.Store(t0.UnixNano()); return c }

// failingFeed fails while fail is set.
type failingFeed struct {
	Feed
	fail atomic.Bool
}

func (f *failingFeed) ReadChanges(ctx context.Context, after registry.ChangeCursor, limit int, visible func(registry.Event) bool) ([]registry.Change, registry.ChangeCursor, error) {
	if f.fail.Load() {
		return nil, after, errors.New("dial tcp 10.0.0.5:5432: connection refused")
	}
	return f.Feed.ReadChanges(ctx, after, limit, visible)
}

// A broker that cannot read the feed, or whose listener is down, for
// longer than the bound is not fresh; it is again by itself once both are
// back (issue 14, point 4).
func TestFreshness(t *testing.T) {
	clk := newClock()
	h := newHub()
	re := brokertest.New(t, brokertest.Options{})
	bus := NewBus(Config{Waker: h.waker("a"), Poll: 10 * time.Millisecond, FailClosedAfter: 30 * time.Second, Now: clk.Now})
	feed := &failingFeed{Feed: re.Registry}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { bus.Run(ctx, feed); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	read := func() time.Time {
		bus.fmu.Lock()
		defer bus.fmu.Unlock()
		return bus.freshAt
	}
	up := func() bool {
		bus.fmu.Lock()
		defer bus.fmu.Unlock()
		return bus.listening
	}
	poll(t, "the listener", up)
	if err := bus.Fresh(); err != nil {
		t.Fatalf("Fresh at the start: %v", err)
	}

	failed := func() bool {
		bus.fmu.Lock()
		defer bus.fmu.Unlock()
		return bus.readErr
	}
	for _, tc := range []struct {
		name, why string
		down      func()
		up        func()
		faulty    func() bool
	}{
		{"feed", "the change feed cannot be read", func() { feed.fail.Store(true) }, func() { feed.fail.Store(false) }, failed},
		{"listener", "the change listener is down", func() { h.Drop("a") }, func() { h.Up("a") }, func() bool { return !up() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.down()
			// Let a read happen (or fail) after the fault, then move on.
			mark := clk.Now()
			clk.Add(time.Second)
			poll(t, "the fault to be seen", tc.faulty)
			if err := bus.Fresh(); err != nil {
				t.Errorf("Fresh within the bound: %v", err)
			}
			clk.Add(31 * time.Second)
			err := bus.Fresh()
			if err == nil || !strings.Contains(err.Error(), tc.why) || !strings.Contains(err.Error(), "for 3") {
				t.Errorf("Fresh past the bound = %v, want %q", err, tc.why)
			}
			if err != nil && strings.Contains(err.Error(), "10.0.0.5") {
				t.Errorf("Fresh names the database: %v", err)
			}
			tc.up()
			poll(t, "fresh again", func() bool { return read().After(mark.Add(time.Second)) })
			if err := bus.Fresh(); err != nil {
				t.Errorf("Fresh once back: %v", err)
			}
		})
	}
}
