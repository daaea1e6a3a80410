package registry_test

import (
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// TestKeyChangeOverTheAgentPath: an agent that comes back with another key
// is told pending; the old key keeps its tokens until the admin approves,
// and then the new key's holder is pushed the endpoint's state and can
// fetch tokens (SPEC E4).
func TestKeyChangeOverTheAgentPath(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	d := e.mustRegister(newDevice(t), k.Value)
	old := device{id: d.Endpoint.ID, jkt: d.Endpoint.KeyThumbprint}
	nd := newDevice(t)
	nd.id = old.id
	events, stop := e.reg.Bus().Subscribe(old.id)
	defer stop()

	res := e.mustRegister(nd, k.Value)
	if !res.KeyChange || res.Endpoint.State != registry.StatePending || res.Tokens != nil || res.Created {
		t.Fatalf("registration with a new key: %+v", res)
	}
	if _, err := e.reg.IssueDeviceTokens(e.ctx, old.id, nd.jkt, loopback); registry.KindOf(err) != registry.KindAccessDenied {
		t.Fatalf("tokens for the new key before approval: %v", err)
	}
	if _, err := e.reg.IssueDeviceTokens(e.ctx, old.id, old.jkt, loopback); err != nil {
		t.Fatalf("the old key lost its tokens before approval: %v", err)
	}
	// The admin's list shows it; no one signed out can decide it.
	changes, err := e.reg.ListKeyChanges(e.ctx, e.admin, "")
	if err != nil || len(changes) != 1 || changes[0].Change.KeyThumbprint != nd.jkt || changes[0].Endpoint.KeyThumbprint != old.jkt {
		t.Fatalf("ListKeyChanges = %+v, %v", changes, err)
	}
	if _, err := e.reg.ApproveKeyChange(e.ctx, nil, old.id, nd.jkt, loopback); err == nil {
		t.Fatal("approved without a principal")
	}

	ep, err := e.reg.ApproveKeyChange(e.ctx, e.admin, old.id, nd.jkt, loopback)
	if err != nil || ep.KeyThumbprint != nd.jkt || ep.State != registry.StateTrusted {
		t.Fatalf("ApproveKeyChange = %+v, %v", ep, err)
	}
	select {
	case ev := <-events:
		if ev.Type != protocol.EventEndpointKeyChange || ev.State != registry.StateTrusted {
			t.Errorf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event after the approval")
	}
	if _, err := e.reg.IssueDeviceTokens(e.ctx, old.id, nd.jkt, loopback); err != nil {
		t.Fatalf("tokens for the new key after approval: %v", err)
	}
	if _, err := e.reg.IssueDeviceTokens(e.ctx, old.id, old.jkt, loopback); registry.KindOf(err) != registry.KindAccessDenied {
		t.Fatalf("the old key still gets tokens: %v", err)
	}
	// Audited both ways.
	var actions []string
	e.store.View(e.ctx, func(tx registry.Tx) error {
		evs, err := tx.ListAudit(registry.AuditFilter{Action: "endpoint.key_change."})
		for _, ev := range evs {
			actions = append(actions, ev.Action)
		}
		return err
	})
	if len(actions) != 2 || actions[0] != "endpoint.key_change.request" || actions[1] != "endpoint.key_change.approve" {
		t.Errorf("audited %v", actions)
	}
}
