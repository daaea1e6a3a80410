package registry

import (
	"sync"
	"time"
)

// publish stamps ev with this broker's id and next sequence number and
// hands it to the bus. Every event the registry emits goes through it,
// after the commit of the change it reports.
func (r *Registry) publish(ev Event) {
	ev.BrokerID = r.brokerID
	ev.Seq = r.seq.Add(1)
	r.bus.Publish(ev)
}

// Event is a change pushed to live watchers and to connected agents. It holds
// no secrets, so it can cross brokers (a PostgreSQL bus carries it between
// brokers sharing one database).
type Event struct {
	Type       string // one of protocol's Event* constants
	EndpointID string
	AccountID  string
	State      State
	At         time.Time
	// BrokerID names the broker whose registry published the event, and
	// Seq is its place in that broker's sequence (1, 2, …): a broker on a
	// shared bus skips its own echo, and a watcher sees gaps.
	BrokerID string
	Seq      uint64
}

// Bus delivers events. Publish must not block on slow subscribers.
type Bus interface {
	// Publish delivers ev to local subscribers (and, for a shared bus, to
	// other brokers, which call their own local Publish).
	Publish(ev Event)
	// Subscribe returns a channel of events for one endpoint id ("" = every
	// event) and a function that ends the subscription.
	Subscribe(endpointID string) (<-chan Event, func())
	// SubscribeFunc calls deliver with each event for one endpoint id ("" =
	// every event) until the returned function is called. deliver runs on
	// the publisher's goroutine, one event at a time, and must not block: it
	// queues the event or drops it. It costs no goroutine and no channel,
	// which matters for one subscription per connected agent.
	SubscribeFunc(endpointID string, deliver func(Event)) func()
}

// LocalBus is an in-process Bus. Its zero value is not usable; call NewLocalBus.
type LocalBus struct {
	mu   sync.Mutex
	next int
	subs map[string]map[int]func(Event)
}

var _ Bus = (*LocalBus)(nil)

// NewLocalBus returns an empty in-process bus.
func NewLocalBus() *LocalBus {
	return &LocalBus{subs: make(map[string]map[int]func(Event))}
}

// subscriberBuffer bounds what a slow subscriber may fall behind; events past
// it are dropped for that subscriber (agents re-read their state on reconnect).
const subscriberBuffer = 16

// Publish implements Bus.
func (b *LocalBus) Publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Subscribers of this endpoint, then those of every event; an event of
	// no endpoint (apikey.*) reaches the latter once, not twice.
	if ev.EndpointID != "" {
		for _, deliver := range b.subs[ev.EndpointID] {
			deliver(ev)
		}
	}
	for _, deliver := range b.subs[""] {
		deliver(ev)
	}
}

// Subscribe implements Bus.
func (b *LocalBus) Subscribe(endpointID string) (<-chan Event, func()) {
	ch := make(chan Event, subscriberBuffer)
	return ch, b.SubscribeFunc(endpointID, func(ev Event) {
		select {
		case ch <- ev:
		default:
		}
	})
}

// SubscribeFunc implements Bus.
func (b *LocalBus) SubscribeFunc(endpointID string, deliver func(Event)) func() {
	b.mu.Lock()
	id := b.next
	b.next++
	m := b.subs[endpointID]
	if m == nil {
		m = make(map[int]func(Event), 1)
		b.subs[endpointID] = m
	}
	m[id] = deliver
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs[endpointID], id)
			if len(b.subs[endpointID]) == 0 {
				delete(b.subs, endpointID)
			}
			b.mu.Unlock()
		})
	}
}
