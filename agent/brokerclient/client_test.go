package brokerclient_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/quic-go/quic-go"

	"github.com/edgetrust/edgetrust/agent/brokerclient"
	"github.com/edgetrust/edgetrust/internal/fakebroker"
	"github.com/edgetrust/edgetrust/protocol"
)

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, srv *fakebroker.Server, mod func(*brokerclient.Config)) (*brokerclient.Conn, error) {
	t.Helper()
	tc, err := brokerclient.TLSConfig("127.0.0.1", srv.CAFile, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := brokerclient.Config{Addr: srv.Addr, TLS: tc, Key: newKey(t), ClientID: uuid.NewString()}
	if mod != nil {
		mod(&cfg)
	}
	c, err := brokerclient.Dial(testCtx(t), cfg)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

var trustedTokens = &protocol.Tokens{AccessToken: "dev-at", TokenType: "Bearer", ExpiresIn: 900, RefreshToken: "dev-rt", RefreshExpiresIn: 3600}

func TestFullFlow(t *testing.T) {
	var gotLogin *protocol.Login
	loginSeen := make(chan struct{})
	srv := fakebroker.New(t, fakebroker.Handler{
		Register: func(c *fakebroker.Conn, r *protocol.Register) protocol.Message {
			if r.APIKey != "etk_good" {
				return &protocol.Error{Code: protocol.CodeInvalidClient}
			}
			return &protocol.Registered{EndpointID: c.Hello.ClientID, State: protocol.StatePending}
		},
		Request: func(c *fakebroker.Conn, m protocol.Message) protocol.Message {
			switch m := m.(type) {
			case *protocol.Refresh:
				if m.RefreshToken != "dev-rt" {
					return &protocol.Error{Code: protocol.CodeInvalidGrant, Message: "spent"}
				}
				return &protocol.Tokens{AccessToken: "dev-at2", TokenType: "Bearer", ExpiresIn: 900, RefreshToken: "dev-rt2"}
			case *protocol.Login:
				gotLogin = m
				close(loginSeen)
				return &protocol.Tokens{AccessToken: "user-at", TokenType: "Bearer", ExpiresIn: 3600}
			}
			return &protocol.Error{Code: protocol.CodeBadRequest}
		},
	})
	key := newKey(t)
	clientID := uuid.NewString()
	c, err := dial(t, srv, func(cfg *brokerclient.Config) { cfg.Key = key; cfg.ClientID = clientID; cfg.Software = "test/1" })
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	sc, err := srv.NextConn(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// HELLO: the broker verified the signature against its own exporter.
	if !sc.ProofOK {
		t.Fatal("broker did not verify the hello proof")
	}
	if sc.Hello.ClientID != clientID || sc.Hello.Software != "test/1" || sc.Hello.Capability != protocol.Capability {
		t.Errorf("hello = %+v", sc.Hello)
	}
	if !ed25519.Verify(key.Public().(ed25519.PublicKey), protocol.HelloSigningInput(sc.Exporter()), sc.Hello.Signature) {
		t.Error("signature does not cover this connection's exporter")
	}
	other := make([]byte, protocol.ExporterLength)
	if ed25519.Verify(key.Public().(ed25519.PublicKey), protocol.HelloSigningInput(other), sc.Hello.Signature) {
		t.Error("signature verifies for another exporter value")
	}
	if c.Capability() != protocol.Capability {
		t.Errorf("capability = %d", c.Capability())
	}

	// REGISTER refused, then accepted on the same connection.
	_, err = c.Register(ctx, protocol.Register{APIKey: "etk_bad", ClientType: "server"})
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Code != protocol.CodeInvalidClient {
		t.Fatalf("register with bad key: %v, want invalid_client", err)
	}
	reg, err := c.Register(ctx, protocol.Register{APIKey: "etk_good", ClientType: "server", Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&protocol.Registered{EndpointID: clientID, State: protocol.StatePending}, reg); diff != "" {
		t.Errorf("registered (-want +got):\n%s", diff)
	}

	// A pushed decision arrives on Decisions.
	if err := sc.Push(&protocol.Decision{EndpointID: clientID, State: protocol.StateTrusted, Tokens: trustedTokens}); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-c.Decisions():
		if diff := cmp.Diff(&protocol.Decision{EndpointID: clientID, State: protocol.StateTrusted, Tokens: trustedTokens}, d); diff != "" {
			t.Errorf("decision (-want +got):\n%s", diff)
		}
	case <-ctx.Done():
		t.Fatal("no decision")
	}

	// Refresh: good and spent.
	tok, err := c.Refresh(ctx, "dev-rt")
	if err != nil || tok.AccessToken != "dev-at2" {
		t.Fatalf("refresh = %+v, %v", tok, err)
	}
	_, err = c.Refresh(ctx, "dev-rt-old")
	if !errors.As(err, &perr) || perr.Code != protocol.CodeInvalidGrant {
		t.Fatalf("spent refresh: %v, want invalid_grant", err)
	}

	// Login.
	want := protocol.Login{APIKey: "etk_good", DeviceToken: "dev-at2", Type: "upn", Username: "alice", Domain: "corp.example", UPN: "alice@corp.example"}
	tok, err = c.Login(ctx, want)
	if err != nil || tok.AccessToken != "user-at" {
		t.Fatalf("login = %+v, %v", tok, err)
	}
	<-loginSeen
	if diff := cmp.Diff(&want, gotLogin); diff != "" {
		t.Errorf("login frame (-want +got):\n%s", diff)
	}

	// Ping both ways.
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sc.Push(&protocol.Ping{Seq: 42}); err != nil {
		t.Fatal(err)
	}
	poll(t, func() bool { return len(sc.Pongs()) == 1 && sc.Pongs()[0] == 42 })

	// Deleted: the broker pushes and closes; Decisions and Done close.
	sc.Push(&protocol.Decision{EndpointID: clientID, State: protocol.StateDeleted})
	if d := <-c.Decisions(); d.State != protocol.StateDeleted {
		t.Fatalf("decision = %+v", d)
	}
	sc.Kill("deleted")
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("Done not closed after the broker closed")
	}
	if _, ok := <-c.Decisions(); ok {
		t.Error("Decisions not closed")
	}
	if c.Err() == nil || !strings.Contains(c.Err().Error(), "broker closed") {
		t.Errorf("Err = %v", c.Err())
	}
	if _, err := c.Refresh(ctx, "x"); err == nil {
		t.Error("refresh on a closed connection succeeded")
	}
}

func TestHelloRefused(t *testing.T) {
	srv := fakebroker.New(t, fakebroker.Handler{
		Hello: func(*protocol.Hello) *protocol.Error {
			return &protocol.Error{Code: protocol.CodeUnsupportedVersion, Message: "too old"}
		},
	})
	_, err := dial(t, srv, nil)
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Code != protocol.CodeUnsupportedVersion {
		t.Fatalf("err = %v, want unsupported_version", err)
	}
}

func TestFingerprint(t *testing.T) {
	srv := fakebroker.New(t, fakebroker.Handler{})
	tests := []struct {
		name, fp string
		ok       bool
	}{
		{"match", srv.Fingerprint, true},
		{"match uppercase", "SHA256:" + strings.ToUpper(strings.TrimPrefix(srv.Fingerprint, "sha256:")), true},
		{"mismatch", "sha256:" + strings.Repeat("ab", 32), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := brokerclient.TLSConfig("127.0.0.1", "", tt.fp)
			if err != nil {
				t.Fatal(err)
			}
			c, err := dial(t, srv, func(cfg *brokerclient.Config) { cfg.TLS = tc })
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), "fingerprint") {
				t.Fatalf("err = %v, want a fingerprint mismatch", err)
			}
		})
	}
	// Without any pin, the self-signed certificate is not trusted.
	tc, err := brokerclient.TLSConfig("127.0.0.1", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dial(t, srv, func(cfg *brokerclient.Config) { cfg.TLS = tc }); err == nil {
		t.Fatal("dial with system roots accepted a self-signed broker")
	}
}

func TestTLSConfigErrors(t *testing.T) {
	tests := []struct{ name, ca, fp, want string }{
		{"both", "x.pem", "sha256:00", "not both"},
		{"no prefix", "", strings.Repeat("ab", 32), "sha256:"},
		{"short", "", "sha256:abcd", "sha256:"},
		{"not hex", "", "sha256:" + strings.Repeat("zz", 32), "sha256:"},
		{"missing ca", "/nonexistent/ca.pem", "", "reading broker CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := brokerclient.TLSConfig("h", tt.ca, tt.fp)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := brokerclient.ParseFingerprint("sha256:" + strings.Repeat("AB:", 31) + "AB"); err != nil {
		t.Errorf("colon-separated fingerprint: %v", err)
	}
}

func TestSharedTransport(t *testing.T) {
	srv := fakebroker.New(t, fakebroker.Handler{})
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	t.Cleanup(func() { tr.Close(); udp.Close() })
	var conns []*brokerclient.Conn
	for i := 0; i < 5; i++ {
		c, err := dial(t, srv, func(cfg *brokerclient.Config) { cfg.Transport = tr })
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Register(testCtx(t), protocol.Register{APIKey: "k", ClientType: "server"}); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	conns[0].Close()
	// Closing one Conn leaves the shared socket and the others working.
	for _, c := range conns[1:] {
		if err := c.Ping(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if !errors.Is(c.Err(), brokerclient.ErrClosed) {
			t.Errorf("Err after Close = %v", c.Err())
		}
	}
}

func TestPingTimeoutClosesConn(t *testing.T) {
	srv := fakebroker.New(t, fakebroker.Handler{NoPong: true})
	c, err := dial(t, srv, func(cfg *brokerclient.Config) {
		cfg.PingInterval = 20 * time.Millisecond
		cfg.IdleTimeout = 300 * time.Millisecond
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-testCtx(t).Done():
		t.Fatal("connection stayed up without PONGs")
	}
	if c.Err() == nil || !strings.Contains(c.Err().Error(), "PING") {
		t.Errorf("Err = %v", c.Err())
	}
}

func TestRequestDeadline(t *testing.T) {
	block := make(chan struct{})
	srv := fakebroker.New(t, fakebroker.Handler{
		Request: func(*fakebroker.Conn, protocol.Message) protocol.Message { <-block; return nil },
	})
	t.Cleanup(func() { close(block) }) // runs before the server's Close
	c, err := dial(t, srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.Refresh(ctx, "rt")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	// The connection survives a timed-out request.
	if err := c.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestDialConfigErrors(t *testing.T) {
	good := brokerclient.Config{Addr: "127.0.0.1:1", TLS: &tls.Config{}, Key: newKey(t), ClientID: "x"}
	tests := []struct {
		name string
		mod  func(*brokerclient.Config)
	}{
		{"no addr", func(c *brokerclient.Config) { c.Addr = "" }},
		{"no tls", func(c *brokerclient.Config) { c.TLS = nil }},
		{"no key", func(c *brokerclient.Config) { c.Key = nil }},
		{"no client id", func(c *brokerclient.Config) { c.ClientID = "" }},
		{"bad addr", func(c *brokerclient.Config) { c.Addr = "nope" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mod(&cfg)
			if _, err := brokerclient.Dial(testCtx(t), cfg); err == nil {
				t.Fatal("Dial accepted a bad config")
			}
		})
	}
}

func poll(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A PING waiting for its PONG must not hold up Close (or the end of the
// connection) until the PING's own timeout.
func TestCloseDoesNotWaitForPendingPing(t *testing.T) {
	srv := fakebroker.New(t, fakebroker.Handler{NoPong: true})
	c, err := dial(t, srv, func(cfg *brokerclient.Config) {
		cfg.PingInterval = 20 * time.Millisecond
		cfg.IdleTimeout = 10 * time.Second
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // a PING is now waiting for its PONG
	start := time.Now()
	c.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v: it waited for the unanswered PING", d)
	}
}
