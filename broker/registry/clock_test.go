package registry_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// TestBrokerClockJump (SPEC R9): everything with a lifetime is judged by
// the broker's clock alone. The clock jumps to one second before each
// expiry (still accepted) and to one second after it (refused, with the
// kind each transport maps to its "expired" answer), whatever the caller
// presents: an expired key with its correct secret is refused too.
func TestBrokerClockJump(t *testing.T) {
	cases := []struct {
		name string
		life time.Duration
		// prepare makes the thing that expires and returns the call that
		// uses it after the jump.
		prepare func(e *env) func() error
		want    registry.Kind // after expiry; before it the call succeeds or answers wantBefore
		before  registry.Kind
	}{
		{"device access token", 15 * time.Minute, func(e *env) func() error {
			k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
			d := newDevice(t)
			tok := e.mustRegister(d, k.Value).Tokens
			return func() error {
				_, err := e.reg.Login(e.ctx, registry.LoginRequest{APIKey: k.Value, DeviceToken: tok.AccessToken, JKT: d.jkt,
					EndpointID: d.id, Type: protocol.LoginSessionUser, Username: "zoe", Remote: loopback})
				return err
			}
		}, registry.KindAccessDenied, 0},
		{"user access token", time.Hour, func(e *env) func() error {
			k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
			d := newDevice(t)
			tok := e.mustRegister(d, k.Value).Tokens
			user, err := e.reg.Login(e.ctx, registry.LoginRequest{APIKey: k.Value, DeviceToken: tok.AccessToken, JKT: d.jkt,
				EndpointID: d.id, Type: protocol.LoginSessionUser, Username: "zoe", Remote: loopback})
			if err != nil {
				t.Fatal(err)
			}
			return func() error { _, err := e.reg.Authenticate(e.ctx, user.AccessToken); return err }
		}, registry.KindUnauthenticated, 0},
		{"refresh token", 90 * 24 * time.Hour, func(e *env) func() error {
			k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
			d := newDevice(t)
			tok := e.mustRegister(d, k.Value).Tokens
			return func() error { _, err := e.reg.Refresh(e.ctx, tok.RefreshToken, d.jkt, loopback); return err }
		}, registry.KindInvalidGrant, 0},
		{"pending registration's device code", 72 * time.Hour, func(e *env) func() error {
			k := e.key(registry.CreateAPIKeyRequest{})
			d := newDevice(t)
			da, err := e.reg.RegisterDevice(e.ctx, registry.DeviceRegisterRequest{RegisterRequest: registry.RegisterRequest{
				APIKey: k.Value, ClientID: d.id, ClientType: "printer", Remote: loopback}})
			if err != nil {
				t.Fatal(err)
			}
			return func() error {
				_, err := e.reg.DeviceToken(e.ctx, registry.DeviceTokenRequest{APIKey: k.Value, ClientID: d.id, DeviceCode: da.DeviceCode, Remote: loopback})
				return err
			}
		}, registry.KindExpired, registry.KindPending},
		{"API key, correct secret", 48 * time.Hour, func(e *env) func() error {
			k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true, ExpiresAt: e.clk.Now().Add(48 * time.Hour)})
			return func() error { _, err := e.register(newDevice(t), k.Value); return err }
		}, registry.KindInvalidClient, 0},
	}
	for _, c := range cases {
		for _, jump := range []struct {
			name string
			by   time.Duration
			want registry.Kind
		}{{"one second before", c.life - time.Second, c.before}, {"one second after", c.life + time.Second, c.want}} {
			t.Run(c.name+"/"+jump.name, func(t *testing.T) {
				e := newEnv(t)
				call := c.prepare(e)
				e.clk.Advance(jump.by)
				err := call()
				got := registry.KindOf(err)
				if err == nil {
					got = 0
				}
				if d := cmp.Diff(jump.want.String(), got.String()); d != "" {
					t.Errorf("after a jump of %v: %v (-want +got kind):\n%s", jump.by, err, d)
				}
			})
		}
	}
}
