package agentapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/quic-go/quic-go"

	"github.com/edgetrust/edgetrust/broker/agentapi"
	"github.com/edgetrust/edgetrust/protocol"
)

// TestQUICConfigIsDeliberate pins every limit of the broker's QUIC
// configuration (docs/transport.md says why each is what it is).
func TestQUICConfigIsDeliberate(t *testing.T) {
	type limits struct {
		HandshakeIdleTimeout, MaxIdleTimeout                       time.Duration
		MaxIncomingStreams, MaxIncomingUniStreams                  int64
		InitialStreamReceiveWindow, MaxStreamReceiveWindow         uint64
		InitialConnectionReceiveWindow, MaxConnectionReceiveWindow uint64
		Allow0RTT, EnableDatagrams                                 bool
	}
	c := agentapi.QUICConfig()
	got := limits{c.HandshakeIdleTimeout, c.MaxIdleTimeout, c.MaxIncomingStreams, c.MaxIncomingUniStreams,
		c.InitialStreamReceiveWindow, c.MaxStreamReceiveWindow, c.InitialConnectionReceiveWindow, c.MaxConnectionReceiveWindow,
		c.Allow0RTT, c.EnableDatagrams}
	want := limits{10 * time.Second, 60 * time.Second, 32, -1, 68 << 10, 68 << 10, 272 << 10, 272 << 10, false, false}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("QUIC config (-want +got):\n%s", d)
	}
	if agentapi.StreamWindow < protocol.MaxFrameSize+protocol.HeaderSize {
		t.Errorf("a stream window of %d cannot hold a frame of %d", agentapi.StreamWindow, protocol.MaxFrameSize)
	}
}

// agent dials s from a fresh socket with a session cache, proves its key
// and registers; it returns the connection.
func registerAgent(tb testing.TB, s *gatedServer, conf *tls.Config) *quic.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, s.addr.String(), conf, nil)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	ctrl, err := conn.OpenStreamSync(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	exp, err := protocol.Exporter(conn.ConnectionState().TLS)
	if err != nil {
		tb.Fatal(err)
	}
	id := uuid.NewString()
	ctrl.SetDeadline(time.Now().Add(20 * time.Second))
	rd := protocol.NewReader(ctrl)
	for _, m := range []protocol.Message{
		&protocol.Hello{Capability: protocol.Capability, ClientID: id, KeyType: "ed25519",
			PublicKey: k.Public().(ed25519.PublicKey), Signature: ed25519.Sign(k, protocol.HelloSigningInput(exp))},
		&protocol.Register{APIKey: s.key, ClientType: "printer"},
	} {
		if err := protocol.WriteMessage(ctrl, m); err != nil {
			tb.Fatal(err)
		}
		a, err := rd.ReadMessage()
		if err != nil {
			tb.Fatal(err)
		}
		if e, ok := a.(*protocol.Error); ok {
			tb.Fatalf("%s answered %s %s", m.FrameType(), e.Code, e.Message)
		}
	}
	return conn
}

func agentTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, NextProtos: []string{protocol.ALPN}, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
}

// TestRetryTurnsOnPastTheThreshold floods the broker with junk Initials:
// the first ones each hold a half-open connection, up to the threshold;
// past it every new attempt is asked for a Retry, which costs the broker
// no state. A real agent still registers (its quic-go answers the Retry),
// and once the half-open ones time out, Retry is off again.
func TestRetryTurnsOnPastTheThreshold(t *testing.T) {
	const threshold = 3
	gate := agentapi.NewHandshakeGate(threshold)
	qconf := agentapi.QUICConfig()
	qconf.HandshakeIdleTimeout = 2 * time.Second // the junk times out within the test
	s := newGatedServer(t, gate, qconf)

	floodOnce(t, s.addr, 20)
	waitUntil(t, "the threshold's half-open handshakes and 17 Retries", func() bool {
		return gate.InProgress() == threshold && gate.Retries() == 17
	})

	// Counts are of Initial packets: a ClientHello with a post-quantum key
	// share fills two.
	conn := registerAgent(t, s, agentTLS())
	conn.CloseWithError(0, "")
	underFlood := gate.Retries()
	if underFlood == 17 {
		t.Error("a legitimate agent under flood was not asked for a Retry")
	}

	waitUntil(t, "the half-open handshakes to time out", func() bool { return gate.InProgress() == 0 })
	conn = registerAgent(t, s, agentTLS())
	conn.CloseWithError(0, "")
	if d := cmp.Diff(underFlood, gate.Retries()); d != "" {
		t.Errorf("Retries after the flood (-want +got):\n%s", d)
	}
}

// TestStreamLimit holds every stream an agent may open: the next cannot
// be opened, and the broker goes on serving another agent.
func TestStreamLimit(t *testing.T) {
	s := newGatedServer(t, agentapi.NewHandshakeGate(0), nil)
	conn := registerAgent(t, s, agentTLS())
	defer conn.CloseWithError(0, "")
	// The control stream is one; hold the others with half a frame each.
	for i := 1; i < agentapi.MaxStreams; i++ {
		str, err := conn.OpenStream()
		if err != nil {
			t.Fatalf("stream %d of %d: %v", i+1, agentapi.MaxStreams, err)
		}
		if _, err := str.Write([]byte{byte(protocol.TypeLogin)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := conn.OpenStream()
	if !errors.As(err, new(quic.StreamLimitReachedError)) && !errors.As(err, new(*quic.StreamLimitReachedError)) {
		t.Fatalf("stream %d: %v, want the stream limit", agentapi.MaxStreams+1, err)
	}
	other := registerAgent(t, s, agentTLS())
	other.CloseWithError(0, "")
}

// TestNo0RTT resumes a TLS session: the resumption works, but the broker
// never accepts 0-RTT data, so nothing an agent sends can be replayed.
func TestNo0RTT(t *testing.T) {
	s := newGatedServer(t, agentapi.NewHandshakeGate(0), nil)
	conf := agentTLS()
	first := registerAgent(t, s, conf) // a completed request: the session ticket has arrived
	first.CloseWithError(0, "")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := quic.DialAddrEarly(ctx, s.addr.String(), conf, &quic.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	// Try to send in 0-RTT: the request is written before the handshake.
	str, err := conn.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := str.Write([]byte{byte(protocol.TypeHello), 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-conn.HandshakeComplete():
	case <-ctx.Done():
		t.Fatal("no handshake")
	}
	st := conn.ConnectionState()
	if d := cmp.Diff(map[string]bool{"resumed": true, "0-RTT": false}, map[string]bool{"resumed": st.TLS.DidResume, "0-RTT": st.Used0RTT}); d != "" {
		t.Errorf("second connection (-want +got):\n%s", d)
	}
}

// TestConnectionWithoutStreamsIsClosed: a client that completes the
// handshake, opens no stream and keeps the connection alive with QUIC
// pings is closed after the hello timeout, not held forever.
func TestConnectionWithoutStreamsIsClosed(t *testing.T) {
	h := newHarness(t) // hello timeout 2 s
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, h.addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{protocol.ALPN}},
		&quic.Config{KeepAlivePeriod: 200 * time.Millisecond, MaxIdleTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	select {
	case <-conn.Context().Done():
	case <-ctx.Done():
		t.Fatal("a connection without streams is still open after 30 s")
	}
	var appErr *quic.ApplicationError
	if err := context.Cause(conn.Context()); !errors.As(err, &appErr) || appErr.ErrorCode != quic.ApplicationErrorCode(protocol.CodeProofRequired) {
		t.Fatalf("closed with %v, want application error %d", err, protocol.CodeProofRequired)
	}
}
