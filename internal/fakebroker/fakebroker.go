// Package fakebroker is a small in-process broker speaking the agent
// protocol over QUIC on 127.0.0.1, for tests of the agent side. It checks
// the HELLO proof exactly as a broker must (signature over the connection's
// TLS exporter) and leaves every other decision to the test's Handler.
package fakebroker

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/edgetrust/edgetrust/protocol"
)

// Handler decides the fake broker's answers. Nil fields mean defaults.
type Handler struct {
	// Hello may refuse a proven HELLO; nil accepts it.
	Hello func(h *protocol.Hello) *protocol.Error
	// Register answers REGISTER; nil answers pending.
	Register func(c *Conn, r *protocol.Register) protocol.Message
	// Request answers REFRESH and LOGIN; nil answers bad_request. A nil
	// answer resets the stream.
	Request func(c *Conn, m protocol.Message) protocol.Message
	// NoPong makes the broker ignore PING.
	NoPong bool
}

// Server is a running fake broker.
type Server struct {
	Addr        string // 127.0.0.1:PORT
	CAFile      string // PEM of the self-signed certificate
	Fingerprint string // sha256:HEX of the certificate's SPKI

	t       testing.TB
	h       Handler
	cert    tls.Certificate
	certDER []byte
	ln      *quic.Listener
	tr      *quic.Transport
	udp     net.PacketConn
	conns   chan *Conn
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
	closeMu sync.Mutex
	closed  bool
	live    map[*quic.Conn]struct{}
}

// Conn is one agent connection as the fake broker sees it.
type Conn struct {
	Hello   *protocol.Hello
	ProofOK bool // the HELLO signature verified against this connection's exporter
	QC      *quic.Conn

	exporter []byte
	ctrl     *quic.Stream
	wmu      sync.Mutex
	mu       sync.Mutex
	pongs    []uint64
	regs     []*protocol.Register
}

// New starts a fake broker; it is closed by t.Cleanup.
func New(t testing.TB, h Handler) *Server {
	t.Helper()
	return NewAt(t, h, "127.0.0.1:0")
}

// Restart starts a new fake broker with the same address, certificate and
// handler as s (which should be closed first), as a restarted broker.
func (s *Server) Restart(t testing.TB) *Server {
	t.Helper()
	return start(t, s.h, s.Addr, s.cert, s.certDER)
}

// Sibling starts another fake broker on a new port with the same
// certificate as s and handler h: brokers of one cluster share their TLS
// identity, so an agent pinned to one reaches any.
func (s *Server) Sibling(t testing.TB, h Handler) *Server {
	t.Helper()
	return start(t, h, "127.0.0.1:0", s.cert, s.certDER)
}

// NewAt starts a fake broker on addr.
func NewAt(t testing.TB, h Handler, addr string) *Server {
	t.Helper()
	cert, certDER := selfSigned(t)
	return start(t, h, addr, cert, certDER)
}

func start(t testing.TB, h Handler, addr string, cert tls.Certificate, certDER []byte) *Server {
	t.Helper()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "broker.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(certDER)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenUDP("udp", ua)
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	ln, err := tr.Listen(&tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{protocol.ALPN},
		MinVersion:   tls.VersionTLS13,
	}, &quic.Config{MaxIdleTimeout: 10 * time.Second, KeepAlivePeriod: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		Addr:        udp.LocalAddr().String(),
		CAFile:      caFile,
		Fingerprint: "sha256:" + hex.EncodeToString(sum[:]),
		t:           t, h: h, ln: ln, tr: tr, udp: udp,
		cert: cert, certDER: certDER,
		conns: make(chan *Conn, 64),
		ctx:   ctx, cancel: cancel,
	}
	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(s.Close)
	return s
}

// Close stops the broker and every connection, and waits for its goroutines.
func (s *Server) Close() {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return
	}
	s.closed = true
	var live []*quic.Conn
	for qc := range s.live {
		live = append(live, qc)
	}
	s.closeMu.Unlock()
	s.cancel()
	for _, qc := range live { // tell agents, as a broker shutting down does
		qc.CloseWithError(0, "broker shutting down")
	}
	s.ln.Close()
	s.tr.Close()
	s.udp.Close()
	s.wg.Wait()
}

// NextConn returns the next connection whose HELLO was accepted.
func (s *Server) NextConn(ctx context.Context) (*Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		qc, err := s.ln.Accept(s.ctx)
		if err != nil {
			return
		}
		s.closeMu.Lock()
		if s.closed {
			s.closeMu.Unlock()
			qc.CloseWithError(0, "")
			return
		}
		if s.live == nil {
			s.live = make(map[*quic.Conn]struct{})
		}
		s.live[qc] = struct{}{}
		s.wg.Add(1)
		s.closeMu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serve(qc)
			s.closeMu.Lock()
			delete(s.live, qc)
			s.closeMu.Unlock()
		}()
	}
}

func (s *Server) serve(qc *quic.Conn) {
	defer qc.CloseWithError(0, "")
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	ctrl, err := qc.AcceptStream(ctx)
	cancel()
	if err != nil {
		return
	}
	rd := protocol.NewReader(ctrl)
	m, err := rd.ReadMessage()
	if err != nil {
		return
	}
	hello, ok := m.(*protocol.Hello)
	if !ok {
		protocol.WriteMessage(ctrl, &protocol.Error{Code: protocol.CodeProofRequired})
		return
	}
	exp, err := protocol.Exporter(qc.ConnectionState().TLS)
	if err != nil {
		return
	}
	c := &Conn{Hello: hello, QC: qc, exporter: exp, ctrl: ctrl}
	c.ProofOK = hello.KeyType == protocol.KeyTypeEd25519 &&
		len(hello.PublicKey) == ed25519.PublicKeySize &&
		ed25519.Verify(hello.PublicKey, protocol.HelloSigningInput(exp), hello.Signature)
	if !c.ProofOK {
		c.finish(&protocol.Error{Code: protocol.CodeProofRequired, Message: "bad hello signature"})
		return
	}
	if s.h.Hello != nil {
		if e := s.h.Hello(hello); e != nil {
			c.finish(e)
			return
		}
	}
	c.write(&protocol.HelloOK{Capability: protocol.Capability, ServerTime: time.Now().UnixMilli()})
	select {
	case s.conns <- c:
	default:
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.requests(c)
	}()
	for {
		m, err := rd.ReadMessage()
		if err != nil {
			return
		}
		switch m := m.(type) {
		case *protocol.Register:
			c.mu.Lock()
			c.regs = append(c.regs, m)
			c.mu.Unlock()
			var ans protocol.Message = &protocol.Registered{EndpointID: hello.ClientID, State: protocol.StatePending}
			if s.h.Register != nil {
				ans = s.h.Register(c, m)
			}
			if ans != nil {
				c.write(ans)
			}
		case *protocol.Ping:
			if !s.h.NoPong {
				c.write(&protocol.Pong{Seq: m.Seq})
			}
		case *protocol.Pong:
			c.mu.Lock()
			c.pongs = append(c.pongs, m.Seq)
			c.mu.Unlock()
		}
	}
}

func (s *Server) requests(c *Conn) {
	for {
		st, err := c.QC.AcceptStream(s.ctx)
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			st.SetDeadline(time.Now().Add(5 * time.Second))
			m, err := protocol.NewReader(st).ReadMessage()
			if err != nil {
				st.CancelWrite(0)
				return
			}
			var ans protocol.Message = &protocol.Error{Code: protocol.CodeBadRequest}
			if s.h.Request != nil {
				ans = s.h.Request(c, m)
			}
			if ans == nil { // no answer: reset the stream
				st.CancelWrite(0)
				return
			}
			protocol.WriteMessage(st, ans)
			st.Close()
		}()
	}
}

// Push writes m (a Decision, Ping, ...) on the control stream.
func (c *Conn) Push(m protocol.Message) error { return c.write(m) }

func (c *Conn) write(m protocol.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return protocol.WriteMessage(c.ctrl, m)
}

// finish writes a last frame, closes the control stream and gives the peer
// a moment to read it before the connection is closed: CloseWithError
// discards stream data that was not yet sent.
func (c *Conn) finish(m protocol.Message) {
	c.write(m)
	c.ctrl.Close()
	select {
	case <-c.QC.Context().Done():
	case <-time.After(2 * time.Second):
	}
}

// Pongs returns the sequence numbers of PONGs the agent sent.
func (c *Conn) Pongs() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]uint64(nil), c.pongs...)
}

// Registers returns the REGISTER frames received on this connection.
func (c *Conn) Registers() []*protocol.Register {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*protocol.Register(nil), c.regs...)
}

// Exporter returns the connection's TLS exporter value as the broker sees it.
func (c *Conn) Exporter() []byte { return c.exporter }

// Kill closes the connection with an application error at once.
func (c *Conn) Kill(msg string) { c.QC.CloseWithError(1, msg) }

// PushAndClose pushes m, closes the control stream and closes the
// connection once the agent has had a chance to read m (as a broker does
// after a "deleted" decision).
func (c *Conn) PushAndClose(m protocol.Message) {
	c.finish(m)
	c.QC.CloseWithError(0, "")
}

func selfSigned(t testing.TB) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "fake edgetrust broker"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, der
}
