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

// A principal's feed holds the events of the accounts where it may view
// them — endpoint events with ViewEndpoint, apikey.* with ViewApiKey —
// narrowed by account (and below) and type; LastChange starts after
// everything committed so far.
func TestChangesShowsWhatThePrincipalMayView(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	start, err := e.reg.LastChange(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	approverA := e.user(tr.custA.ID, "approver-a", registry.RoleApprover)
	auditorB := e.user(tr.custB.ID, "auditor-b", registry.RoleAuditor)
	if got, _, err := e.reg.Changes(e.ctx, e.admin, start, 0, registry.ChangeFilter{}); err != nil || len(got) != 0 {
		t.Fatalf("from the end, before any event: %+v, %v", got, err) // creating users is no event
	}

	kA := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID})
	kA1 := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA1.ID})
	kB := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custB.ID})
	dA, dA1, dB := newDevice(t), newDevice(t), newDevice(t)
	e.mustRegister(dA, kA.Value)
	e.mustRegister(dA1, kA1.Value)
	e.mustRegister(dB, kB.Value)
	if _, err := e.reg.Decide(e.ctx, e.admin, dB.id, registry.ActionApprove, loopback); err != nil {
		t.Fatal(err)
	}

	type ev struct{ Type, Endpoint, Key, Account string }
	read := func(p *registry.Principal, f registry.ChangeFilter) []ev {
		t.Helper()
		changes, _, err := e.reg.Changes(e.ctx, p, start, 0, f)
		if err != nil {
			t.Fatal(err)
		}
		got := []ev{}
		for _, c := range changes {
			got = append(got, ev{c.Event.Type, c.Event.EndpointID, c.KeyID, c.Event.AccountID})
		}
		return got
	}
	created := func(k *registry.CreatedKey, acct string) ev {
		return ev{protocol.EventAPIKeyCreated, "", k.Key.ID, acct}
	}
	pending := func(d device, acct string) ev { return ev{protocol.EventEndpointPending, d.id, "", acct} }
	for _, tc := range []struct {
		name string
		p    *registry.Principal
		f    registry.ChangeFilter
		want []ev
	}{
		{"admin sees all", e.admin, registry.ChangeFilter{}, []ev{
			created(kA, tr.custA.ID), created(kA1, tr.custA1.ID), created(kB, tr.custB.ID),
			pending(dA, tr.custA.ID), pending(dA1, tr.custA1.ID), pending(dB, tr.custB.ID),
			{protocol.EventEndpointTrusted, dB.id, "", tr.custB.ID},
		}},
		{"approver: endpoints of its account and below, no keys", approverA, registry.ChangeFilter{}, []ev{
			pending(dA, tr.custA.ID), pending(dA1, tr.custA1.ID),
		}},
		{"auditor of another account", auditorB, registry.ChangeFilter{}, []ev{
			created(kB, tr.custB.ID), pending(dB, tr.custB.ID), {protocol.EventEndpointTrusted, dB.id, "", tr.custB.ID},
		}},
		{"account and below", e.admin, registry.ChangeFilter{AccountID: tr.custA.ID}, []ev{
			created(kA, tr.custA.ID), created(kA1, tr.custA1.ID), pending(dA, tr.custA.ID), pending(dA1, tr.custA1.ID),
		}},
		{"types, exact and by prefix", e.admin, registry.ChangeFilter{Types: []string{"apikey.*", protocol.EventEndpointTrusted}}, []ev{
			created(kA, tr.custA.ID), created(kA1, tr.custA1.ID), created(kB, tr.custB.ID),
			{protocol.EventEndpointTrusted, dB.id, "", tr.custB.ID},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, read(tc.p, tc.f)); d != "" {
				t.Errorf("events (-want +got):\n%s", d)
			}
		})
	}

	// An account created after a read is seen by the next.
	late := e.account(tr.custA.ID, "late", registry.AccountCustomer)
	kLate := e.key(registry.CreateAPIKeyRequest{AccountID: late.ID})
	dLate := newDevice(t)
	e.mustRegister(dLate, kLate.Value)
	if got := read(approverA, registry.ChangeFilter{AccountID: late.ID}); !cmp.Equal(got, []ev{pending(dLate, late.ID)}) {
		t.Errorf("events of an account created later = %+v", got)
	}

	_, _, err = e.reg.Changes(e.ctx, approverA, start, 0, registry.ChangeFilter{AccountID: tr.custB.ID})
	wantKind(t, err, registry.KindNotFound)
	_, _, err = e.reg.Changes(e.ctx, e.admin, start, 0, registry.ChangeFilter{Types: []string{"endpoint.approved"}})
	wantKind(t, err, registry.KindInvalid)
	_, _, err = e.reg.Changes(e.ctx, e.admin, start, 0, registry.ChangeFilter{Types: []string{"user.*"}})
	wantKind(t, err, registry.KindInvalid)
	_, _, err = e.reg.Changes(e.ctx, nil, start, 0, registry.ChangeFilter{})
	wantKind(t, err, registry.KindUnauthenticated)

	// A limit stops at an event, and the cursor goes on from it.
	two, next, err := e.reg.Changes(e.ctx, approverA, start, 1, registry.ChangeFilter{})
	if err != nil || len(two) != 1 || next != two[0].Cursor {
		t.Fatalf("limit 1: %+v, %d, %v", two, next, err)
	}
	rest, _, err := e.reg.Changes(e.ctx, approverA, next, 0, registry.ChangeFilter{})
	if err != nil || len(rest) != 2 || rest[0].Event.EndpointID != dA1.id {
		t.Fatalf("after the first: %+v, %v", rest, err)
	}
}
