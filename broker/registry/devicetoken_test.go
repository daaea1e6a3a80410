package registry_test

import (
	"net/netip"
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
		// change runs between the first logins and the last.
		change func(l *loginEnv)
		want   registry.Kind // 0: the last login succeeds
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
		// The rest change what the login path holds in memory between
		// logins (readcache.go): each reaches the very next login.
		{"key deactivated", func(l *loginEnv) {
			if _, err := l.reg.UpdateAPIKey(l.ctx, l.admin, l.key.Key.ID, registry.APIKeyUpdate{Active: ptr(false)}); err != nil {
				l.t.Fatal(err)
			}
		}, registry.KindInvalidClient},
		{"key limited to other addresses", func(l *loginEnv) {
			only := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
			if _, err := l.reg.UpdateAPIKey(l.ctx, l.admin, l.key.Key.ID, registry.APIKeyUpdate{AllowedIPs: &only}); err != nil {
				l.t.Fatal(err)
			}
		}, registry.KindInvalidClient},
		{"account disabled", func(l *loginEnv) {
			if _, err := l.reg.UpdateAccount(l.ctx, l.admin, l.key.Key.AccountID, registry.AccountUpdate{Disabled: ptr(true)}); err != nil {
				l.t.Fatal(err)
			}
		}, registry.KindInvalidClient},
		{"user disabled", func(l *loginEnv) {
			if _, err := l.reg.UpdateUser(l.ctx, l.admin, l.lastUser.ID, registry.UserUpdate{Disabled: ptr(true)}); err != nil {
				l.t.Fatal(err)
			}
		}, registry.KindLoginRefused},
		{"user given a role", func(l *loginEnv) {
			if _, err := l.reg.Grant(l.ctx, l.admin, l.lastUser.ID, registry.RoleAuditor, l.lastUser.AccountID, loopback); err != nil {
				l.t.Fatal(err)
			}
		}, registry.KindLoginRefused},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLoginEnv(t)
			if c.name == "account disabled" {
				l = newLoginEnvIn(t, "customer")
			}
			v, err := l.reg.VerifyDeviceToken(l.tokens.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			req := session
			req.Verified = v
			// The first login creates the user (and so changes the cache
			// generation); the second fills the memory.
			for i := range 2 {
				_, u, err := l.login(req)
				if err != nil {
					t.Fatalf("login %d: %v", i+1, err)
				}
				l.lastUser = u
			}
			c.change(l)
			hits := registry.CacheHitsForTest(l.reg)
			_, _, err = l.login(req)
			if c.want == 0 {
				if err != nil {
					t.Fatalf("last login: %v", err)
				}
				// What the second login read, the last read from memory.
				if got := registry.CacheHitsForTest(l.reg) - hits; got < 5 {
					t.Errorf("the last login read %d rows from memory, want at least 5 (key value, key, account, endpoint, user)", got)
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
