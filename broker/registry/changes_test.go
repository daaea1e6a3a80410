package registry_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// The change feed replays, from the audit log, the events the bus carried
// live — in commit order, from any cursor, filtered as asked.
func TestReadChangesReplaysTheBus(t *testing.T) {
	e := newEnv(t)
	_, from, err := e.reg.ReadChanges(e.ctx, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	live, stop := e.reg.Bus().Subscribe("")
	defer stop()
	k := e.key(registry.CreateAPIKeyRequest{Name: "k"})
	d1, d2 := newDevice(t), newDevice(t)
	e.mustRegister(d1, k.Value)
	e.mustRegister(d2, k.Value)
	for _, step := range []struct {
		id string
		a  registry.Action
	}{{d1.id, registry.ActionApprove}, {d2.id, registry.ActionReject}, {d1.id, registry.ActionUntrust}} {
		if _, err := e.reg.Decide(e.ctx, e.admin, step.id, step.a, loopback); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.reg.DeleteEndpoint(e.ctx, e.admin, d2.id, loopback); err != nil {
		t.Fatal(err)
	}
	type ev struct{ Type, Endpoint, Account string }
	var want []ev
	for len(want) < 7 {
		x := <-live
		want = append(want, ev{x.Type, x.EndpointID, x.AccountID})
	}
	changes, next, err := e.reg.ReadChanges(e.ctx, from, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []ev
	for _, c := range changes {
		got = append(got, ev{c.Event.Type, c.Event.EndpointID, c.Event.AccountID})
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("feed vs bus (-bus +feed):\n%s", d)
	}
	if want[1].Type != protocol.EventEndpointPending || want[4].Type != protocol.EventEndpointRejected {
		t.Errorf("unexpected bus events %+v", want)
	}
	// From the middle: the rest, and a limit stops where it says.
	rest, _, err := e.reg.ReadChanges(e.ctx, changes[3].Cursor, 0, nil)
	if err != nil || len(rest) != 3 || rest[0].Cursor != changes[4].Cursor {
		t.Fatalf("from the 4th: %+v %v", rest, err)
	}
	two, after, err := e.reg.ReadChanges(e.ctx, from, 2, nil)
	if err != nil || len(two) != 2 || after != two[1].Cursor {
		t.Fatalf("limit 2: %+v, cursor %d, %v", two, after, err)
	}
	only, _, err := e.reg.ReadChanges(e.ctx, from, 0, func(ev registry.Event) bool { return ev.EndpointID == d2.id })
	if err != nil || len(only) != 3 {
		t.Fatalf("filtered to d2: %+v %v", only, err)
	}
	if again, n2, err := e.reg.ReadChanges(e.ctx, next, 0, nil); err != nil || len(again) != 0 || n2 != next {
		t.Fatalf("from the end: %+v %d %v", again, n2, err)
	}
}
