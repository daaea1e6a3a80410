package registry_test

import (
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

func TestSweepDeletesStaleEndpoints(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	for acct, del := range map[string]bool{tr.custA.ID: true, tr.custB.ID: false} {
		s := registry.AccountSettings{StaleAfter: time.Hour, DeleteStale: del}
		if _, err := e.reg.UpdateAccount(e.ctx, e.admin, acct, registry.AccountUpdate{Settings: &s}); err != nil {
			t.Fatal(err)
		}
	}
	kA := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID, AutoTrust: true})
	kB := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custB.ID, AutoTrust: true})
	silent, active, inB := newDevice(t), newDevice(t), newDevice(t)
	e.mustRegister(silent, kA.Value)
	e.mustRegister(active, kA.Value)
	e.mustRegister(inB, kB.Value)
	e.clk.Advance(30 * time.Minute)
	if err := e.reg.Seen(e.ctx, active.id, loopback); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(45 * time.Minute) // silent: 75 min unseen; active: 45 min

	custA, _ := e.reg.GetAccount(e.ctx, e.admin, tr.custA.ID)
	custB, _ := e.reg.GetAccount(e.ctx, e.admin, tr.custB.ID)
	now := e.clk.Now()
	for _, c := range []struct {
		name  string
		d     device
		acct  *registry.Account
		stale bool
	}{{"silent", silent, custA, true}, {"active", active, custA, false}, {"in B", inB, custB, true}} {
		if got := registry.IsStale(e.endpoint(c.d.id), c.acct, now); got != c.stale {
			t.Errorf("IsStale(%s) = %v, want %v", c.name, got, c.stale)
		}
	}

	events, cancel := e.reg.Bus().Subscribe(silent.id)
	defer cancel()
	silentTok := e.mustRegister(silent, kA.Value) // re-registration counts as seen...
	e.clk.Advance(61 * time.Minute)               // ...but an hour later it is stale again, and so is active
	if err := e.reg.Seen(e.ctx, active.id, loopback); err != nil {
		t.Fatal(err)
	}
	res, err := e.reg.Sweep(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.StaleDeleted != 1 || res.PendingExpired != 0 {
		t.Fatalf("sweep: %+v", res)
	}
	if e.endpoint(silent.id) != nil || e.endpoint(active.id) == nil || e.endpoint(inB.id) == nil {
		t.Fatal("the wrong endpoints were deleted")
	}
	select {
	case ev := <-events:
		if ev.State != registry.StateDeleted {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("deletion not pushed")
	}
	ev := e.lastAudit("endpoint.stale_delete")
	if ev.Actor != "system" || ev.Target != "endpoint:"+silent.id || ev.AccountID != tr.custA.ID {
		t.Fatalf("audit %+v", ev)
	}
	// The deleted endpoint's tokens are revoked.
	_, err = e.reg.Refresh(e.ctx, silentTok.Tokens.RefreshToken, silent.jkt, loopback)
	wantKind(t, err, registry.KindInvalidGrant)
}

func TestSweepPurgesExpiredPending(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{})
	old, renewed, approved := newDevice(t), newDevice(t), newDevice(t)
	for _, d := range []device{old, renewed, approved} {
		e.mustRegister(d, k.Value)
	}
	if _, err := e.reg.Decide(e.ctx, e.admin, approved.id, registry.ActionApprove, loopback); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(48 * time.Hour)
	e.mustRegister(renewed, k.Value) // a pending agent that retries gets a fresh code
	if res, err := e.reg.Sweep(e.ctx); err != nil || res.PendingExpired != 0 {
		t.Fatalf("sweep before expiry: %+v %v", res, err)
	}
	e.clk.Advance(24 * time.Hour)
	res, err := e.reg.Sweep(e.ctx)
	if err != nil || res.PendingExpired != 1 {
		t.Fatalf("sweep: %+v %v", res, err)
	}
	if e.endpoint(old.id) != nil || e.endpoint(renewed.id) == nil || e.endpoint(approved.id) == nil {
		t.Fatal("the wrong endpoints were purged")
	}
	if ev := e.lastAudit("endpoint.expire"); ev.Actor != "system" || ev.Target != "endpoint:"+old.id {
		t.Fatalf("audit %+v", ev)
	}
	// A purged registration may start again.
	if res := e.mustRegister(old, k.Value); !res.Created || res.Endpoint.State != registry.StatePending {
		t.Fatalf("re-registering after purge: %+v", res)
	}
}

func TestSweepPurgesLongExpiredRefreshTokens(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	d := newDevice(t)
	e.mustRegister(d, k.Value)
	if res, err := e.reg.Sweep(e.ctx); err != nil || res.RefreshPurged != 0 {
		t.Fatalf("sweep of live tokens: %+v %v", res, err)
	}
	e.clk.Advance(90*24*time.Hour + time.Minute) // expired, but kept 30 days for reuse detection
	if res, err := e.reg.Sweep(e.ctx); err != nil || res.RefreshPurged != 0 {
		t.Fatalf("sweep of recently expired tokens: %+v %v", res, err)
	}
	e.clk.Advance(30 * 24 * time.Hour)
	res, err := e.reg.Sweep(e.ctx)
	// The admin's sign-in and the device's registration each left one.
	if err != nil || res.RefreshPurged != 2 {
		t.Fatalf("sweep: %+v %v", res, err)
	}
	if res, _ := e.reg.Sweep(e.ctx); res.RefreshPurged != 0 {
		t.Fatalf("second sweep: %+v", res)
	}
}
