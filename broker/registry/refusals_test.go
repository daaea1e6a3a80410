package registry_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// TestRepeatedKeyRefusalsAreFolded: two misconfigured agents retrying with
// a bad key wrote one row per try (11 rows in 8 s, issue 12 point 5). Now
// the first refusal of each source and reason is written at once, the
// repeats of the next minute become one count row, written when the window
// has closed (by Sweep here, or by the next refusal); other refusals are
// never folded.
func TestRepeatedKeyRefusalsAreFolded(t *testing.T) {
	e := newEnv(t)
	agents := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")}
	since := e.clk.Now()
	try := func(from netip.Addr, key string) {
		t.Helper()
		_, err := e.reg.Register(e.ctx, registry.RegisterRequest{APIKey: key, ClientID: newDevice(t).id,
			ClientType: "desktop_client", Remote: from})
		wantKind(t, err, registry.KindInvalidClient)
	}
	type row struct{ Remote, Reason, Count string }
	rows := func() []row {
		t.Helper()
		var out []row
		for _, ev := range e.audits(registry.AuditFilter{Action: "endpoint.register", Since: since}) {
			out = append(out, row{ev.Remote, ev.Detail["reason"], ev.Detail["count"]})
		}
		return out
	}
	for i := range 11 {
		try(agents[i%2], "etk_bogus")
		e.clk.Advance(700 * time.Millisecond)
	}
	unknown, err := protocol.FormatKey(protocol.EncodeKeyID([]byte("nosuchky")), make([]byte, protocol.KeySecretBytes))
	if err != nil {
		t.Fatal(err)
	}
	try(agents[0], unknown) // another reason: a window of its own
	want := []row{{"10.0.0.1", "malformed", ""}, {"10.0.0.2", "malformed", ""}, {"10.0.0.1", "unknown", ""}}
	if d := cmp.Diff(want, rows()); d != "" {
		t.Fatalf("rows within the window (-want +got):\n%s", d)
	}
	if _, err := e.reg.Sweep(e.ctx); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, rows()); d != "" {
		t.Fatalf("a sweep within the window writes nothing (-want +got):\n%s", d)
	}

	e.clk.Advance(time.Minute)
	if _, err := e.reg.Sweep(e.ctx); err != nil {
		t.Fatal(err)
	}
	got := rows()
	if len(got) > 3 { // the count rows of one sweep come in no set order
		slices.SortFunc(got[3:], func(a, b row) int { return strings.Compare(a.Remote, b.Remote) })
	}
	want = append(want, row{"10.0.0.1", "malformed", "5"}, row{"10.0.0.2", "malformed", "4"})
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("after the window (-want +got):\n%s", d)
	}
	for _, ev := range e.audits(registry.AuditFilter{Action: "endpoint.register", Since: since})[3:] {
		if ev.Detail["first_at"] == "" || ev.Detail["last_at"] <= ev.Detail["first_at"] || ev.Outcome != registry.OutcomeFailure ||
			ev.Actor != "anonymous" || ev.Target == "" {
			t.Errorf("count row %+v", ev)
		}
	}

	// The next refusal opens a new window: written at once.
	try(agents[1], "etk_bogus")
	if n := len(rows()); n != len(want)+1 {
		t.Errorf("%d rows after a refusal in a new window, want %d", n, len(want)+1)
	}

	// Other security decisions are never folded: a refused login, twice.
	l := newLoginEnv(t)
	for range 2 {
		_, _, err := l.reg.LoginUser(l.ctx, registry.LoginRequest{Type: protocol.LoginSessionUser, Username: "nobody",
			APIKey: l.key.Value, DeviceToken: "not-a-token", JKT: l.dev.jkt, Remote: loopback})
		wantKind(t, err, registry.KindAccessDenied)
	}
	if n := len(l.audits(registry.AuditFilter{Action: "login.session_user", Outcome: registry.OutcomeFailure})); n != 2 {
		t.Errorf("%d refused logins audited, want 2", n)
	}
}
