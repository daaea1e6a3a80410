// Package agentapi serves the agent protocol (protocol/PROTOCOL.md) over
// QUIC: it turns frames into registry calls and pushes registry events to
// connected agents the moment they are committed.
//
// Each connection proves once, in its Hello, that it holds the endpoint's
// private key (a signature over the TLS exporter, SPEC T3); every request on
// the connection acts with that proof. A bad frame gets an ERROR on its
// stream and never disturbs other streams or other connections.
package agentapi

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/quic-go/quic-go"
	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/token"
	"github.com/edgetrust/edgetrust/protocol"
)

// Log field names.
const (
	fieldRemote   = "remote"
	fieldEndpoint = "endpoint_id"
	fieldFrame    = "frame"
	fieldReason   = "reason"
	fieldState    = "state"
)

// QUIC application error codes carry the protocol's numeric error codes
// (PROTOCOL.md section 4); 0 is a normal close.
const (
	closeNormal quic.ApplicationErrorCode = 0
)

func closeCode(c protocol.Code) quic.ApplicationErrorCode { return quic.ApplicationErrorCode(c) }

// Config configures a Server. Registry is required; zero durations mean the
// defaults.
type Config struct {
	Registry *registry.Registry
	Logger   *zap.Logger // nil = no logging
	// HelloTimeout bounds the wait for a connection's Hello (0 = 10 s).
	HelloTimeout time.Duration
	// RequestTimeout bounds one request stream (0 = 15 s).
	RequestTimeout time.Duration
	// SeenInterval is the least time between two "last seen" writes for one
	// connection (0 = 1 minute): heartbeats must not turn into a write storm.
	SeenInterval time.Duration
}

// Server serves agent connections.
type Server struct {
	reg      *registry.Registry
	log      *zap.Logger
	helloTO  time.Duration
	reqTO    time.Duration
	seenIntv time.Duration
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Registry == nil {
		return nil, errors.New("agentapi.New: Config.Registry is nil")
	}
	s := &Server{reg: cfg.Registry, log: cfg.Logger, helloTO: cfg.HelloTimeout, reqTO: cfg.RequestTimeout, seenIntv: cfg.SeenInterval}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.helloTO <= 0 {
		s.helloTO = 10 * time.Second
	}
	if s.reqTO <= 0 {
		s.reqTO = 15 * time.Second
	}
	if s.seenIntv <= 0 {
		s.seenIntv = time.Minute
	}
	return s, nil
}

// QUICConfig returns the QUIC settings the broker listens with.
func QUICConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:  10 * time.Second,
		MaxIdleTimeout:        60 * time.Second,
		MaxIncomingStreams:    32,
		MaxIncomingUniStreams: -1,
	}
}

// Serve accepts connections from ln until ctx is done, then closes every
// connection and returns nil. It returns an error only if accepting fails
// for another reason.
func (s *Server) Serve(ctx context.Context, ln *quic.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("agentapi: accepting: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, conn)
		}()
	}
}

// session is the state of one agent connection.
type session struct {
	s      *Server
	conn   *quic.Conn
	remote netip.Addr
	log    *zap.Logger

	proven   chan struct{} // closed once the Hello verified
	clientID string
	jkt      string // thumbprint of the proven key
	pub      ed25519.PublicKey

	ctrlMu sync.Mutex // serialises writes on the control stream
	ctrl   *quic.Stream

	lastSeen time.Time

	stateMu sync.Mutex
	told    string // the last state the agent was told, in REGISTERED or DECISION
}

// tell records the state sent to the agent and reports whether it changed.
func (ss *session) tell(state string) bool {
	ss.stateMu.Lock()
	defer ss.stateMu.Unlock()
	changed := ss.told != state
	ss.told = state
	return changed
}

func remoteAddr(a net.Addr) netip.Addr {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

func (s *Server) serveConn(ctx context.Context, conn *quic.Conn) {
	ss := &session{s: s, conn: conn, remote: remoteAddr(conn.RemoteAddr()), proven: make(chan struct{})}
	ss.log = s.log.With(zap.String(fieldRemote, ss.remote.String()))
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
			conn.CloseWithError(closeNormal, "broker shutting down")
		case <-conn.Context().Done():
		}
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	first := true
	for {
		str, err := conn.AcceptStream(cctx)
		if err != nil {
			return
		}
		wg.Add(1)
		if first {
			first = false
			go func() {
				defer wg.Done()
				defer cancel()
				ss.control(cctx, str)
			}()
			continue
		}
		go func() {
			defer wg.Done()
			ss.request(cctx, str)
		}()
	}
}

// writeCtrl writes one frame on the control stream.
func (ss *session) writeCtrl(m protocol.Message) error {
	ss.ctrlMu.Lock()
	defer ss.ctrlMu.Unlock()
	ss.ctrl.SetWriteDeadline(time.Now().Add(ss.s.reqTO))
	return protocol.WriteMessage(ss.ctrl, m)
}

// control runs the control stream: Hello, Register, pushes, heartbeats.
func (ss *session) control(ctx context.Context, str *quic.Stream) {
	ss.ctrl = str
	defer str.Close()
	rd := protocol.NewReader(str)
	str.SetReadDeadline(time.Now().Add(ss.s.helloTO))
	m, err := rd.ReadMessage()
	if err != nil {
		ss.log.Info("agent connection without hello", zap.Error(err))
		if errors.Is(err, protocol.ErrBadPayload) {
			ss.fail(protocol.CodeBadRequest, "malformed HELLO")
			return
		}
		ss.conn.CloseWithError(closeCode(protocol.CodeProofRequired), "hello expected")
		return
	}
	hello, ok := m.(*protocol.Hello)
	if !ok {
		ss.fail(protocol.CodeProofRequired, "the first frame must be HELLO")
		return
	}
	if code, msg := ss.verifyHello(hello); code != 0 {
		ss.log.Info("hello refused", zap.String(fieldReason, msg))
		ss.fail(code, msg)
		return
	}
	ss.log = ss.log.With(zap.String(fieldEndpoint, ss.clientID))
	// Subscribe before registering so no decision made in between is missed;
	// pushes start once REGISTERED is written.
	events, unsubscribe := ss.s.reg.Bus().Subscribe(ss.clientID)
	defer unsubscribe()
	close(ss.proven)
	if err := ss.writeCtrl(&protocol.HelloOK{Capability: min(hello.Capability, protocol.Capability), ServerTime: time.Now().UnixMilli()}); err != nil {
		return
	}
	str.SetReadDeadline(time.Time{})

	pushing := false
	for {
		m, err := rd.ReadMessage()
		if err != nil {
			if errors.Is(err, protocol.ErrFrameTooLarge) {
				str.CancelRead(quic.StreamErrorCode(protocol.CodeFrameTooLarge))
				ss.fail(protocol.CodeFrameTooLarge, fmt.Sprintf("frames are limited to %d bytes", protocol.MaxFrameSize))
				return
			}
			if errors.Is(err, protocol.ErrBadPayload) {
				ss.writeCtrl(&protocol.Error{Code: protocol.CodeBadRequest, Message: "malformed frame"})
				continue
			}
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				ss.log.Debug("control stream ended", zap.Error(err))
			}
			return
		}
		switch m := m.(type) {
		case *protocol.Register:
			if ss.register(ctx, m) && !pushing {
				pushing = true
				go ss.push(ctx, events)
			}
		case *protocol.Ping:
			ss.seen(ctx)
			if err := ss.writeCtrl(&protocol.Pong{Seq: m.Seq}); err != nil {
				return
			}
		case *protocol.Pong:
		default:
			ss.writeCtrl(&protocol.Error{Code: protocol.CodeBadRequest, Message: fmt.Sprintf("%s is not valid on the control stream", m.FrameType())})
		}
	}
}

func (ss *session) fail(code protocol.Code, msg string) {
	ss.writeCtrl(&protocol.Error{Code: code, Message: msg})
	ss.ctrl.Close()
	// Give the frame a moment to leave before the connection closes.
	select {
	case <-ss.conn.Context().Done():
	case <-time.After(200 * time.Millisecond):
	}
	ss.conn.CloseWithError(closeCode(code), msg)
}

// verifyHello checks the Hello's proof of possession against this
// connection's TLS exporter value.
func (ss *session) verifyHello(h *protocol.Hello) (protocol.Code, string) {
	if h.Capability < 1 {
		return protocol.CodeUnsupportedVersion, "capability 1 or later is required"
	}
	if id, err := uuid.Parse(h.ClientID); err != nil || id.String() != h.ClientID {
		return protocol.CodeBadRequest, "client_id must be a lowercase canonical UUID"
	}
	if h.KeyType != protocol.KeyTypeEd25519 || len(h.PublicKey) != ed25519.PublicKeySize {
		return protocol.CodeBadRequest, "key_type must be ed25519 with a 32-byte public_key"
	}
	exp, err := protocol.Exporter(ss.conn.ConnectionState().TLS)
	if err != nil {
		return protocol.CodeInternal, "no TLS exporter"
	}
	pub := ed25519.PublicKey(h.PublicKey)
	if !ed25519.Verify(pub, protocol.HelloSigningInput(exp), h.Signature) {
		return protocol.CodeProofRequired, "hello signature does not verify"
	}
	jkt, err := token.Thumbprint(pub)
	if err != nil {
		return protocol.CodeBadRequest, "invalid public key"
	}
	ss.clientID, ss.pub, ss.jkt = h.ClientID, pub, jkt
	return 0, ""
}

// register handles REGISTER and reports whether the endpoint now exists.
func (ss *session) register(ctx context.Context, m *protocol.Register) bool {
	res, err := ss.s.reg.Register(ctx, registry.RegisterRequest{
		APIKey: m.APIKey, AccountID: m.AccountID, ClientID: ss.clientID, ClientType: m.ClientType,
		Description: m.Description, Hostname: m.Hostname, OS: m.OS, Version: m.Version,
		KeyType: registry.KeyTypeEd25519, PublicKey: ss.pub, Proven: true, Remote: ss.remote,
	})
	if err != nil {
		ss.logError("register refused", err)
		ss.writeCtrl(errorFrame(err))
		return false
	}
	ss.lastSeen = time.Now()
	ss.tell(string(res.Endpoint.State))
	ss.log.Info("endpoint registered", zap.String(fieldState, string(res.Endpoint.State)), zap.Bool("new", res.Created))
	ss.writeCtrl(&protocol.Registered{EndpointID: res.Endpoint.ID, State: string(res.Endpoint.State), AccountID: res.Endpoint.AccountID, Tokens: wireTokens(res.Tokens)})
	return true
}

// push forwards decisions about this endpoint to the agent.
func (ss *session) push(ctx context.Context, events <-chan registry.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			// Events the agent already knows of (the registration's own, or
			// one that raced with REGISTERED) are not pushed again.
			if !ss.tell(string(ev.State)) {
				continue
			}
			d := &protocol.Decision{EndpointID: ev.EndpointID, State: string(ev.State)}
			if ev.State == registry.StateTrusted {
				tp, err := ss.s.reg.IssueDeviceTokens(ctx, ss.clientID, ss.jkt)
				if err != nil {
					// The state moved on again; the next event will say so.
					ss.logError("issuing tokens for pushed approval", err)
					continue
				}
				d.Tokens = wireTokens(tp)
			}
			if err := ss.writeCtrl(d); err != nil {
				return
			}
			ss.log.Info("decision pushed", zap.String(fieldState, d.State))
			if ev.State == registry.StateDeleted {
				ss.ctrl.Close()
				select {
				case <-ss.conn.Context().Done():
				case <-time.After(2 * time.Second):
				}
				ss.conn.CloseWithError(closeNormal, "endpoint deleted")
				return
			}
		}
	}
}

func (ss *session) seen(ctx context.Context) {
	now := time.Now()
	if now.Sub(ss.lastSeen) < ss.s.seenIntv {
		return
	}
	ss.lastSeen = now
	if err := ss.s.reg.Seen(ctx, ss.clientID, ss.remote); err != nil {
		ss.logError("recording last seen", err)
	}
}

// request serves one request stream: one frame in, one frame out.
func (ss *session) request(ctx context.Context, str *quic.Stream) {
	defer str.Close()
	str.SetDeadline(time.Now().Add(ss.s.reqTO))
	ctx, cancel := context.WithTimeout(ctx, ss.s.reqTO)
	defer cancel()
	answer := func(m protocol.Message) {
		if err := protocol.WriteMessage(str, m); err != nil {
			ss.log.Debug("writing answer", zap.Error(err))
		}
	}
	m, err := protocol.NewReader(str).ReadMessage()
	if err != nil {
		switch {
		case errors.Is(err, protocol.ErrFrameTooLarge):
			answer(&protocol.Error{Code: protocol.CodeFrameTooLarge, Message: fmt.Sprintf("frames are limited to %d bytes", protocol.MaxFrameSize)})
			str.CancelRead(quic.StreamErrorCode(protocol.CodeFrameTooLarge))
		case errors.Is(err, protocol.ErrBadPayload):
			answer(&protocol.Error{Code: protocol.CodeBadRequest, Message: "malformed frame"})
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			answer(&protocol.Error{Code: protocol.CodeBadRequest, Message: "the stream ended without a complete request"})
		}
		return
	}
	select {
	case <-ss.proven:
	default:
		answer(&protocol.Error{Code: protocol.CodeProofRequired, Message: "send HELLO on the control stream first"})
		return
	}
	switch m := m.(type) {
	case *protocol.Refresh:
		tp, err := ss.s.reg.Refresh(ctx, m.RefreshToken, ss.jkt)
		if err != nil {
			ss.logError("refresh refused", err)
			answer(errorFrame(err))
			return
		}
		answer(wireTokens(tp))
	case *protocol.Login:
		tp, err := ss.s.reg.Login(ctx, registry.LoginRequest{
			APIKey: m.APIKey, DeviceToken: m.DeviceToken, JKT: ss.jkt, Type: m.Type,
			Username: m.Username, Domain: m.Domain, UPN: m.UPN, Remote: ss.remote,
		})
		if err != nil {
			ss.logError("login refused", err)
			answer(errorFrame(err))
			return
		}
		t := wireTokens(tp)
		answer(t)
	default:
		answer(&protocol.Error{Code: protocol.CodeBadRequest, Message: fmt.Sprintf("%s is not a request", m.FrameType())})
	}
}

func (ss *session) logError(msg string, err error) {
	fields := []zap.Field{zap.String("kind", registry.KindOf(err).String()), zap.Error(err)}
	if r := registry.RefusalReason(err); r != "" {
		fields = append(fields, zap.String(fieldReason, r))
	}
	if registry.KindOf(err) == registry.KindInternal {
		ss.log.Error(msg, fields...)
		return
	}
	ss.log.Info(msg, fields...)
}

// codeOf maps a registry error to its wire code: the one place this happens.
func codeOf(err error) protocol.Code {
	switch registry.KindOf(err) {
	case registry.KindInvalid:
		return protocol.CodeBadRequest
	case registry.KindInvalidClient:
		return protocol.CodeInvalidClient
	case registry.KindUnauthenticated, registry.KindAccessDenied, registry.KindPermission, registry.KindNotFound, registry.KindPending, registry.KindExpired:
		return protocol.CodeAccessDenied
	case registry.KindInvalidGrant:
		return protocol.CodeInvalidGrant
	case registry.KindUnknownUser:
		return protocol.CodeUnknownUser
	case registry.KindLoginRefused:
		return protocol.CodeLoginRefused
	case registry.KindRateLimited:
		return protocol.CodeRateLimited
	case registry.KindConflict, registry.KindQuota:
		return protocol.CodeConflict
	}
	return protocol.CodeInternal
}

func errorFrame(err error) *protocol.Error {
	return &protocol.Error{Code: codeOf(err), Message: registry.PublicMessage(err)}
}

func wireTokens(tp *registry.TokenPair) *protocol.Tokens {
	if tp == nil {
		return nil
	}
	return &protocol.Tokens{
		AccessToken: tp.AccessToken, TokenType: tp.TokenType, ExpiresIn: int64(tp.ExpiresIn / time.Second),
		RefreshToken: tp.RefreshToken, RefreshExpiresIn: int64(tp.RefreshExpiresIn / time.Second),
	}
}
