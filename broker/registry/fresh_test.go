package registry_test

import (
	"context"
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

// downStore is a store whose database cannot be reached: every transaction
// fails before fn runs.
type downStore struct{ registry.Store }

var errDown = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

func (downStore) Update(context.Context, func(registry.Tx) error) error { return errDown }
func (downStore) View(context.Context, func(registry.Tx) error) error   { return errDown }

// A store that cannot be reached is no verdict on a user token: an admin
// is not told "sign in again" (401, which makes clients drop their tokens
// and the console end its sessions) because the database is down. And
// while the broker cannot read fresh state, every route's store failure is
// KindUnavailable (HTTP 503, QUIC unavailable) rather than internal.
func TestStoreDownIsNoRefusal(t *testing.T) {
	e := newEnv(t)
	tp, err := signInTokens(e.reg.SignIn(e.ctx, registry.SignInRequest{Username: "admin", Password: adminPW, Remote: loopback}))
	if err != nil {
		t.Fatal(err)
	}
	var stale atomic.Bool
	cause := errors.New("no fresh read of the shared store for 3s")
	reg, err := registry.New(registry.Config{Store: downStore{e.store}, Signer: e.signer, Clock: e.clk, Fresh: func() error {
		if stale.Load() {
			return cause
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		stale bool
		want  registry.Kind
	}{
		{"within the bound", false, registry.KindInternal},
		{"failing closed", true, registry.KindUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stale.Store(tc.stale)
			_, err := reg.Authenticate(e.ctx, tp.AccessToken)
			wantKind(t, err, tc.want)
			if !errors.Is(err, errDown) {
				t.Errorf("the store's failure is not kept for the log: %v", err)
			}
			_, err = reg.ListEndpoints(e.ctx, e.admin, registry.EndpointFilter{})
			wantKind(t, err, tc.want)
		})
	}
	// A refusal is still one, fresh or not.
	stale.Store(true)
	if _, err := reg.Authenticate(e.ctx, "not-a-token"); registry.KindOf(err) != registry.KindUnauthenticated {
		t.Errorf("a bad token while stale: %v, want KindUnauthenticated", err)
	}
}
