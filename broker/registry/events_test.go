package registry_test

import (
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// Events carry the publishing broker's id and a sequence without gaps
// (issue 11, point 5), so that a broker on a shared bus can skip its own
// echo and a watcher can see what it missed.
func TestEventsCarryBrokerAndSequence(t *testing.T) {
	e := newEnv(t)
	events, stop := e.reg.Bus().Subscribe("")
	defer stop()
	k := e.key(registry.CreateAPIKeyRequest{Name: "k"})
	d := newDevice(t)
	e.mustRegister(d, k.Value)
	if _, err := e.reg.Decide(e.ctx, e.admin, d.id, registry.ActionApprove, loopback); err != nil {
		t.Fatal(err)
	}
	var got []registry.Event
	deadline := time.After(time.Minute)
	for len(got) < 3 {
		select {
		case ev := <-events:
			got = append(got, ev)
		case <-deadline:
			t.Fatalf("got %d events, want 3: %+v", len(got), got)
		}
	}
	wantTypes := []string{protocol.EventAPIKeyCreated, protocol.EventEndpointPending, protocol.EventEndpointTrusted}
	for i, ev := range got {
		if ev.Type != wantTypes[i] || ev.BrokerID == "" || ev.BrokerID != got[0].BrokerID || ev.Seq != got[0].Seq+uint64(i) {
			t.Errorf("event %d: %+v; want type %s, one broker id, consecutive sequence", i, ev, wantTypes[i])
		}
	}
}
