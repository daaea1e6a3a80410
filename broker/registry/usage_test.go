package registry_test

import (
	"crypto/ed25519"
	"net/netip"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// A value's "last used" and an endpoint's "last seen" are kept to the
// minute: logins from the same address within a minute of the recorded use
// write nothing, a later one or one from elsewhere records itself.
func TestLoginUsageKeptToTheMinute(t *testing.T) {
	l := newLoginEnv(t)
	usage := func() (used, seen time.Time, from string) {
		t.Helper()
		k, err := l.reg.GetAPIKey(l.ctx, l.admin, l.key.Key.ID)
		if err != nil || len(k.Values) != 1 {
			t.Fatalf("key: %+v %v", k, err)
		}
		ep, err := l.reg.GetEndpoint(l.ctx, l.admin, l.dev.id)
		if err != nil {
			t.Fatal(err)
		}
		return k.Values[0].LastUsedAt, ep.LastSeenAt, k.Values[0].LastUsedFrom
	}
	login := func(remote netip.Addr) {
		t.Helper()
		req := registry.LoginRequest{Type: protocol.LoginSessionUser, Username: "paula",
			APIKey: l.key.Value, DeviceToken: l.tokens.AccessToken, JKT: l.dev.jkt, Remote: remote}
		if _, _, err := l.reg.LoginUser(l.ctx, req); err != nil {
			t.Fatalf("login: %v", err)
		}
	}
	login(loopback)
	used0, seen0, _ := usage()
	if used0.IsZero() || seen0.IsZero() {
		t.Fatalf("no use recorded: used %v seen %v", used0, seen0)
	}

	l.clk.Advance(30 * time.Second)
	login(loopback)
	if used, seen, _ := usage(); !used.Equal(used0) || !seen.Equal(seen0) {
		t.Errorf("within the minute: used %v seen %v, want unchanged %v %v", used, seen, used0, seen0)
	}

	other := netip.MustParseAddr("192.0.2.7")
	login(other)
	if used, seen, from := usage(); !used.After(used0) || !seen.After(seen0) || from != other.String() {
		t.Errorf("from another address: used %v from %s, seen %v; want both after %v, from %s", used, from, seen, used0, other)
	}
	used1, seen1, _ := usage()

	l.clk.Advance(time.Minute)
	login(other)
	if used, seen, _ := usage(); !used.After(used1) || !seen.After(seen1) {
		t.Errorf("a minute later: used %v seen %v, want after %v %v", used, seen, used1, seen1)
	}
}

// An endpoint is seen whenever it shows itself, on every transport: when
// it takes the tokens of its approval, at each refresh (QUIC and HTTP) and
// each login; an administrator's decision is not a sighting (issue 12,
// point 3; SPEC E6, E8 judge stale endpoints by it).
func TestEndpointSeenThroughItsLife(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{})
	d := newSigner(t)
	e.mustRegister(d.device, k.Value)
	if _, err := e.reg.CreateUser(e.ctx, e.admin, registry.CreateUserRequest{AccountID: e.root, Username: "paula"}); err != nil {
		t.Fatal(err)
	}
	other := netip.MustParseAddr("192.0.2.8")
	var tok *registry.TokenPair
	for _, step := range []struct {
		name   string
		seen   bool
		remote netip.Addr
		do     func() error
	}{
		{"approval", false, loopback, func() error {
			_, err := e.reg.Decide(e.ctx, e.admin, d.id, registry.ActionApprove, other)
			return err
		}},
		{"the approval's tokens", true, loopback, func() (err error) {
			tok, err = e.reg.IssueDeviceTokens(e.ctx, d.id, d.jkt, loopback)
			return err
		}},
		{"refresh", true, other, func() (err error) {
			tok, err = e.reg.Refresh(e.ctx, tok.RefreshToken, d.jkt, other)
			return err
		}},
		{"refresh over HTTP", true, loopback, func() (err error) {
			body := []byte("grant_type=refresh_token")
			tok, err = e.reg.RefreshDevice(e.ctx, registry.DeviceRefreshRequest{APIKey: k.Value, ClientID: d.id,
				RefreshToken: tok.RefreshToken, Body: body, Signature: ed25519.Sign(d.priv, body), Remote: loopback})
			return err
		}},
		{"login", true, other, func() error {
			_, _, err := e.reg.LoginUser(e.ctx, registry.LoginRequest{Type: protocol.LoginSessionUser, Username: "paula",
				APIKey: k.Value, DeviceToken: tok.AccessToken, JKT: d.jkt, Remote: other})
			return err
		}},
	} {
		before := e.endpoint(d.id)
		e.clk.Advance(2 * time.Minute) // past the minute kept
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		after := e.endpoint(d.id)
		switch {
		case step.seen && (!after.LastSeenAt.Equal(e.clk.Now()) || after.LastSeenFrom != step.remote.String()):
			t.Errorf("after %s: last seen %v from %q, want now (%v) from %s", step.name, after.LastSeenAt, after.LastSeenFrom, e.clk.Now(), step.remote)
		case !step.seen && !after.LastSeenAt.Equal(before.LastSeenAt):
			t.Errorf("after %s: last seen %v, want unchanged %v", step.name, after.LastSeenAt, before.LastSeenAt)
		}
	}
}
