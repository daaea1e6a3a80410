// Package brokerclient is the agent's side of the edgetrust agent protocol
// (package protocol): a QUIC connection to the broker that proves the
// endpoint's key once (HELLO), registers, receives pushed decisions on the
// control stream and sends refresh and login requests on their own streams.
//
// One Conn is one QUIC connection. Many Conns may share one quic.Transport
// (one UDP socket), which is how a benchmark runs thousands of simulated
// agents in one process.
//
// Goroutines: a Conn runs a reader of the control stream and, unless
// Config.PingInterval is negative, a pinger that sends PING every
// PingInterval and closes the connection when no PONG arrives within
// IdleTimeout. Close (or the end of the connection) ends both; Close returns
// only after they have ended.
package brokerclient

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/internal/logfield"
	"github.com/edgetrust/edgetrust/protocol"
)

// Defaults for zero Config fields.
//
// A broker that dies without closing its connections (killed, its host
// gone) is noticed only by the QUIC idle timeout, which restarts when the
// first keep-alive after the broker's last packet is sent: at most
// KeepAlive + IdleTimeout, 20 s, after which an agent knowing several
// brokers moves to another (issue 14, point 6). The price is one small
// PING and its ACK every 5 s per idle agent.
const (
	DefaultKeepAlive      = 5 * time.Second
	DefaultIdleTimeout    = 15 * time.Second
	DefaultPingInterval   = 30 * time.Second
	DefaultRequestTimeout = 15 * time.Second
)

// QUIC application error codes the agent closes connections and cancels
// streams with. The protocol defines none; 0 means "no error".
const (
	codeNoError   quic.ApplicationErrorCode = 0
	codeProtocol  quic.ApplicationErrorCode = 1
	codeCancelled quic.StreamErrorCode      = 0
)

// Config configures Dial. The zero value of each optional field means its
// default.
type Config struct {
	// Addr is the broker's HOST:PORT (UDP). Required.
	Addr string
	// TLS is the client TLS configuration (see TLSConfig). Required. Dial
	// uses a clone with NextProtos set to protocol.ALPN, TLS 1.3 as the
	// minimum, and ServerName set to the host of Addr when empty.
	TLS *tls.Config
	// Key is the endpoint's Ed25519 key; it signs the HELLO. Required.
	Key ed25519.PrivateKey
	// ClientID is the endpoint's client id (UUID). Required.
	ClientID string
	// Transport is an optional shared QUIC transport (UDP socket). When
	// nil the Conn opens its own socket and closes it with the connection.
	Transport *quic.Transport
	// Logger receives debug logs; nil means no logging.
	Logger *zap.Logger
	// KeepAlive is the QUIC keep-alive period; 0 means DefaultKeepAlive.
	KeepAlive time.Duration
	// IdleTimeout is the QUIC idle timeout and the time a PING may wait for
	// its PONG; 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// PingInterval is how often the Conn sends PING on the control stream;
	// 0 means 30s, negative means never (call Ping yourself).
	PingInterval time.Duration
	// RequestTimeout bounds HELLO, Register, Refresh and Login when their
	// context has no deadline, and every write on the control stream; 0
	// means 15s.
	RequestTimeout time.Duration
	// Software is sent in HELLO (e.g. "edgetrust-agent/1.2.3"); optional.
	Software string
}

// Conn is a connection to the broker on which the endpoint has proven its
// key. Its methods are safe for concurrent use.
type Conn struct {
	cfg  Config
	log  *zap.Logger
	qc   *quic.Conn
	ctrl *quic.Stream
	rd   *protocol.Reader // control stream; used by the reader goroutine only

	ownTr  *quic.Transport // non-nil when the Conn opened its own socket
	ownUDP net.PacketConn

	capability int

	writeMu sync.Mutex // serialises frames on the control stream
	regMu   sync.Mutex // one Register at a time
	regCh   chan protocol.Message

	decisions chan *protocol.Decision

	mu         sync.Mutex
	regPending bool
	pingSeq    uint64
	pings      map[uint64]chan struct{}
	err        error

	closing    chan struct{} // closed by shutdown
	shutOnce   sync.Once
	pingerDone chan struct{}
	done       chan struct{} // closed when every goroutine has ended
}

// Addr returns the broker's address as dialled (Config.Addr).
func (c *Conn) Addr() string { return c.cfg.Addr }

// ErrClosed is Conn.Err after Close.
var ErrClosed = errors.New("brokerclient: connection closed")

// Dial connects to the broker, completes the QUIC/TLS handshake and proves
// possession of cfg.Key with HELLO. It returns a *protocol.Error (use
// errors.As) when the broker refuses the HELLO, and other errors for
// configuration, network and TLS failures.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	switch {
	case cfg.Addr == "":
		return nil, errors.New("brokerclient.Dial: Config.Addr is empty")
	case cfg.TLS == nil:
		return nil, errors.New("brokerclient.Dial: Config.TLS is nil")
	case len(cfg.Key) != ed25519.PrivateKeySize:
		return nil, errors.New("brokerclient.Dial: Config.Key is not an Ed25519 private key")
	case cfg.ClientID == "":
		return nil, errors.New("brokerclient.Dial: Config.ClientID is empty")
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String(logfield.Broker, cfg.Addr))

	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("broker address %q: %w", cfg.Addr, err)
	}
	raddr, err := resolve(ctx, host, port)
	if err != nil {
		return nil, err
	}
	tlsConf := cfg.TLS.Clone()
	tlsConf.NextProtos = []string{protocol.ALPN}
	if tlsConf.MinVersion < tls.VersionTLS13 {
		tlsConf.MinVersion = tls.VersionTLS13
	}
	if tlsConf.ServerName == "" {
		tlsConf.ServerName = host
	}
	qconf := &quic.Config{
		HandshakeIdleTimeout: min(cfg.IdleTimeout, 5*time.Second),
		MaxIdleTimeout:       cfg.IdleTimeout,
		KeepAlivePeriod:      cfg.KeepAlive,
		// The broker never opens streams towards the agent in version 1.
		MaxIncomingStreams:    -1,
		MaxIncomingUniStreams: -1,
	}

	c := &Conn{
		cfg:        cfg,
		log:        log,
		regCh:      make(chan protocol.Message, 1),
		decisions:  make(chan *protocol.Decision, 16),
		pings:      make(map[uint64]chan struct{}),
		closing:    make(chan struct{}),
		pingerDone: make(chan struct{}),
		done:       make(chan struct{}),
	}
	tr := cfg.Transport
	if tr == nil {
		network, laddr := "udp4", &net.UDPAddr{IP: net.IPv4zero}
		if raddr.IP.To4() == nil {
			network, laddr = "udp6", &net.UDPAddr{IP: net.IPv6unspecified}
		}
		udp, err := net.ListenUDP(network, laddr)
		if err != nil {
			return nil, fmt.Errorf("opening UDP socket: %w", err)
		}
		c.ownUDP = udp
		c.ownTr = &quic.Transport{Conn: udp}
		tr = c.ownTr
	}
	c.qc, err = tr.Dial(ctx, raddr, tlsConf, qconf)
	if err != nil {
		c.closeTransport()
		return nil, fmt.Errorf("connecting to broker %s: %w", cfg.Addr, err)
	}
	if err := c.hello(ctx); err != nil {
		_ = c.qc.CloseWithError(codeProtocol, "hello failed")
		c.closeTransport()
		return nil, err
	}
	go c.readLoop()
	if cfg.PingInterval > 0 {
		go c.pingLoop()
	} else {
		close(c.pingerDone)
	}
	return c, nil
}

func resolve(ctx context.Context, host, port string) (*net.UDPAddr, error) {
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		pn, lerr := net.DefaultResolver.LookupPort(ctx, "udp", port)
		if lerr != nil {
			return nil, fmt.Errorf("broker port %q: %w", port, lerr)
		}
		p = uint64(pn)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip.Unmap(), uint16(p))), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolving broker host %q: %w", host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolving broker host %q: no addresses", host)
	}
	best := ips[0]
	for _, ip := range ips { // prefer IPv4: it works on every host
		if ip.Unmap().Is4() {
			best = ip
			break
		}
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(best.Unmap(), uint16(p))), nil
}

// hello opens the control stream and proves possession of the key.
func (c *Conn) hello(ctx context.Context) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	s, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return fmt.Errorf("opening control stream: %w", err)
	}
	c.ctrl = s
	c.rd = protocol.NewReader(s)
	stop := bindStream(ctx, s)
	defer stop()

	exp, err := protocol.Exporter(c.qc.ConnectionState().TLS)
	if err != nil {
		return fmt.Errorf("deriving TLS exporter: %w", err)
	}
	h := &protocol.Hello{
		Capability: protocol.Capability,
		ClientID:   c.cfg.ClientID,
		KeyType:    protocol.KeyTypeEd25519,
		PublicKey:  []byte(c.cfg.Key.Public().(ed25519.PublicKey)),
		Signature:  ed25519.Sign(c.cfg.Key, protocol.HelloSigningInput(exp)),
		Software:   c.cfg.Software,
	}
	if err := protocol.WriteMessage(s, h); err != nil {
		return ctxErr(ctx, fmt.Errorf("sending HELLO: %w", err))
	}
	m, err := c.rd.ReadMessage()
	if err != nil {
		return ctxErr(ctx, fmt.Errorf("reading HELLO answer: %w", err))
	}
	switch m := m.(type) {
	case *protocol.HelloOK:
		c.capability = min(m.Capability, protocol.Capability)
	case *protocol.Error:
		return fmt.Errorf("broker refused HELLO: %w", m)
	default:
		return fmt.Errorf("broker answered HELLO with %s", m.FrameType())
	}
	// Clear the deadlines bindStream set; the control stream lives on.
	stop()
	_ = s.SetDeadline(time.Time{})
	return nil
}

// Capability returns the protocol capability both sides use.
func (c *Conn) Capability() int { return c.capability }

// Register sends REGISTER on the control stream and waits for REGISTERED.
// A broker refusal is returned as *protocol.Error (CodeInvalidClient when the
// API key is refused). When ctx ends before the answer the Conn is closed,
// because the answer could no longer be matched to its request.
func (c *Conn) Register(ctx context.Context, r protocol.Register) (*protocol.Registered, error) {
	c.regMu.Lock()
	defer c.regMu.Unlock()
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	// Drop a stale answer (impossible unless the broker misbehaves).
	select {
	case <-c.regCh:
	default:
	}
	c.mu.Lock()
	c.regPending = true
	c.mu.Unlock()
	if err := c.writeControl(&r); err != nil {
		return nil, err
	}
	select {
	case m := <-c.regCh:
		switch m := m.(type) {
		case *protocol.Registered:
			return m, nil
		case *protocol.Error:
			return nil, fmt.Errorf("broker refused registration: %w", m)
		}
		return nil, fmt.Errorf("broker answered REGISTER with %s", m.FrameType())
	case <-ctx.Done():
		c.shutdown(fmt.Errorf("register: %w", ctx.Err()))
		return nil, fmt.Errorf("register: %w", ctx.Err())
	case <-c.done:
		return nil, fmt.Errorf("register: %w", c.Err())
	}
}

// Decisions returns the decisions the broker pushes after Register. The
// channel is closed when the control stream ends (see Err). The caller must
// keep receiving: while the buffer (16) is full the control stream is not
// read, so PONGs wait too.
func (c *Conn) Decisions() <-chan *protocol.Decision { return c.decisions }

// Ping sends PING and waits for the matching PONG.
func (c *Conn) Ping(ctx context.Context) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	c.mu.Lock()
	c.pingSeq++
	seq := c.pingSeq
	ch := make(chan struct{})
	c.pings[seq] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pings, seq)
		c.mu.Unlock()
	}()
	if err := c.writeControl(&protocol.Ping{Seq: seq}); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ping: %w", ctx.Err())
	case <-c.closing:
		// Not c.done: that waits for the pinger, which may be here.
		return fmt.Errorf("ping: %w", c.Err())
	}
}

// Refresh exchanges a refresh token for new device tokens on a new stream.
// A refusal is a *protocol.Error (CodeInvalidGrant for a spent, expired or
// unknown refresh token).
func (c *Conn) Refresh(ctx context.Context, refreshToken string) (*protocol.Tokens, error) {
	return c.request(ctx, &protocol.Refresh{RefreshToken: refreshToken})
}

// Login asks for a user token on a new stream. A refusal is a
// *protocol.Error.
func (c *Conn) Login(ctx context.Context, l protocol.Login) (*protocol.Tokens, error) {
	return c.request(ctx, &l)
}

// request sends m on a new stream and reads one TOKENS or ERROR.
func (c *Conn) request(ctx context.Context, m protocol.Message) (*protocol.Tokens, error) {
	name := m.FrameType().String()
	select {
	case <-c.closing:
		return nil, fmt.Errorf("%s: %w", name, c.Err())
	default:
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	s, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("%s: opening stream: %w", name, err))
	}
	// Reading the answer does not consume the peer's FIN; cancel reading
	// so the stream completes and its state is freed.
	defer s.CancelRead(codeCancelled)
	stop := bindStream(ctx, s)
	defer stop()
	if err := protocol.WriteMessage(s, m); err != nil {
		s.CancelWrite(codeCancelled)
		return nil, ctxErr(ctx, fmt.Errorf("%s: sending: %w", name, err))
	}
	if err := s.Close(); err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("%s: closing send side: %w", name, err))
	}
	ans, err := protocol.NewReader(s).ReadMessage()
	if err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("%s: reading answer: %w", name, err))
	}
	switch ans := ans.(type) {
	case *protocol.Tokens:
		return ans, nil
	case *protocol.Error:
		return nil, ans
	}
	return nil, fmt.Errorf("%s: broker answered with %s", name, ans.FrameType())
}

// Done is closed when the connection has ended and every goroutine of the
// Conn has returned.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (ErrClosed after Close), or nil while
// it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection and waits until every goroutine of the Conn
// has ended. It is safe to call more than once; it returns nil.
func (c *Conn) Close() error {
	c.shutdown(ErrClosed)
	<-c.done
	return nil
}

// shutdown records err as the reason (the first one wins) and closes the
// connection. It does not wait.
func (c *Conn) shutdown(err error) {
	c.shutOnce.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.closing)
		code, msg := codeNoError, "bye"
		if !errors.Is(err, ErrClosed) {
			code, msg = codeProtocol, "agent closing"
		}
		_ = c.qc.CloseWithError(code, msg)
		c.closeTransport()
	})
}

func (c *Conn) closeTransport() {
	if c.ownTr != nil {
		_ = c.ownTr.Close()
		_ = c.ownUDP.Close()
	}
}

// readLoop reads the control stream until it ends.
func (c *Conn) readLoop() {
	var err error
	for {
		var m protocol.Message
		m, err = c.rd.ReadMessage()
		if errors.Is(err, protocol.ErrBadPayload) {
			c.log.Warn("skipping malformed frame on control stream", zap.Error(err))
			continue
		}
		if err != nil {
			break
		}
		if err = c.handle(m); err != nil {
			break
		}
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("broker closed the control stream")
	}
	var appErr *quic.ApplicationError
	if errors.As(err, &appErr) && appErr.Remote {
		err = fmt.Errorf("broker closed the connection: %w", err)
	}
	c.shutdown(err)
	<-c.pingerDone
	close(c.decisions)
	close(c.done)
	c.log.Debug("control stream ended", zap.Error(c.Err()))
}

func (c *Conn) handle(m protocol.Message) error {
	switch m := m.(type) {
	case *protocol.Registered, *protocol.Error:
		c.mu.Lock()
		pending := c.regPending
		c.regPending = false
		c.mu.Unlock()
		if pending {
			c.regCh <- m // buffered, one answer per pending Register
			return nil
		}
		if e, ok := m.(*protocol.Error); ok {
			c.log.Warn("broker sent an error on the control stream", zap.Stringer(logfield.Frame, e.FrameType()), zap.Error(e))
			return fmt.Errorf("broker error on control stream: %w", e)
		}
		c.log.Warn("unexpected REGISTERED on control stream")
	case *protocol.Decision:
		c.log.Debug("decision pushed", zap.String(logfield.State, m.State))
		select {
		case c.decisions <- m:
		case <-c.closing:
		}
	case *protocol.Pong:
		c.mu.Lock()
		ch := c.pings[m.Seq]
		delete(c.pings, m.Seq)
		c.mu.Unlock()
		if ch != nil {
			close(ch)
		}
	case *protocol.Ping:
		if err := c.writeControl(&protocol.Pong{Seq: m.Seq}); err != nil {
			return err
		}
	default:
		c.log.Debug("ignoring frame on control stream", zap.Stringer(logfield.Frame, m.FrameType()))
	}
	return nil
}

func (c *Conn) pingLoop() {
	defer close(c.pingerDone)
	t := time.NewTicker(c.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.closing:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.IdleTimeout)
		err := c.Ping(ctx)
		cancel()
		if err != nil {
			select {
			case <-c.closing:
			default:
				c.shutdown(fmt.Errorf("broker did not answer PING: %w", err))
			}
			return
		}
	}
}

// writeControl writes one frame on the control stream. A failed write
// leaves the stream unusable, so it closes the Conn.
func (c *Conn) writeControl(m protocol.Message) error {
	buf, err := protocol.Encode(m)
	if err != nil {
		return err
	}
	c.writeMu.Lock()
	_ = c.ctrl.SetWriteDeadline(time.Now().Add(c.cfg.RequestTimeout))
	_, err = c.ctrl.Write(buf)
	_ = c.ctrl.SetWriteDeadline(time.Time{})
	c.writeMu.Unlock()
	if err != nil {
		select {
		case <-c.closing:
			return fmt.Errorf("sending %s: %w", m.FrameType(), c.Err())
		default:
		}
		err = fmt.Errorf("sending %s: %w", m.FrameType(), err)
		c.shutdown(err)
		return err
	}
	return nil
}

// withTimeout applies RequestTimeout to a ctx without a deadline.
func (c *Conn) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.cfg.RequestTimeout)
}

// bindStream makes reads and writes on s fail when ctx ends. The returned
// function undoes the binding of cancellation (not the deadline).
func bindStream(ctx context.Context, s *quic.Stream) (stop func() bool) {
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	return context.AfterFunc(ctx, func() {
		_ = s.SetDeadline(time.Unix(1, 0))
	})
}

// ctxErr prefers the context's error when ctx has ended, so callers see
// context.DeadlineExceeded rather than a stream deadline error.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	// The stream deadline equals the context's and may fire first.
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}
