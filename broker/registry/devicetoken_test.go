package registry_test

import (
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// TestLoginVerifiedDeviceToken: a device token verified once per
// connection (LoginRequest.Verified) is taken without a second signature
// check, but everything that ends a token or a login before it expires
// still stops the very next login (issue 17: untrust, revoke, regenerate
// at once; the expiry against the clock).
func TestLoginVerifiedDeviceToken(t *testing.T) {
	session := registry.LoginRequest{Type: protocol.LoginSessionUser, Username: "alice"}
	cases := []struct {
		name string
		// change runs between the first login and the second.
		change func(l *loginEnv)
		want   registry.Kind // 0: the second login succeeds
	}{
		{"nothing changed", func(l *loginEnv) {}, 0},
		{"token expired", func(l *loginEnv) { l.clk.Advance(16 * time.Minute) }, registry.KindAccessDenied},
		{"endpoint untrusted", func(l *loginEnv) {
			if _, err := l.reg.Decide(l.ctx, l.admin, l.dev.id, registry.ActionUntrust, loopback); err != nil {
				l.t.Fatal(err)
			}
		}, registry.KindAccessDenied},
		{"device token revoked", func(l *loginEnv) {
			if err := l.reg.Revoke(l.ctx, registry.RevokeRequest{APIKey: l.key.Value, ClientID: l.dev.id, Token: l.tokens.AccessToken, Remote: loopback}); err != nil {
				l.t.Fatal(err)
			}
		}, registry.KindAccessDenied},
		{"key value regenerated", func(l *loginEnv) {
			if _, err := l.reg.RegenerateKeyValue(l.ctx, l.admin, l.key.Key.ID, l.key.ValueID, loopback); err != nil {
				l.t.Fatal(err)
			}
		}, registry.KindInvalidClient},
		{"key value revoked", func(l *loginEnv) {
			if err := l.reg.RevokeKeyValue(l.ctx, l.admin, l.key.Key.ID, l.key.ValueID, loopback); err != nil {
				l.t.Fatal(err)
			}
		}, registry.KindInvalidClient},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLoginEnv(t)
			v, err := l.reg.VerifyDeviceToken(l.tokens.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			req := session
			req.Verified = v
			if _, _, err := l.login(req); err != nil {
				t.Fatalf("first login: %v", err)
			}
			c.change(l)
			_, _, err = l.login(req)
			if c.want == 0 {
				if err != nil {
					t.Fatalf("second login: %v", err)
				}
				return
			}
			wantKind(t, err, c.want)
		})
	}
}

// TestVerifiedDeviceTokenIsForItsTokenOnly: a verification of one token
// says nothing about another: a forged token presented with it is
// verified, and refused.
func TestVerifiedDeviceTokenIsForItsTokenOnly(t *testing.T) {
	l := newLoginEnv(t)
	v, err := l.reg.VerifyDeviceToken(l.tokens.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	forged := l.tokens.AccessToken[:len(l.tokens.AccessToken)-4] + "AAAA"
	_, _, err = l.reg.LoginUser(l.ctx, registry.LoginRequest{
		APIKey: l.key.Value, DeviceToken: forged, Verified: v, JKT: l.dev.jkt, Remote: loopback,
		Type: protocol.LoginSessionUser, Username: "alice",
	})
	wantKind(t, err, registry.KindAccessDenied)
	if _, err := l.reg.VerifyDeviceToken(forged); registry.KindOf(err) != registry.KindAccessDenied {
		t.Fatalf("VerifyDeviceToken(forged) = %v, want KindAccessDenied", err)
	}
	if v.For(forged) || v.For("") || (*registry.VerifiedDeviceToken)(nil).For(l.tokens.AccessToken) {
		t.Fatal("a verification answered For another token, an empty one, or when nil")
	}
}
