package agentapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/quic-go/quic-go"

	"github.com/edgetrust/edgetrust/broker/agentapi"
	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

type harness struct {
	reg   *registry.Registry
	addr  string
	admin *registry.Principal
	key   string // an auto-trust key
	man   string // a manual key
}

func selfSigned(t testing.TB) tls.Certificate {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, brokertest.Options{}, agentapi.Config{})
}

// newHarnessWith is newHarness with a broker made with opts, served with
// cfg (its Registry is set here).
func newHarnessWith(t *testing.T, opts brokertest.Options, cfg agentapi.Config) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	re := brokertest.New(t, opts)
	reg, admin := re.Registry, re.Admin(t)
	auto, err := reg.CreateAPIKey(ctx, admin, registry.CreateAPIKeyRequest{Name: "auto", AutoTrust: true})
	if err != nil {
		t.Fatal(err)
	}
	man, err := reg.CreateAPIKey(ctx, admin, registry.CreateAPIKeyRequest{Name: "manual"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Registry = reg
	if cfg.HelloTimeout == 0 {
		cfg.HelloTimeout = 2 * time.Second
	}
	srv, err := agentapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, NextProtos: []string{protocol.ALPN}}, agentapi.QUICConfig())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		ln.Close()
	})
	return &harness{reg: reg, addr: ln.Addr().String(), admin: admin, key: auto.Value, man: man.Value}
}

// raw is a hand-driven protocol client.
type raw struct {
	t    *testing.T
	conn *quic.Conn
	ctrl *quic.Stream
	rd   *protocol.Reader
	id   string
	key  ed25519.PrivateKey
}

func dial(t *testing.T, h *harness) *raw {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, h.addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{protocol.ALPN}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseWithError(0, "") })
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	return &raw{t: t, conn: conn, ctrl: str, rd: protocol.NewReader(str), id: uuid.NewString(), key: k}
}

func (r *raw) send(m protocol.Message) {
	r.t.Helper()
	if err := protocol.WriteMessage(r.ctrl, m); err != nil {
		r.t.Fatal(err)
	}
}

func (r *raw) recv() protocol.Message {
	r.t.Helper()
	r.ctrl.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, err := r.rd.ReadMessage()
	if err != nil {
		r.t.Fatalf("reading control stream: %v", err)
	}
	return m
}

func (r *raw) hello() {
	r.t.Helper()
	exp, err := protocol.Exporter(r.conn.ConnectionState().TLS)
	if err != nil {
		r.t.Fatal(err)
	}
	r.send(&protocol.Hello{Capability: protocol.Capability, ClientID: r.id, KeyType: "ed25519",
		PublicKey: r.key.Public().(ed25519.PublicKey), Signature: ed25519.Sign(r.key, protocol.HelloSigningInput(exp))})
	if _, ok := r.recv().(*protocol.HelloOK); !ok {
		r.t.Fatal("no HELLO_OK")
	}
}

// request sends raw bytes on a new stream and returns the answer.
func (r *raw) request(frame []byte) protocol.Message {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := r.conn.OpenStreamSync(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	s.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.Write(frame); err != nil {
		r.t.Fatal(err)
	}
	s.Close()
	m, err := protocol.NewReader(s).ReadMessage()
	if err != nil {
		r.t.Fatalf("reading answer: %v", err)
	}
	return m
}

func frame(t *testing.T, m protocol.Message) []byte {
	b, err := protocol.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantError(t *testing.T, m protocol.Message, code protocol.Code) {
	t.Helper()
	e, ok := m.(*protocol.Error)
	if !ok || e.Code != code {
		t.Fatalf("answer = %#v, want ERROR %s", m, code)
	}
}

func TestHelloMustProvePossession(t *testing.T) {
	h := newHarness(t)
	cases := map[string]func(r *raw) protocol.Message{
		"signature over another connection's exporter": func(r *raw) protocol.Message {
			return &protocol.Hello{Capability: 1, ClientID: r.id, KeyType: "ed25519", PublicKey: r.key.Public().(ed25519.PublicKey),
				Signature: ed25519.Sign(r.key, protocol.HelloSigningInput(make([]byte, 32)))}
		},
		"first frame is not hello": func(r *raw) protocol.Message { return &protocol.Register{APIKey: h.key, ClientType: "printer"} },
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			r := dial(t, h)
			r.send(build(r))
			wantError(t, r.recv(), protocol.CodeProofRequired)
			select {
			case <-r.conn.Context().Done():
			case <-time.After(10 * time.Second):
				t.Fatal("connection stayed open after a failed hello")
			}
		})
	}
}

func TestRequestsBeforeHelloAreRefused(t *testing.T) {
	h := newHarness(t)
	r := dial(t, h)
	// Open the control stream with a partial frame header so it exists but no
	// Hello is complete, then send a request on another stream.
	if _, err := r.ctrl.Write([]byte{byte(protocol.TypeHello)}); err != nil {
		t.Fatal(err)
	}
	wantError(t, r.request(frame(t, &protocol.Refresh{RefreshToken: "x"})), protocol.CodeProofRequired)
}

func TestBadFramesGetErrorsAndServiceContinues(t *testing.T) {
	h := newHarness(t)
	r := dial(t, h)
	r.hello()

	var big [protocol.HeaderSize]byte
	big[0] = byte(protocol.TypeLogin)
	binary.BigEndian.PutUint32(big[1:], protocol.MaxFrameSize+1)
	wantError(t, r.request(big[:]), protocol.CodeFrameTooLarge)

	wantError(t, r.request([]byte{byte(protocol.TypeLogin), 0, 0, 0, 4, '[', '1', ']', ' '}), protocol.CodeBadRequest)
	wantError(t, r.request([]byte{byte(protocol.TypeLogin), 0, 0, 0, 14, '{', '"', 't', 'y', 'p', 'e', '"', ':', ' ', '4', '2', '}', ' ', ' '}), protocol.CodeBadRequest)
	wantError(t, r.request(frame(t, &protocol.Ping{Seq: 1})), protocol.CodeBadRequest)
	wantError(t, r.request(frame(t, &protocol.Refresh{RefreshToken: "etr_nonsense"})), protocol.CodeInvalidGrant)

	// Malformed and unknown frames on the control stream leave it working.
	if _, err := r.ctrl.Write([]byte{byte(protocol.TypePing), 0, 0, 0, 1, 'x'}); err != nil {
		t.Fatal(err)
	}
	wantError(t, r.recv(), protocol.CodeBadRequest)
	if _, err := r.ctrl.Write([]byte{0x55, 0, 0, 0, 2, '{', '}'}); err != nil {
		t.Fatal(err)
	}
	r.send(&protocol.Ping{Seq: 7})
	if p, ok := r.recv().(*protocol.Pong); !ok || p.Seq != 7 {
		t.Fatal("control stream stopped answering after bad frames")
	}
	// And another agent is served normally.
	r2 := dial(t, h)
	r2.hello()
	r2.send(&protocol.Register{APIKey: h.key, ClientType: "printer"})
	if reg, ok := r2.recv().(*protocol.Registered); !ok || reg.State != "trusted" {
		t.Fatalf("second agent: %#v", reg)
	}
}

func TestDecisionsArePushed(t *testing.T) {
	h := newHarness(t)
	r := dial(t, h)
	r.hello()
	r.send(&protocol.Register{APIKey: h.man, ClientType: "embedded_terminal", Hostname: "term-1"})
	reg, ok := r.recv().(*protocol.Registered)
	if !ok || reg.State != "pending" || reg.Tokens != nil || reg.EndpointID != r.id {
		t.Fatalf("registered = %#v", reg)
	}
	ctx := context.Background()
	remote := netip.MustParseAddr("127.0.0.1")
	start := time.Now()
	if _, err := h.reg.Decide(ctx, h.admin, r.id, registry.ActionApprove, remote); err != nil {
		t.Fatal(err)
	}
	d, ok := r.recv().(*protocol.Decision)
	if !ok || d.State != "trusted" || d.Tokens == nil {
		t.Fatalf("pushed = %#v", d)
	}
	t.Logf("approval pushed in %v", time.Since(start))
	// The pushed device token is bound to the key proven in the Hello and
	// works for a login on this connection.
	tok := r.request(frame(t, &protocol.Login{APIKey: h.man, DeviceToken: d.Tokens.AccessToken, Type: "session_user", Username: "carol"}))
	if tk, ok := tok.(*protocol.Tokens); !ok || tk.AccessToken == "" {
		t.Fatalf("login = %#v", tok)
	}
	// Refresh rotates on a request stream.
	if tk, ok := r.request(frame(t, &protocol.Refresh{RefreshToken: d.Tokens.RefreshToken})).(*protocol.Tokens); !ok || tk.RefreshToken == d.Tokens.RefreshToken {
		t.Fatalf("refresh = %#v", tk)
	}

	if _, err := h.reg.Decide(ctx, h.admin, r.id, registry.ActionUntrust, remote); err != nil {
		t.Fatal(err)
	}
	if d, ok := r.recv().(*protocol.Decision); !ok || d.State != "untrusted" || d.Tokens != nil {
		t.Fatalf("pushed = %#v", d)
	}
	wantError(t, r.request(frame(t, &protocol.Login{APIKey: h.man, DeviceToken: d.Tokens.AccessToken, Type: "session_user", Username: "carol"})),
		protocol.CodeAccessDenied)

	if err := h.reg.DeleteEndpoint(ctx, h.admin, r.id, remote); err != nil {
		t.Fatal(err)
	}
	if d, ok := r.recv().(*protocol.Decision); !ok || d.State != "deleted" {
		t.Fatalf("pushed = %#v", d)
	}
	select {
	case <-r.conn.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("connection of a deleted endpoint stayed open")
	}
}

func TestRefusedKeyGetsInvalidClient(t *testing.T) {
	h := newHarness(t)
	r := dial(t, h)
	r.hello()
	r.send(&protocol.Register{APIKey: "etk_not_a_key", ClientType: "printer"})
	wantError(t, r.recv(), protocol.CodeInvalidClient)
	// The control stream stays usable: a retry with a good key works.
	r.send(&protocol.Register{APIKey: h.key, ClientType: "printer"})
	if reg, ok := r.recv().(*protocol.Registered); !ok || reg.State != "trusted" {
		t.Fatalf("retry = %#v", reg)
	}
}

func TestOversizedFrameOnControlStreamIsAnsweredThenClosed(t *testing.T) {
	h := newHarness(t)
	r := dial(t, h)
	r.hello()
	var hdr [protocol.HeaderSize]byte
	hdr[0] = byte(protocol.TypePing)
	binary.BigEndian.PutUint32(hdr[1:], protocol.MaxFrameSize+1)
	if _, err := r.ctrl.Write(hdr[:]); err != nil {
		t.Fatal(err)
	}
	wantError(t, r.recv(), protocol.CodeFrameTooLarge)
	select {
	case <-r.conn.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("connection stayed open after an oversized control frame")
	}
	var appErr *quic.ApplicationError
	if err := context.Cause(r.conn.Context()); !errors.As(err, &appErr) || appErr.ErrorCode != quic.ApplicationErrorCode(protocol.CodeFrameTooLarge) {
		t.Fatalf("close cause %v, want application error %d", err, protocol.CodeFrameTooLarge)
	}
}

// Issue 15, point 1, on QUIC: past the failures allowed per address, a
// wrong key on REGISTER gets ERROR key_limited with retry_after, and the
// connection's valid key is still admitted from the limited address.
func TestFailedKeysGetKeyLimited(t *testing.T) {
	h := newHarness(t)
	r := dial(t, h)
	r.hello()
	limit := registry.DefaultKeyFailureLimits.PerAddress.N
	for i := 0; i < limit; i++ {
		r.send(&protocol.Register{APIKey: "etk_not_a_key", ClientType: "printer"})
		wantError(t, r.recv(), protocol.CodeInvalidClient)
	}
	r.send(&protocol.Register{APIKey: "etk_not_a_key", ClientType: "printer"})
	m := r.recv()
	wantError(t, m, protocol.CodeKeyLimited)
	if e := m.(*protocol.Error); e.RetryAfter < 1 || e.RetryAfter > 120 {
		t.Errorf("retry_after = %d, want 1..120", e.RetryAfter)
	}
	r.send(&protocol.Register{APIKey: h.key, ClientType: "printer"})
	if reg, ok := r.recv().(*protocol.Registered); !ok || reg.State != "trusted" {
		t.Fatalf("valid key from the limited address = %#v", reg)
	}
}
