package agentapi_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/edgetrust/edgetrust/broker/agentapi"
	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// junkInitial returns a QUIC v1 Initial packet whose header is valid and
// whose payload is random: what a flood from spoofed addresses sends. It
// costs the sender no cryptography; without address validation the
// broker makes a connection for it and keeps it until the handshake
// timeout, since it cannot tell junk from a packet it will decrypt later.
func junkInitial() []byte {
	p := make([]byte, 1200) // the least an Initial must be padded to
	rand.Read(p)
	p[0] = 0xc3                                                    // long header, Initial, 4-byte packet number
	binary.BigEndian.PutUint32(p[1:5], 1)                          // QUIC v1
	p[5] = 8                                                       // destination connection ID: 8 random bytes
	p[14] = 8                                                      // source connection ID: 8 random bytes
	p[23] = 0                                                      // no token
	binary.BigEndian.PutUint16(p[24:26], 0x4000|uint16(len(p)-26)) // length
	return p
}

// gatedServer serves the agent API of a broker made with brokertest on a
// quic.Transport carrying gate, with qconf (nil = agentapi.QUICConfig).
type gatedServer struct {
	reg  *registry.Registry
	addr *net.UDPAddr
	key  string // an auto-trust key
}

func newGatedServer(tb testing.TB, gate *agentapi.HandshakeGate, qconf *quic.Config) *gatedServer {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	re := brokertest.New(tb, brokertest.Options{})
	auto, err := re.Registry.CreateAPIKey(ctx, re.Admin(tb), registry.CreateAPIKeyRequest{Name: "auto", AutoTrust: true})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := agentapi.New(agentapi.Config{Registry: re.Registry})
	if err != nil {
		tb.Fatal(err)
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	if gate != nil {
		gate.Install(tr)
	}
	if qconf == nil {
		qconf = agentapi.QUICConfig()
	}
	ln, err := tr.Listen(&tls.Config{Certificates: []tls.Certificate{selfSigned(tb)}, NextProtos: []string{protocol.ALPN}}, qconf)
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Serve: %v", err)
		}
		ln.Close()
		tr.Close()
		udp.Close()
	})
	return &gatedServer{reg: re.Registry, addr: udp.LocalAddr().(*net.UDPAddr), key: auto.Value}
}

// floodOnce sends n junk Initials to addr from one socket.
func floodOnce(tb testing.TB, addr *net.UDPAddr, n int) {
	tb.Helper()
	c, err := net.DialUDP("udp", nil, addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	for range n {
		if _, err := c.Write(junkInitial()); err != nil {
			tb.Fatal(err)
		}
	}
}

// waitUntil polls cond until it holds or a generous deadline passes.
func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling, not waiting for a duration
	}
}
