package main

import (
	"context"
	"fmt"
	"time"

	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// arrival is an event read from the stream and when it came.
type arrival struct {
	endpointID string
	at         time.Time
}

// eventLatency measures, with one event stream open (GET /api/v1/events),
// how long a registration takes to arrive on it: trials agents register
// one at a time with a key that needs approval, each timed from the start
// of its connection (handshake, HELLO, REGISTER) to its endpoint.pending
// event read by the bench. The registration alone is timed too, for
// reference: the difference is what the stream adds.
func (b *bench) eventLatency(ctx context.Context, br *brokerProc) error {
	r := &b.rep.Results
	key, err := br.createKey(ctx, "bench-events", false)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := br.api.OpenEvents(sctx, api.EventFilter{Types: []string{protocol.EventEndpointPending}})
	if err != nil {
		return fmt.Errorf("opening the event stream: %w", err)
	}
	defer s.Close()
	arrivals := make(chan arrival, 1024)
	go func() {
		defer close(arrivals)
		for {
			ev, err := s.Next()
			if err != nil {
				return
			}
			arrivals <- arrival{ev.EndpointID, time.Now()}
		}
	}()

	f, err := newFleet(br)
	if err != nil {
		return err
	}
	agents := newAgents(b.cfg.trials)
	defer f.close()
	b.logf("event stream: %d registrations, one at a time, each until its event arrives", len(agents))
	var regLat []time.Duration
	_, lat, err := b.trials(ctx, "registration events", agents, func(ctx context.Context, a *simAgent) error {
		t0 := time.Now()
		if err := retryRefused(ctx, &b.brokerRefused, func() error { return f.connect(ctx, a, key, 0) }); err != nil {
			return err
		}
		reg := time.Since(t0)
		for {
			select {
			case ev, ok := <-arrivals:
				if !ok {
					return fmt.Errorf("the event stream ended: %w", context.Cause(sctx))
				}
				if ev.endpointID == a.id {
					regLat = append(regLat, reg)
					return nil
				}
			case <-ctx.Done():
				return fmt.Errorf("waiting for the event of %s: %w", a.id, ctx.Err())
			}
		}
	})
	if err != nil {
		return err
	}
	l, rl := summarize(lat), summarize(regLat)
	r.EventP50Ms, r.EventP99Ms = ms(l.p50), ms(l.p99)
	r.EventRegisterP50Ms = ms(rl.p50)
	return nil
}
