package registry_test

import (
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
