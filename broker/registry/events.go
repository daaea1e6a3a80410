package registry

import (
	"sync"
	"time"
)

// Event is a change pushed to live watchers and to connected agents. It holds
// no secrets, so it can cross brokers (a PostgreSQL bus carries it between
// brokers sharing one database).
type Event struct {
	Type       string // "endpoint.trusted", "endpoint.untrusted", ...
	EndpointID string
	AccountID  string
	State      State
	At         time.Time
}

// Bus delivers events. Publish must not block on slow subscribers.
type Bus interface {
	// Publish delivers ev to local subscribers (and, for a shared bus, to
	// other brokers, which call their own local Publish).
	Publish(ev Event)
	// Subscribe returns a channel of events for one endpoint id ("" = every
	// event) and a function that ends the subscription.
	Subscribe(endpointID string) (<-chan Event, func())
}

// LocalBus is an in-process Bus. Its zero value is not usable; call NewLocalBus.
type LocalBus struct {
	mu   sync.Mutex
	next int
	subs map[string]map[int]chan Event
}

var _ Bus = (*LocalBus)(nil)

// NewLocalBus returns an empty in-process bus.
func NewLocalBus() *LocalBus {
	return &LocalBus{subs: make(map[string]map[int]chan Event)}
}

// subscriberBuffer bounds what a slow subscriber may fall behind; events past
// it are dropped for that subscriber (agents re-read their state on reconnect).
const subscriberBuffer = 16

// Publish implements Bus.
func (b *LocalBus) Publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, key := range []string{ev.EndpointID, ""} {
		for _, ch := range b.subs[key] {
			select {
			case ch <- ev:
			default:
			}
		}
	}
}

// Subscribe implements Bus.
func (b *LocalBus) Subscribe(endpointID string) (<-chan Event, func()) {
	ch := make(chan Event, subscriberBuffer)
	b.mu.Lock()
	id := b.next
	b.next++
	m := b.subs[endpointID]
	if m == nil {
		m = make(map[int]chan Event)
		b.subs[endpointID] = m
	}
	m[id] = ch
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
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
