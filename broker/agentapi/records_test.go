package agentapi_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/agentapi"
	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

var loopbackAddr = netip.MustParseAddr("127.0.0.1")

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestEndpointSeenOverQUIC: an agent is seen by everything it does on its
// connection: the tokens pushed with its approval, a refresh, a login, a
// heartbeat (issue 12, point 3).
func TestEndpointSeenOverQUIC(t *testing.T) {
	clk := &fakeClock{t: time.Now().UTC()}
	h := newHarnessWith(t, brokertest.Options{Clock: clk}, agentapi.Config{SeenInterval: time.Nanosecond})
	r := dial(t, h)
	r.hello()
	r.send(&protocol.Register{APIKey: h.man, ClientType: "embedded_terminal", Hostname: "term-1"})
	if reg, ok := r.recv().(*protocol.Registered); !ok || reg.State != "pending" {
		t.Fatalf("registered = %#v", reg)
	}
	ctx := context.Background()
	if _, err := h.reg.CreateUser(ctx, h.admin, registry.CreateUserRequest{AccountID: h.admin.AccountID, Username: "carol"}); err != nil {
		t.Fatal(err)
	}
	lastSeen := func() time.Time {
		t.Helper()
		ep, err := h.reg.GetEndpoint(ctx, h.admin, r.id)
		if err != nil {
			t.Fatal(err)
		}
		return ep.LastSeenAt
	}
	var tok *protocol.Tokens
	for _, step := range []struct {
		name string
		do   func()
	}{
		{"the approval's pushed tokens", func() {
			if _, err := h.reg.Decide(ctx, h.admin, r.id, registry.ActionApprove, loopbackAddr); err != nil {
				t.Fatal(err)
			}
			d, ok := r.recv().(*protocol.Decision)
			if !ok || d.Tokens == nil {
				t.Fatalf("pushed = %#v", d)
			}
			tok = d.Tokens
		}},
		{"refresh", func() {
			tk, ok := r.request(frame(t, &protocol.Refresh{RefreshToken: tok.RefreshToken})).(*protocol.Tokens)
			if !ok {
				t.Fatalf("refresh = %#v", tk)
			}
			tok = tk
		}},
		{"login", func() {
			m := r.request(frame(t, &protocol.Login{APIKey: h.man, DeviceToken: tok.AccessToken, Type: "session_user", Username: "carol"}))
			if _, ok := m.(*protocol.Tokens); !ok {
				t.Fatalf("login = %#v", m)
			}
		}},
		{"heartbeat", func() {
			r.send(&protocol.Ping{Seq: 7})
			if p, ok := r.recv().(*protocol.Pong); !ok || p.Seq != 7 {
				t.Fatalf("pong = %#v", p)
			}
		}},
	} {
		clk.Advance(2 * time.Minute) // past the minute kept
		step.do()
		if got := lastSeen(); !got.Equal(clk.Now()) {
			t.Errorf("after %s: last seen %v, want now (%v)", step.name, got, clk.Now())
		}
	}
}

// TestRefusedLoginOfUntrustedAgentIsAudited: after an untrust the agent
// has no device token but is still connected; its login reaches the
// broker, which refuses it and records the refusal as the endpoint's
// (issue 12, point 4).
func TestRefusedLoginOfUntrustedAgentIsAudited(t *testing.T) {
	h := newHarness(t)
	r := dial(t, h)
	r.hello()
	r.send(&protocol.Register{APIKey: h.key, ClientType: "desktop_client", Hostname: "pc-1"})
	if reg, ok := r.recv().(*protocol.Registered); !ok || reg.State != "trusted" {
		t.Fatalf("registered = %#v", reg)
	}
	ctx := context.Background()
	if _, err := h.reg.Decide(ctx, h.admin, r.id, registry.ActionUntrust, loopbackAddr); err != nil {
		t.Fatal(err)
	}
	if d, ok := r.recv().(*protocol.Decision); !ok || d.State != "untrusted" {
		t.Fatalf("pushed = %#v", d)
	}
	wantError(t, r.request(frame(t, &protocol.Login{APIKey: h.key, Type: "session_user", Username: "carol"})), protocol.CodeAccessDenied)
	evs, err := h.reg.ListAudit(ctx, h.admin, registry.AuditFilter{Endpoint: r.id, Action: "login.session_user"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Actor != "endpoint:"+r.id || evs[0].Outcome != registry.OutcomeFailure || evs[0].AccountID != h.admin.AccountID {
		t.Errorf("audit of the refused login: %+v", evs)
	}
}
