package agentapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/quic-go/quic-go"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// listenUDP opens a UDP socket on ip, or skips the test when the loopback
// address cannot be bound (127.0.0.2 is loopback on Linux, not on every
// system).
func listenUDP(t *testing.T, ip string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Skipf("cannot bind %s: %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestMigrationToADeniedAddressIsRefused moves a real QUIC connection from
// 127.0.0.1 to 127.0.0.2 (quic-go's client-side migration: AddPath, Probe,
// Switch) and checks that the key's allowed IPs are applied to the address
// of each request, not to the one of the handshake (SPEC R14).
func TestMigrationToADeniedAddressIsRefused(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key, err := h.reg.CreateAPIKey(ctx, h.admin, registry.CreateAPIKeyRequest{Name: "loopback only", AutoTrust: true,
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	if err != nil {
		t.Fatal(err)
	}
	tr1 := &quic.Transport{Conn: listenUDP(t, "127.0.0.1")}
	defer tr1.Close()
	tr2 := &quic.Transport{Conn: listenUDP(t, "127.0.0.2")}
	defer tr2.Close()
	udpAddr, err := net.ResolveUDPAddr("udp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tr1.Dial(ctx, udpAddr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{protocol.ALPN}}, &quic.Config{MaxIdleTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	ctrl, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	r := &raw{t: t, conn: conn, ctrl: ctrl, rd: protocol.NewReader(ctrl), id: uuid.NewString(), key: k}
	r.hello()
	r.send(&protocol.Register{APIKey: key.Value, ClientType: "printer"})
	reg, ok := r.recv().(*protocol.Registered)
	if !ok || reg.State != "trusted" || reg.Tokens == nil {
		t.Fatalf("registered = %#v", reg)
	}
	login := frame(t, &protocol.Login{APIKey: key.Value, DeviceToken: reg.Tokens.AccessToken, Type: "session_user", Username: "dora"})
	if tk, ok := r.request(login).(*protocol.Tokens); !ok || tk.AccessToken == "" {
		t.Fatal("login from the allowed address refused")
	}

	path, err := conn.AddPath(tr2)
	if err != nil {
		t.Fatal(err)
	}
	if err := path.Probe(ctx); err != nil {
		t.Fatalf("probing 127.0.0.2: %v", err)
	}
	if err := path.Switch(); err != nil {
		t.Fatal(err)
	}
	// The broker moves to the new path when it sees a non-probing packet
	// from it; the request's own packets are those.
	wantError(t, r.request(login), protocol.CodeInvalidClient)

	// The refusal is audited with the address the request came from.
	events, err := h.reg.ListAudit(ctx, h.admin, registry.AuditFilter{Outcome: registry.OutcomeFailure})
	if err != nil {
		t.Fatal(err)
	}
	var from []string
	for _, e := range events {
		from = append(from, e.Remote)
	}
	if d := cmp.Diff([]string{"127.0.0.2"}, from); d != "" {
		t.Errorf("refusals audited from (-want +got):\n%s", d)
	}
}
