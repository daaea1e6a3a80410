package registry_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// A broker that cannot read fresh state refuses registrations and logins
// with KindUnavailable instead of answering from what may be stale, and
// answers them again as soon as it can (issue 14, point 4).
func TestFreshHookFailsClosed(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{Name: "k", AllowUntrustedEndpoints: true})
	var down atomic.Bool
	cause := errors.New("change feed not read for 31s")
	reg, err := registry.New(registry.Config{Store: e.store, Signer: e.signer, Clock: e.clk, Fresh: func() error {
		if down.Load() {
			return cause
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	d := newDevice(t)
	register := func() error {
		_, err := reg.Register(e.ctx, registry.RegisterRequest{APIKey: k.Value, ClientID: d.id, ClientType: "desktop_client",
			KeyType: registry.KeyTypeEd25519, PublicKey: d.pub, Proven: true, Remote: loopback})
		return err
	}
	login := func() error {
		_, err := reg.Login(e.ctx, registry.LoginRequest{APIKey: k.Value, JKT: d.jkt, EndpointID: d.id,
			Type: protocol.LoginSessionUser, Username: "paula", Remote: loopback})
		return err
	}
	deviceRegister := func() error {
		_, err := reg.RegisterDevice(e.ctx, registry.DeviceRegisterRequest{RegisterRequest: registry.RegisterRequest{
			APIKey: k.Value, ClientID: newDevice(t).id, ClientType: "desktop_client", Remote: loopback}})
		return err
	}
	deviceToken := func() error {
		_, err := reg.DeviceToken(e.ctx, registry.DeviceTokenRequest{APIKey: k.Value, ClientID: d.id, DeviceCode: "x", Remote: loopback})
		return err
	}
	if err := register(); err != nil {
		t.Fatalf("register while fresh: %v", err)
	}
	if err := reg.Fresh(); err != nil {
		t.Fatalf("Fresh while fresh: %v", err)
	}
	down.Store(true)
	for name, call := range map[string]func() error{"register": register, "login": login,
		"device register": deviceRegister, "device token": deviceToken} {
		t.Run(name, func(t *testing.T) {
			err := call()
			wantKindMsg(t, err, registry.KindUnavailable, "cannot read fresh state")
			if !errors.Is(err, cause) {
				t.Errorf("the cause is not kept for the log: %v", err)
			}
		})
	}
	if err := reg.Fresh(); registry.KindOf(err) != registry.KindUnavailable {
		t.Errorf("Fresh = %v, want KindUnavailable", err)
	}
	down.Store(false)
	if err := register(); err != nil {
		t.Fatalf("register once fresh again: %v", err)
	}
	// A registry without the hook is always fresh (a single broker).
	if err := e.reg.Fresh(); err != nil {
		t.Errorf("Fresh without a hook = %v", err)
	}
}
