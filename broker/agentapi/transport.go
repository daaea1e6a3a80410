package agentapi

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/edgetrust/edgetrust/protocol"
)

// The QUIC transport's limits (docs/transport.md). Each is set on purpose, not
// left to quic-go's defaults, which suit a web server moving bulk data;
// agents send a few small frames and wait.
const (
	// HandshakeTimeout bounds a handshake that makes no progress: a
	// half-open connection is forgotten after it.
	HandshakeTimeout = 10 * time.Second
	// IdleTimeout ends a connection that sent nothing for this long
	// (agents ping every 20 s).
	IdleTimeout = 60 * time.Second
	// MaxStreams is how many bidirectional streams an agent may have open
	// at once: the control stream and up to 31 requests in flight. A
	// client that holds them all open waits for one to end (each request
	// ends within the request timeout); it cannot open more.
	MaxStreams = 32
	// StreamWindow is the receive window of one stream: a whole frame of
	// the largest size (protocol.MaxFrameSize) and its header, and no more,
	// so a stream never buffers more than one frame ahead.
	StreamWindow = protocol.MaxFrameSize + 4<<10
	// ConnWindow is the receive window of a connection, over all its
	// streams: what one connection can make the broker buffer at most.
	ConnWindow = 4 * StreamWindow
	// RetryAbove is how many handshakes may be in progress at once before
	// new connections must prove their address with a Retry (RFC 9000
	// section 8.1.2): a flood of Initials from spoofed addresses then
	// costs one stateless packet each, and no connection state.
	RetryAbove = 64
)

// QUICConfig returns the QUIC settings the broker listens with.
//
// 0-RTT stays off (Allow0RTT false, and the listener is not an early
// one): 0-RTT data can be replayed by anyone who captured it, and every
// frame the broker takes — HELLO, REGISTER, LOGIN, REFRESH — changes
// state or spends a single-use token. Unidirectional streams and
// datagrams are not part of the protocol and are refused.
func QUICConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:           HandshakeTimeout,
		MaxIdleTimeout:                 IdleTimeout,
		MaxIncomingStreams:             MaxStreams,
		MaxIncomingUniStreams:          -1,
		InitialStreamReceiveWindow:     StreamWindow,
		MaxStreamReceiveWindow:         StreamWindow,
		InitialConnectionReceiveWindow: ConnWindow,
		MaxConnectionReceiveWindow:     ConnWindow,
		Allow0RTT:                      false,
		EnableDatagrams:                false,
	}
}

// HandshakeGate counts the handshakes in progress on a quic.Transport
// and asks for address validation (a Retry) while they are more than a
// threshold. Install it on the transport before listening, and serve the
// listener with Server.Serve, which tells the gate when a handshake is
// over.
type HandshakeGate struct {
	retryAbove int64
	inProgress atomic.Int64
	retries    atomic.Int64
}

// NewHandshakeGate returns a gate that asks for a Retry once retryAbove
// handshakes are in progress (0 = RetryAbove; negative = always, which
// tests use).
func NewHandshakeGate(retryAbove int) *HandshakeGate {
	if retryAbove == 0 {
		retryAbove = RetryAbove
	}
	return &HandshakeGate{retryAbove: int64(max(retryAbove, 0))}
}

// Install sets tr's VerifySourceAddress and ConnContext callbacks.
func (g *HandshakeGate) Install(tr *quic.Transport) {
	tr.VerifySourceAddress = g.verifySourceAddress
	tr.ConnContext = g.connContext
}

// InProgress is the number of handshakes in progress.
func (g *HandshakeGate) InProgress() int64 { return g.inProgress.Load() }

// Retries is how many connection attempts were asked to validate their
// address.
func (g *HandshakeGate) Retries() int64 { return g.retries.Load() }

// verifySourceAddress is quic-go's question for an Initial without a
// valid token: must it go through a Retry first?
func (g *HandshakeGate) verifySourceAddress(net.Addr) bool {
	if g.inProgress.Load() >= g.retryAbove {
		g.retries.Add(1)
		return true
	}
	return false
}

type gateKey struct{}

// handshakeSlot is one handshake counted in progress; done releases it
// once, whichever comes first: the handshake completes (Serve accepts the
// connection) or the connection ends.
type handshakeSlot struct {
	once sync.Once
	g    *HandshakeGate
}

func (s *handshakeSlot) done() { s.once.Do(func() { s.g.inProgress.Add(-1) }) }

// connContext is called for each connection quic-go creates, before its
// handshake.
func (g *HandshakeGate) connContext(ctx context.Context, _ *quic.ClientInfo) (context.Context, error) {
	g.inProgress.Add(1)
	s := &handshakeSlot{g: g}
	context.AfterFunc(ctx, s.done)
	return context.WithValue(ctx, gateKey{}, s), nil
}

// handshakeDone tells the gate, if any, that conn's handshake is over.
func handshakeDone(conn *quic.Conn) {
	if s, ok := conn.Context().Value(gateKey{}).(*handshakeSlot); ok {
		s.done()
	}
}

// acceptStream waits for the connection's next stream. The first, the
// control stream, must come within the hello timeout: a connection that
// completes its handshake and opens nothing — QUIC keep-alives would hold
// it open forever — is closed then (proof_required), as one that opens its
// control stream and sends no HELLO is.
func (ss *session) acceptStream(ctx context.Context, first bool) (*quic.Stream, error) {
	if !first {
		return ss.conn.AcceptStream(ctx)
	}
	actx, cancel := context.WithTimeout(ctx, ss.s.helloTO)
	defer cancel()
	str, err := ss.conn.AcceptStream(actx)
	if err != nil && ctx.Err() == nil {
		ss.info("agent connection without a control stream")
		ss.conn.CloseWithError(closeCode(protocol.CodeProofRequired), "hello expected")
	}
	return str, err
}
