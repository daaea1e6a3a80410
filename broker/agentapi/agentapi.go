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
	"encoding/binary"
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
	"github.com/edgetrust/edgetrust/internal/logfield"
	"github.com/edgetrust/edgetrust/protocol"
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
	heavy    *workers // run deep work off the connections' goroutines
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Registry == nil {
		return nil, errors.New("agentapi.New: Config.Registry is nil")
	}
	s := &Server{reg: cfg.Registry, log: cfg.Logger, helloTO: cfg.HelloTimeout, reqTO: cfg.RequestTimeout, seenIntv: cfg.SeenInterval, heavy: newWorkers()}
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
		handshakeDone(conn)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, conn)
		}()
	}
}

// session is the state of one agent connection.
//
// An idle agent costs the broker two goroutines of its own (besides
// quic-go's): serveConn, which accepts request streams, and control, which
// waits for the next frame on the control stream. Everything that goes deep
// (JSON, signatures, registry and store calls) runs on short-lived
// goroutines (offStack) so the two long-lived stacks stay small; the
// shutdown close is a context.AfterFunc, and pushed decisions are queued by
// a bus callback and drained by a goroutine that exists only while there is
// something to push.
type session struct {
	s    *Server
	conn *quic.Conn

	proven   chan struct{} // closed once the Hello verified
	clientID string
	jkt      string // thumbprint of the proven key
	pub      ed25519.PublicKey

	devTokens deviceTokens // the last device token verified (devicetoken.go)

	ctrlMu sync.Mutex // serialises writes on the control stream
	ctrl   *quic.Stream

	lastSeen time.Time

	wg *sync.WaitGroup // the connection's goroutines

	stateMu     sync.Mutex
	told        string           // the last state the agent was told, in REGISTERED or DECISION
	pending     []registry.Event // decisions waiting to be pushed
	pushing     bool             // REGISTERED was sent: pending events may be pushed
	drainer     bool             // a drain goroutine is running
	stopped     bool             // no more pushes (connection ending or endpoint deleted)
	unsubscribe func()           // ends the bus subscription
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
	var wg sync.WaitGroup
	ss := &session{s: s, conn: conn, proven: make(chan struct{}), wg: &wg}
	stop := context.AfterFunc(ctx, func() { conn.CloseWithError(closeNormal, "broker shutting down") })
	defer stop()
	// The connection lives as long as its control stream (PROTOCOL.md 3.1):
	// when control ends, the connection is closed, which also ends the
	// accept loop below and every request in flight. A connection left open
	// without its control stream would have no one answering it.
	cctx := conn.Context()
	defer wg.Wait()
	first := true
	for {
		str, err := ss.acceptStream(cctx, first)
		if err != nil {
			return
		}
		wg.Add(1)
		if first {
			first = false
			go func() {
				defer wg.Done()
				ss.control(cctx, str)
				conn.CloseWithError(closeNormal, "control stream ended")
			}()
			continue
		}
		go func() {
			defer wg.Done()
			ss.request(cctx, str)
		}()
	}
}

// offStack runs f on one of w's workers and waits for it, so that the
// stack f grows (JSON, crypto, the store) is not kept by the caller, a
// goroutine that lives as long as its agent.
func offStack[T any](w *workers, f func() T) T {
	var out T
	w.run(func() { out = f() })
	return out
}

// workers is an elastic set of goroutines for deep work. A job goes to an
// idle worker, or to a new one when none is idle; a worker idle for
// workerIdle ends. Workers are as many as jobs ever ran at once, and their
// stacks, grown once, are reused instead of grown again for every job.
type workers struct {
	jobs chan func() // unbuffered: a send succeeds only to an idle worker
}

const workerIdle = 30 * time.Second

func newWorkers() *workers { return &workers{jobs: make(chan func())} }

// run runs f on a worker and returns when f has returned.
func (w *workers) run(f func()) {
	done := make(chan struct{})
	job := func() {
		defer close(done)
		f()
	}
	select {
	case w.jobs <- job:
	default:
		go w.work(job)
	}
	<-done
}

func (w *workers) work(job func()) {
	job()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		select {
		case job := <-w.jobs:
			job()
			idle.Reset(workerIdle)
		case <-idle.C:
			return
		}
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
// It only reads frames; handleHello and handle do the rest off its stack.
func (ss *session) control(ctx context.Context, str *quic.Stream) {
	ss.ctrl = str
	defer str.Close()
	str.SetReadDeadline(time.Now().Add(ss.s.helloTO))
	var hdr [protocol.HeaderSize]byte
	for {
		t, payload, err := readFrame(str, hdr[:])
		if err != nil {
			offStack(ss.s.heavy, func() struct{} {
				ss.info("agent connection without hello", zap.Error(err))
				ss.conn.CloseWithError(closeCode(protocol.CodeProofRequired), "hello expected")
				return struct{}{}
			})
			return
		}
		next, ok := offStack(ss.s.heavy, func() (r helloResult) { return ss.handleHello(t, payload) }).get()
		if !ok {
			return
		}
		if next {
			break
		}
	}
	obs := ss.s.reg.Observer()
	obs.AgentConnected(1) // a proven agent, until its control stream ends
	defer obs.AgentConnected(-1)
	defer ss.stopPushes()
	str.SetReadDeadline(time.Time{})
	for {
		t, payload, err := readFrame(str, hdr[:])
		if err != nil {
			if errors.Is(err, protocol.ErrFrameTooLarge) {
				str.CancelRead(quic.StreamErrorCode(protocol.CodeFrameTooLarge))
				offStack(ss.s.heavy, func() struct{} {
					ss.fail(protocol.CodeFrameTooLarge, fmt.Sprintf("frames are limited to %d bytes", protocol.MaxFrameSize))
					return struct{}{}
				})
				return
			}
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				ss.debug("control stream ended", zap.Error(err))
			}
			return
		}
		if !offStack(ss.s.heavy, func() bool { return ss.handle(ctx, t, payload) }) {
			return
		}
	}
}

// helloResult is what handling one frame before HELLO_OK decided.
type helloResult uint8

const (
	helloSkip helloResult = iota // unknown frame type: read the next
	helloDone                    // HELLO_OK written
	helloEnd                     // the connection is over
)

func (r helloResult) get() (next, ok bool) { return r == helloDone, r != helloEnd }

// handleHello handles the first known frame of the control stream, which
// must be a HELLO.
func (ss *session) handleHello(t protocol.FrameType, payload *[]byte) helloResult {
	m, err := protocol.Decode(t, *payload)
	putPayload(payload)
	if err != nil {
		ss.info("agent connection without hello", zap.Error(err))
		ss.fail(protocol.CodeBadRequest, "malformed HELLO")
		return helloEnd
	}
	if m == nil {
		return helloSkip // unknown frame type (PROTOCOL.md, "Extensibility")
	}
	hello, ok := m.(*protocol.Hello)
	if !ok {
		ss.fail(protocol.CodeProofRequired, "the first frame must be HELLO")
		return helloEnd
	}
	if code, msg := ss.verifyHello(hello); code != 0 {
		ss.info("hello refused", zap.String(logfield.Reason, msg))
		ss.fail(code, msg)
		return helloEnd
	}
	// Subscribe before registering so no decision made in between is missed;
	// pushes start once REGISTERED is written. The subscription ends with
	// the control stream (stopPushes).
	unsubscribe := ss.s.reg.Bus().SubscribeFunc(ss.clientID, ss.enqueue)
	ss.stateMu.Lock()
	ss.unsubscribe = unsubscribe
	ss.stateMu.Unlock()
	close(ss.proven)
	if err := ss.writeCtrl(&protocol.HelloOK{Capability: min(hello.Capability, protocol.Capability), ServerTime: time.Now().UnixMilli()}); err != nil {
		ss.debug("writing HELLO_OK", zap.Error(err))
		return helloEnd
	}
	return helloDone
}

// handle handles one frame on the control stream after HELLO_OK and reports
// whether the stream goes on.
func (ss *session) handle(ctx context.Context, t protocol.FrameType, payload *[]byte) bool {
	m, err := protocol.Decode(t, *payload)
	putPayload(payload)
	if err != nil {
		ss.writeCtrl(&protocol.Error{Code: protocol.CodeBadRequest, Message: "malformed frame"})
		return true
	}
	switch m := m.(type) {
	case nil: // unknown frame type: skipped
	case *protocol.Register:
		if ss.register(ctx, m) {
			ss.startPushes()
		}
	case *protocol.Ping:
		ss.seen(ctx)
		if err := ss.writeCtrl(&protocol.Pong{Seq: m.Seq}); err != nil {
			return false
		}
	case *protocol.Pong:
	default:
		ss.writeCtrl(&protocol.Error{Code: protocol.CodeBadRequest, Message: fmt.Sprintf("%s is not valid on the control stream", m.FrameType())})
	}
	return true
}

// payloadPool holds frame payload buffers: a connection holds one only
// while it reads and decodes a frame, never while it waits for one.
var payloadPool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledPayload bounds the buffers kept for reuse; rare larger frames
// get a buffer of their own.
const maxPooledPayload = 4 << 10

func putPayload(p *[]byte) {
	if p != nil && cap(*p) <= maxPooledPayload {
		*p = (*p)[:0]
		payloadPool.Put(p)
	}
}

// readFrame reads one frame's header and payload from r, hdr being a
// HeaderSize scratch buffer. The payload comes from payloadPool (give it
// back with putPayload). Errors are those of protocol.Reader.ReadMessage:
// io.EOF between frames, io.ErrUnexpectedEOF inside one, ErrFrameTooLarge
// (payload not read).
func readFrame(r io.Reader, hdr []byte) (protocol.FrameType, *[]byte, error) {
	if _, err := io.ReadFull(r, hdr[:protocol.HeaderSize]); err != nil {
		return 0, nil, err
	}
	t := protocol.FrameType(hdr[0])
	n := binary.BigEndian.Uint32(hdr[1:protocol.HeaderSize])
	if n > protocol.MaxFrameSize {
		return 0, nil, protocol.ErrFrameTooLarge
	}
	p := payloadPool.Get().(*[]byte)
	if cap(*p) < int(n) {
		*p = make([]byte, n, max(int(n), 512))
	}
	*p = (*p)[:n]
	if _, err := io.ReadFull(r, *p); err != nil {
		putPayload(p)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return t, p, nil
}

// readMessage reads the next known message from r, skipping unknown frame
// types, like protocol.Reader.ReadMessage without a buffer of its own.
func readMessage(r io.Reader) (protocol.Message, error) {
	var hdr [protocol.HeaderSize]byte
	for {
		t, p, err := readFrame(r, hdr[:])
		if err != nil {
			return nil, err
		}
		m, err := protocol.Decode(t, *p)
		putPayload(p)
		if err != nil {
			return nil, err
		}
		if m != nil {
			return m, nil
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
	jkt, err := protocol.Thumbprint(pub)
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
		KeyType: registry.KeyTypeEd25519, PublicKey: ss.pub, Proven: true, Remote: ss.remote(),
	})
	if err != nil {
		ss.logError("register refused", err)
		ss.writeCtrl(errorFrame(err))
		return false
	}
	ss.lastSeen = time.Now()
	ss.tell(string(res.Endpoint.State))
	ss.info("endpoint registered", zap.String(logfield.State, string(res.Endpoint.State)), zap.Bool("new", res.Created))
	ss.writeCtrl(&protocol.Registered{EndpointID: res.Endpoint.ID, State: string(res.Endpoint.State), AccountID: res.Endpoint.AccountID, Tokens: wireTokens(res.Tokens)})
	return true
}

// enqueue is the bus callback: it queues an event for the agent (dropping
// it past subscriberBuffer, like a full channel would) and starts a drain
// goroutine if pushes have started and none runs.
func (ss *session) enqueue(ev registry.Event) {
	ss.stateMu.Lock()
	defer ss.stateMu.Unlock()
	if ss.stopped || len(ss.pending) >= pushBuffer {
		return
	}
	ss.pending = append(ss.pending, ev)
	ss.kickLocked()
}

// pushBuffer bounds the decisions queued for one agent.
const pushBuffer = 8

// startPushes lets queued and future decisions be pushed (after REGISTERED).
func (ss *session) startPushes() {
	ss.stateMu.Lock()
	defer ss.stateMu.Unlock()
	ss.pushing = true
	ss.kickLocked()
}

// stopPushes ends the subscription and stops pushes. A push being written
// finishes.
func (ss *session) stopPushes() {
	ss.stateMu.Lock()
	unsubscribe := ss.unsubscribe
	ss.stopped, ss.pending = true, nil
	ss.stateMu.Unlock()
	if unsubscribe != nil {
		unsubscribe()
	}
}

// kickLocked starts the drain goroutine when there is work for it.
func (ss *session) kickLocked() {
	if !ss.pushing || ss.drainer || ss.stopped || len(ss.pending) == 0 {
		return
	}
	ss.drainer = true
	ss.wg.Add(1) // control has not returned: the count is above zero
	go func() {
		defer ss.wg.Done()
		ss.drain()
	}()
}

// drain pushes queued decisions in order and ends when the queue is empty.
func (ss *session) drain() {
	ctx := ss.conn.Context()
	for {
		ss.stateMu.Lock()
		if ss.stopped || len(ss.pending) == 0 {
			ss.drainer = false
			ss.pending = nil
			ss.stateMu.Unlock()
			return
		}
		ev := ss.pending[0]
		ss.pending = ss.pending[1:]
		ss.stateMu.Unlock()
		if !ss.push(ctx, ev) {
			ss.stateMu.Lock()
			ss.stopped, ss.drainer, ss.pending = true, false, nil
			ss.stateMu.Unlock()
			return
		}
	}
}

// push forwards one decision about this endpoint to the agent and reports
// whether pushes go on.
func (ss *session) push(ctx context.Context, ev registry.Event) bool {
	// Events the agent already knows of (the registration's own, or one
	// that raced with REGISTERED) are not pushed again.
	if !ss.tell(string(ev.State)) {
		return true
	}
	d := &protocol.Decision{EndpointID: ev.EndpointID, State: string(ev.State)}
	if ev.State == registry.StateTrusted {
		tp, err := ss.s.reg.IssueDeviceTokens(ctx, ss.clientID, ss.jkt, ss.remote())
		if err != nil {
			// The state moved on again; the next event will say so.
			ss.logError("issuing tokens for pushed approval", err)
			return true
		}
		d.Tokens = wireTokens(tp)
	}
	if err := ss.writeCtrl(d); err != nil {
		return false
	}
	ss.s.reg.Observer().Pushed(time.Since(ev.At)) // ev.At: when the decision was made
	ss.info("decision pushed", zap.String(logfield.State, d.State))
	if ev.State == registry.StateDeleted {
		ss.ctrl.Close()
		select {
		case <-ss.conn.Context().Done():
		case <-time.After(2 * time.Second):
		}
		ss.conn.CloseWithError(closeNormal, "endpoint deleted")
		return false
	}
	return true
}

func (ss *session) seen(ctx context.Context) {
	now := time.Now()
	if now.Sub(ss.lastSeen) < ss.s.seenIntv {
		return
	}
	ss.lastSeen = now
	if err := ss.s.reg.Seen(ctx, ss.clientID, ss.remote()); err != nil {
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
			ss.debug("writing answer", zap.Error(err))
		}
	}
	m, err := readMessage(str)
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
		tp, err := ss.s.reg.Refresh(ctx, m.RefreshToken, ss.jkt, ss.remote())
		if err != nil {
			ss.logError("refresh refused", err)
			answer(errorFrame(err))
			return
		}
		answer(wireTokens(tp))
	case *protocol.Login:
		tp, err := ss.s.reg.Login(ctx, registry.LoginRequest{
			APIKey: m.APIKey, DeviceToken: m.DeviceToken, Verified: ss.verifiedDevice(m.DeviceToken), JKT: ss.jkt, EndpointID: ss.clientID, Type: m.Type,
			Username: m.Username, Domain: m.Domain, UPN: m.UPN, Remote: ss.remote(),
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
	level := zap.InfoLevel
	if registry.KindOf(err) == registry.KindInternal {
		level = zap.ErrorLevel
	}
	ce := ss.s.log.Check(level, msg)
	if ce == nil {
		return
	}
	fields := []zap.Field{zap.String("kind", registry.KindOf(err).String()), zap.Error(err)}
	if r := registry.RefusalReason(err); r != "" {
		fields = append(fields, zap.String(logfield.Reason, r))
	}
	ce.Write(ss.fields(fields)...)
}

func (ss *session) info(msg string, fields ...zap.Field) {
	if ce := ss.s.log.Check(zap.InfoLevel, msg); ce != nil {
		ce.Write(ss.fields(fields)...)
	}
}

func (ss *session) debug(msg string, fields ...zap.Field) {
	if ce := ss.s.log.Check(zap.DebugLevel, msg); ce != nil {
		ce.Write(ss.fields(fields)...)
	}
}

// fields adds the connection's own fields to a log entry: they are built
// when something is logged, not kept in a logger per connection.
func (ss *session) fields(fields []zap.Field) []zap.Field {
	out := make([]zap.Field, 0, len(fields)+2)
	out = append(out, zap.String(logfield.Remote, ss.remote().String()))
	select {
	case <-ss.proven: // clientID is set for good
		out = append(out, zap.String(logfield.EndpointID, ss.clientID))
	default:
	}
	return append(out, fields...)
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
	case registry.KindUnavailable:
		return protocol.CodeUnavailable
	case registry.KindLimited:
		return protocol.CodeKeyLimited
	}
	return protocol.CodeInternal
}

// errorFrame is the ERROR answering err; a limited answer (KindLimited)
// says when to retry.
func errorFrame(err error) *protocol.Error {
	return &protocol.Error{Code: codeOf(err), Message: registry.PublicMessage(err),
		RetryAfter: uint32(registry.RetryAfter(err) / time.Second)}
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
