package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/agent/localapi"
	"github.com/edgetrust/edgetrust/agent/state"
	"github.com/edgetrust/edgetrust/internal/fakebroker"
	"github.com/edgetrust/edgetrust/protocol"
)

// testKey is a well-formed key value (the agent checks form and checksum
// before it dials); its secret begins "s3cr3t".
var testKey = func() string {
	secret := []byte("s3cr3t-value-of-thirty-three-byte")
	v, err := protocol.FormatKey(protocol.EncodeKeyID([]byte("pub12345")), secret)
	if err != nil {
		panic(err)
	}
	return v
}()

type harness struct {
	t        *testing.T
	dir      string
	sock     string
	cancel   context.CancelFunc
	done     chan error
	client   *http.Client
	mu       sync.Mutex
	logins   []*protocol.Login
	refreshs []string
}

// testSocket is a fresh local API address: a Unix socket path under 108
// bytes, or a named pipe on Windows.
func testSocket(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		return `\\.\pipe\edgetrust-agent-test-` + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	return filepath.Join(shortDir(t), "a.sock")
}

func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "eta")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func startAgent(t *testing.T, srv *fakebroker.Server, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, dir: filepath.Join(t.TempDir(), "state"), sock: testSocket(t), done: make(chan error, 1)}
	cfg := Config{
		Broker: srv.Addr, StateDir: h.dir, APIKey: testKey, Type: "server", BrokerCA: srv.CAFile,
		Socket: h.sock, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- a.Run(ctx) }()
	t.Cleanup(func() { h.stop() })
	h.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return localapi.Dial(ctx, h.sock)
		}}}
	t.Cleanup(h.client.CloseIdleConnections)
	return h
}

func (h *harness) stop() {
	h.cancel()
	select {
	case err, ok := <-h.done:
		if ok && err != nil {
			h.t.Errorf("Run: %v", err)
		}
		close(h.done)
	case <-time.After(10 * time.Second):
		h.t.Error("Run did not stop after cancel")
	}
}

func (h *harness) state() state.State {
	st, err := state.Load(h.dir)
	if err != nil {
		return state.State{State: "load error: " + err.Error()}
	}
	return st
}

func (h *harness) waitState(want string) state.State {
	h.t.Helper()
	var st state.State
	poll(h.t, func() bool { st = h.state(); return st.State == want }, "state "+want)
	return st
}

func (h *harness) login(typ string) (int, map[string]any) {
	h.t.Helper()
	resp, err := h.client.Post("http://agent/v1/login", "application/json", strings.NewReader(`{"type":"`+typ+`"}`))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func poll(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func devTokens(n string, life int64) *protocol.Tokens {
	return &protocol.Tokens{AccessToken: "dev-at-" + n, TokenType: "Bearer", ExpiresIn: life, RefreshToken: "dev-rt-" + n, RefreshExpiresIn: 3600}
}

func TestPendingTrustedLoginUntrustedDeleted(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs peer credentials")
	}
	var h *harness
	srv := fakebroker.New(t, fakebroker.Handler{
		Register: func(c *fakebroker.Conn, r *protocol.Register) protocol.Message {
			if r.APIKey != testKey || r.ClientType != "server" || r.Hostname == "" || r.OS == "" {
				return &protocol.Error{Code: protocol.CodeBadRequest}
			}
			return &protocol.Registered{EndpointID: c.Hello.ClientID, State: protocol.StatePending}
		},
		Request: func(c *fakebroker.Conn, m protocol.Message) protocol.Message {
			if l, ok := m.(*protocol.Login); ok {
				h.mu.Lock()
				h.logins = append(h.logins, l)
				h.mu.Unlock()
				if l.DeviceToken == "" { // as the broker refuses an endpoint not trusted
					return &protocol.Error{Code: protocol.CodeAccessDenied, Message: "this endpoint is not trusted"}
				}
				return &protocol.Tokens{AccessToken: "user-at", TokenType: "Bearer", ExpiresIn: 3600}
			}
			return &protocol.Error{Code: protocol.CodeBadRequest}
		},
	})
	// sent reports the logins the broker has heard, and the device token of
	// the last one.
	sent := func() (int, string) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.logins) == 0 {
			return 0, ""
		}
		return len(h.logins), h.logins[len(h.logins)-1].DeviceToken
	}
	h = startAgent(t, srv, nil)
	sc, err := srv.NextConn(ctx10(t))
	if err != nil {
		t.Fatal(err)
	}
	st := h.waitState(state.Pending)
	if st.EndpointID != sc.Hello.ClientID || st.LastError != "" {
		t.Errorf("state = %+v", st)
	}
	if code, body := h.login("session_user"); code != 403 || body["error"] != "not_trusted" || !strings.Contains(body["error_description"].(string), "pending") {
		t.Errorf("login while pending: %d %v", code, body)
	}
	// Connected, the agent lets the broker decide (and audit) even so.
	if n, tok := sent(); n != 1 || tok != "" {
		t.Errorf("login while pending: the broker heard %d logins (device token %q), want 1 without a token", n, tok)
	}

	// Trusted is pushed and on disk within a second.
	pushed := time.Now()
	sc.Push(&protocol.Decision{EndpointID: sc.Hello.ClientID, State: protocol.StateTrusted, Tokens: devTokens("1", 900)})
	st = h.waitState(state.Trusted)
	if time.Since(pushed) > time.Second {
		t.Errorf("state written %v after the decision", time.Since(pushed))
	}
	if st.AccessToken != "dev-at-1" || st.RefreshToken != "dev-rt-1" || st.AccessExpiresAt.IsZero() {
		t.Errorf("tokens not stored: %+v", st)
	}

	code, body := h.login("upn")
	if code != 200 || body["access_token"] != "user-at" || body["token_type"] != "Bearer" {
		t.Fatalf("login: %d %v", code, body)
	}
	me, _ := user.Current()
	h.mu.Lock()
	l := h.logins[1]
	h.mu.Unlock()
	if l.APIKey != testKey || l.DeviceToken != "dev-at-1" || l.Type != "upn" || l.Username != me.Username || l.UPN == "" {
		t.Errorf("login frame = %+v", l)
	}

	// Status over the socket: connected, no tokens.
	resp, err := h.client.Get("http://agent/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	var status map[string]any
	json.NewDecoder(resp.Body).Decode(&status)
	resp.Body.Close()
	if status["state"] != "trusted" || status["connected"] != true || status["access_token"] != nil {
		t.Errorf("status = %v", status)
	}

	// Untrusted: tokens dropped, logins refused.
	sc.Push(&protocol.Decision{EndpointID: sc.Hello.ClientID, State: protocol.StateUntrusted})
	st = h.waitState(state.Untrusted)
	if st.AccessToken != "" || st.RefreshToken != "" {
		t.Errorf("tokens kept after untrust: %+v", st)
	}
	if code, body := h.login("session_user"); code != 403 || body["error"] != "not_trusted" || !strings.Contains(body["error_description"].(string), "untrusted") {
		t.Errorf("login while untrusted: %d %v", code, body)
	}
	if n, tok := sent(); n != 3 || tok != "" {
		t.Errorf("login while untrusted: the broker heard %d logins (last device token %q), want 3, the last without a token", n, tok)
	}

	// Deleted: recorded, no new registration, logins say deleted.
	sc.PushAndClose(&protocol.Decision{EndpointID: sc.Hello.ClientID, State: protocol.StateDeleted})
	h.waitState(state.Deleted)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if c, err := srv.NextConn(ctx); err == nil {
		t.Errorf("agent registered again after deletion: %+v", c.Registers())
	}
	if code, body := h.login("session_user"); code != 403 || body["error"] != "endpoint_deleted" {
		t.Errorf("login after delete: %d %v", code, body)
	}

	raw, _ := os.ReadFile(filepath.Join(h.dir, state.StateFile))
	if strings.Contains(string(raw), testKey[len(protocol.KeyPrefix)+14:]) {
		t.Error("API key written to state.json")
	}
}

// TestMalformedKeyIsNotSent: a key that fails its format or checksum is
// never sent to a broker (each try would be one more refusal in its audit);
// status says why, and the agent keeps trying as for a refused key (issue
// 12, point 5).
func TestMalformedKeyIsNotSent(t *testing.T) {
	srv := fakebroker.New(t, fakebroker.Handler{
		Register: func(*fakebroker.Conn, *protocol.Register) protocol.Message {
			return &protocol.Error{Code: protocol.CodeInvalidClient}
		},
	})
	h := startAgent(t, srv, func(c *Config) { c.APIKey = "etk_bogus" })
	var st state.State
	poll(t, func() bool { st = h.state(); return strings.Contains(st.LastError, "malformed") }, "last_error")
	if st.State != state.Unregistered || !st.UnreachableSince.IsZero() || strings.Contains(st.LastError, "etk_bogus") {
		t.Errorf("state = %+v, want unregistered, reachable, the key not shown", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if c, err := srv.NextConn(ctx); err == nil {
		t.Errorf("the agent dialed the broker with a malformed key: %+v", c.Registers())
	}
}

func TestKeyRefusedKeepsRetrying(t *testing.T) {
	srv := fakebroker.New(t, fakebroker.Handler{
		Register: func(*fakebroker.Conn, *protocol.Register) protocol.Message {
			return &protocol.Error{Code: protocol.CodeInvalidClient, Message: "bad key " + testKey}
		},
	})
	h := startAgent(t, srv, nil)
	for i := 0; i < 3; i++ {
		if _, err := srv.NextConn(ctx10(t)); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	var st state.State
	poll(t, func() bool { st = h.state(); return strings.Contains(st.LastError, "invalid_client") }, "last_error")
	if st.State != state.Unregistered {
		t.Errorf("state = %q", st.State)
	}
	if strings.Contains(st.LastError, "s3cr3t") || strings.Contains(st.LastError, "\n") {
		t.Errorf("last_error leaks or spans lines: %q", st.LastError)
	}
	if code, body := h.login("session_user"); code != 503 || body["error"] != "broker_unreachable" {
		if runtime.GOOS == "linux" {
			t.Errorf("login while unregistered: %d %v", code, body)
		}
	}
}

// When the device tokens cannot be refreshed, the agent registers again on
// the connection its key already proved and is trusted again without an
// administrator (SPEC E4, T2): a refresh token refused with invalid_grant (its
// chain revoked after a crash lost the rotated token), one that expired, or a
// device token a login was refused with.
func TestRenewsTokensByRegisteringAgain(t *testing.T) {
	tests := []struct {
		name string
		// refresh answers the agent's REFRESH; nil = never asked.
		refresh func(rt string) protocol.Message
		tokens  *protocol.Tokens // in the first REGISTERED
		login   bool             // trigger by a login refused with invalid_grant
	}{
		{"refresh refused", func(string) protocol.Message { return &protocol.Error{Code: protocol.CodeInvalidGrant} }, devTokens("reg", 1), false},
		{"refresh token expired", nil, &protocol.Tokens{AccessToken: "dev-at-reg", ExpiresIn: 2, RefreshToken: "dev-rt-reg", RefreshExpiresIn: 1}, false},
		{"login device token refused", nil, devTokens("reg", 3600), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			regs := map[*fakebroker.Conn]int{}
			var refreshed []string
			srv := fakebroker.New(t, fakebroker.Handler{
				Register: func(c *fakebroker.Conn, r *protocol.Register) protocol.Message {
					mu.Lock()
					defer mu.Unlock()
					regs[c]++
					tok := tt.tokens
					if regs[c] > 1 {
						tok = devTokens("again", 3600)
					}
					return &protocol.Registered{EndpointID: c.Hello.ClientID, State: protocol.StateTrusted, Tokens: tok}
				},
				Request: func(c *fakebroker.Conn, m protocol.Message) protocol.Message {
					mu.Lock()
					defer mu.Unlock()
					switch m := m.(type) {
					case *protocol.Refresh:
						refreshed = append(refreshed, m.RefreshToken)
						if tt.refresh == nil {
							return &protocol.Error{Code: protocol.CodeBadRequest, Message: "not expected"}
						}
						return tt.refresh(m.RefreshToken)
					case *protocol.Login:
						if m.DeviceToken == "dev-at-reg" {
							return &protocol.Error{Code: protocol.CodeInvalidGrant}
						}
						return &protocol.Tokens{AccessToken: "user-at", TokenType: "Bearer", ExpiresIn: 60}
					}
					return &protocol.Error{Code: protocol.CodeBadRequest}
				},
			})
			h := startAgent(t, srv, nil)
			h.waitState(state.Trusted)
			if tt.login {
				if runtime.GOOS != "linux" {
					t.Skip("needs peer credentials")
				}
				if code, body := h.login("session_user"); code != 503 || body["error"] != "temporarily_unavailable" {
					t.Errorf("login with a refused device token: %d %v", code, body)
				}
			}
			var st state.State
			poll(t, func() bool { st = h.state(); return st.AccessToken == "dev-at-again" }, "tokens of the second registration")
			if st.State != state.Trusted || st.RefreshToken != "dev-rt-again" || st.LastError != "" {
				t.Errorf("state = %+v", st)
			}
			mu.Lock()
			var perConn []int
			for _, n := range regs {
				perConn = append(perConn, n)
			}
			got := append([]string(nil), refreshed...)
			mu.Unlock()
			if diff := cmp.Diff([]int{2}, perConn); diff != "" {
				t.Errorf("REGISTERs per connection (-want +got):\n%s", diff)
			}
			var want []string
			if tt.refresh != nil {
				want = []string{"dev-rt-reg"}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("refresh tokens presented (-want +got):\n%s", diff)
			}
			if tt.login {
				if code, body := h.login("session_user"); code != 200 || body["access_token"] != "user-at" {
					t.Errorf("login after renewal: %d %v", code, body)
				}
			}
		})
	}
}

func TestReconnectAndCachedLogin(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs peer credentials")
	}
	handler := fakebroker.Handler{
		Register: func(c *fakebroker.Conn, r *protocol.Register) protocol.Message {
			return &protocol.Registered{EndpointID: c.Hello.ClientID, State: protocol.StateTrusted, Tokens: devTokens("1", 900)}
		},
		Request: func(c *fakebroker.Conn, m protocol.Message) protocol.Message {
			return &protocol.Tokens{AccessToken: "user-at", TokenType: "Bearer", ExpiresIn: 3600, RefreshToken: "user-rt"}
		},
	}
	srv := fakebroker.New(t, handler)
	h := startAgent(t, srv, nil)
	h.waitState(state.Trusted)
	if code, body := h.login("session_user"); code != 200 {
		t.Fatalf("login: %d %v", code, body)
	}
	srv.Close()

	// Disconnected: the cached user token is handed out (S3c); other
	// login types have none.
	var down state.State
	poll(t, func() bool { down = h.state(); return down.LastError != "" }, "last_error after broker loss")
	// Status says so, and the agent stays trusted (S3c).
	if down.State != state.Trusted || !strings.HasPrefix(down.LastError, "broker unreachable: ") || down.UnreachableSince.IsZero() {
		t.Errorf("state while the broker is down = %+v", down)
	}
	code, body := h.login("session_user")
	if code != 200 || body["access_token"] != "user-at" || body["refresh_token"] != nil {
		t.Errorf("cached login: %d %v", code, body)
	}
	if code, body := h.login("upn"); code != 503 || body["error"] != "broker_unreachable" {
		t.Errorf("uncached login: %d %v", code, body)
	}

	// The broker comes back on the same address: the agent reconnects.
	srv2 := srv.Restart(t)
	if _, err := srv2.NextConn(ctx10(t)); err != nil {
		t.Fatal(err)
	}
	poll(t, func() bool { st := h.state(); return st.LastError == "" && st.UnreachableSince.IsZero() }, "last_error cleared")
}

// S3c: while the broker is unreachable a cached user token is handed out
// only while it keeps a quarter of its life (at most 30 s), never after.
func TestCachedTokenMargin(t *testing.T) {
	tests := []struct {
		name    string
		life    time.Duration
		elapsed time.Duration
		state   string
		want    bool
	}{
		{"fresh", time.Hour, 0, state.Trusted, true},
		{"an hour token with 31s left", time.Hour, time.Hour - 31*time.Second, state.Trusted, true},
		{"an hour token with 29s left", time.Hour, time.Hour - 29*time.Second, state.Trusted, false},
		{"a 20s token with 6s left", 20 * time.Second, 14 * time.Second, state.Trusted, true},
		{"a 20s token with 4s left", 20 * time.Second, 16 * time.Second, state.Trusted, false},
		{"expired", 20 * time.Second, time.Minute, state.Trusted, false},
		{"not trusted any more", time.Hour, 0, state.Untrusted, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(Config{Broker: "127.0.0.1:1", StateDir: t.TempDir(), APIKey: testKey})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			a.now = func() time.Time { return now }
			a.st.State = tt.state
			key := cacheKey{"1000", "session_user"}
			a.cache[key] = cachedToken{tok: protocol.Tokens{AccessToken: "u", RefreshToken: "r"}, expiresAt: now.Add(tt.life), margin: cacheMargin(tt.life)}
			now = now.Add(tt.elapsed)
			tok, err := a.cached(key)
			if !tt.want {
				var le *localapi.Error
				if !errors.As(err, &le) || le.Code != localapi.CodeBrokerUnreachable {
					t.Fatalf("cached = %+v, %v; want broker_unreachable", tok, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("cached: %v", err)
			}
			want := protocol.Tokens{AccessToken: "u", ExpiresIn: int64((tt.life - tt.elapsed) / time.Second)}
			if diff := cmp.Diff(want, *tok); diff != "" {
				t.Errorf("token (-want +got):\n%s", diff)
			}
		})
	}
}

// A corrupt, empty or lost state file stops the agent with a clear error and
// is left as it is: never replaced by a new identity (a new endpoint).
func TestCorruptStateRefusesToStart(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, dir, clientID string)
	}{
		{"garbage identity", func(t *testing.T, dir, _ string) { writeFile(t, dir, state.IdentityFile, "{garbage") }},
		{"empty identity", func(t *testing.T, dir, _ string) { writeFile(t, dir, state.IdentityFile, "") }},
		{"garbage state", func(t *testing.T, dir, _ string) { writeFile(t, dir, state.StateFile, "{garbage") }},
		{"empty state", func(t *testing.T, dir, _ string) { writeFile(t, dir, state.StateFile, "") }},
		{"identity lost", func(t *testing.T, dir, _ string) {
			if err := os.Remove(filepath.Join(dir, state.IdentityFile)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			id, err := state.LoadOrCreateIdentity(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := state.Save(dir, state.State{EndpointID: id.ClientID, State: state.Trusted}); err != nil {
				t.Fatal(err)
			}
			tt.corrupt(t, dir, id.ClientID)
			before := readDir(t, dir)
			a, err := New(Config{Broker: "127.0.0.1:1", StateDir: dir, APIKey: "k", Socket: testSocket(t)})
			if err != nil {
				t.Fatal(err)
			}
			err = a.Run(ctx10(t))
			if !errors.Is(err, state.ErrCorrupt) || !strings.Contains(err.Error(), "move the state directory away") {
				t.Fatalf("Run = %v", err)
			}
			if diff := cmp.Diff(before, readDir(t, dir)); diff != "" {
				t.Errorf("state directory changed (-before +after):\n%s", diff)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(b)
	}
	return m
}

func TestNewValidates(t *testing.T) {
	good := Config{Broker: "b:1", StateDir: "d", APIKey: "k"}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"broker", func(c *Config) { c.Broker = "" }, "agent.New: Config.Broker is empty"},
		{"state dir", func(c *Config) { c.StateDir = "" }, "agent.New: Config.StateDir is empty"},
		{"api key", func(c *Config) { c.APIKey = "" }, "agent.New: Config.APIKey is empty"},
		{"type", func(c *Config) { c.Type = "toaster" }, "unknown client type"},
		{"addr", func(c *Config) { c.Broker = "nohostport" }, "HOST:PORT"},
		{"both pins", func(c *Config) { c.BrokerCA = "x"; c.BrokerFingerprint = "sha256:00" }, "not both"},
		{"bad pin", func(c *Config) { c.BrokerFingerprint = "md5:00" }, "sha256:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mod(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	a, err := New(good)
	if err != nil || a.cfg.Type != DefaultType || a.cfg.MinBackoff != DefaultMinBackoff || a.cfg.MaxBackoff != DefaultMaxBackoff {
		t.Fatalf("defaults: %+v %v", a, err)
	}
}

// last_error (status output) and the logs take describe's text: an error
// that quotes the API key must not carry it there.
func TestDescribeMasksAPIKey(t *testing.T) {
	const key = "etk_pub123_secretvalue"
	a := &Agent{cfg: Config{APIKey: key}}
	errs := []error{
		errors.New("dial: bad key " + key),
		&protocol.Error{Code: protocol.CodeInvalidClient, Message: "unknown key " + key},
	}
	for _, err := range errs {
		got := a.describe(err)
		if strings.Contains(got, "secretvalue") {
			t.Errorf("describe(%v) = %q, contains the key's secret", err, got)
		}
		if !strings.Contains(got, "etk_pub123_****") {
			t.Errorf("describe(%v) = %q, want the masked key", err, got)
		}
	}
}

// A token lifetime too large for a time.Duration must not make the refresh
// timer fire at once, over and over.
func TestHugeTokenLifeDoesNotSpinRefresh(t *testing.T) {
	var mu sync.Mutex
	refreshes := 0
	srv := fakebroker.New(t, fakebroker.Handler{
		Register: func(c *fakebroker.Conn, r *protocol.Register) protocol.Message {
			return &protocol.Registered{EndpointID: c.Hello.ClientID, State: protocol.StateTrusted, Tokens: devTokens("reg", 1<<62)}
		},
		Request: func(c *fakebroker.Conn, m protocol.Message) protocol.Message {
			mu.Lock()
			refreshes++
			mu.Unlock()
			return devTokens("again", 1<<62)
		},
	})
	h := startAgent(t, srv, nil)
	h.waitState(state.Trusted)
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if refreshes != 0 {
		t.Errorf("%d refreshes of a token that expires in 1<<62 s", refreshes)
	}
}

// An agent given several brokers (a cluster sharing one database) moves to
// the next one when its connection is lost, with the same backoff, and
// registers there as the same endpoint; status names the broker it uses
// (issue 14, point 6).
func TestMovesToAnotherBroker(t *testing.T) {
	handler := fakebroker.Handler{
		Register: func(c *fakebroker.Conn, r *protocol.Register) protocol.Message {
			return &protocol.Registered{EndpointID: c.Hello.ClientID, State: protocol.StateTrusted, Tokens: devTokens("1", 900)}
		},
	}
	a := fakebroker.New(t, handler)
	b := a.Sibling(t, handler)
	h := startAgent(t, a, func(c *Config) {
		c.Broker = a.Addr + ", " + b.Addr
		c.BrokerCA, c.BrokerFingerprint = "", a.Fingerprint // one pin for every broker
	})
	ca, err := a.NextConn(ctx10(t))
	if err != nil {
		t.Fatal(err)
	}
	st := h.waitState(state.Trusted)
	if st.Broker != a.Addr {
		t.Errorf("status broker = %q, want %q", st.Broker, a.Addr)
	}
	a.Close()
	cb, err := b.NextConn(ctx10(t))
	if err != nil {
		t.Fatal(err)
	}
	if cb.Hello.ClientID != ca.Hello.ClientID {
		t.Errorf("the second broker saw client %s, want the same endpoint %s", cb.Hello.ClientID, ca.Hello.ClientID)
	}
	poll(t, func() bool {
		st = h.state()
		return st.Broker == b.Addr && st.State == state.Trusted && st.LastError == "" && st.UnreachableSince.IsZero()
	}, "trusted on the second broker")
}

// A broker that answers unavailable (it cannot read fresh state) is treated
// like an unreachable one: the agent keeps its connection, answers logins
// with user tokens it holds (S3c), and a registration answered so keeps
// the endpoint's trust and says "broker unreachable" (issue 14, point 4).
func TestUnavailableIsUnreachable(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs peer credentials")
	}
	var unavailable sync.Map // "login", "register" -> true
	handler := fakebroker.Handler{
		Register: func(c *fakebroker.Conn, r *protocol.Register) protocol.Message {
			if _, ok := unavailable.Load("register"); ok {
				return &protocol.Error{Code: protocol.CodeUnavailable, Message: "the broker cannot read fresh state now"}
			}
			return &protocol.Registered{EndpointID: c.Hello.ClientID, State: protocol.StateTrusted, Tokens: devTokens("1", 900)}
		},
		Request: func(c *fakebroker.Conn, m protocol.Message) protocol.Message {
			if _, ok := unavailable.Load("login"); ok {
				return &protocol.Error{Code: protocol.CodeUnavailable, Message: "the broker cannot read fresh state now"}
			}
			return &protocol.Tokens{AccessToken: "user-at", TokenType: "Bearer", ExpiresIn: 3600, RefreshToken: "user-rt"}
		},
	}
	srv := fakebroker.New(t, handler)
	h := startAgent(t, srv, nil)
	c1, err := srv.NextConn(ctx10(t))
	if err != nil {
		t.Fatal(err)
	}
	h.waitState(state.Trusted)
	if code, body := h.login("session_user"); code != 200 {
		t.Fatalf("login: %d %v", code, body)
	}
	unavailable.Store("login", true)
	if code, body := h.login("session_user"); code != 200 || body["access_token"] != "user-at" || body["refresh_token"] != nil {
		t.Errorf("login answered unavailable: %d %v, want the cached token", code, body)
	}
	if code, body := h.login("upn"); code != 503 || body["error"] != "broker_unreachable" {
		t.Errorf("uncached login answered unavailable: %d %v", code, body)
	}
	if st := h.state(); st.State != state.Trusted || st.LastError != "" {
		t.Errorf("state after logins answered unavailable = %+v", st)
	}
	select {
	case <-c1.QC.Context().Done():
		t.Error("the agent closed its connection on unavailable")
	default:
	}

	// A registration answered unavailable: trust kept, "broker unreachable".
	unavailable.Store("register", true)
	c1.Kill("restart")
	var st state.State
	poll(t, func() bool { st = h.state(); return st.LastError != "" }, "last_error")
	if st.State != state.Trusted || !strings.HasPrefix(st.LastError, "broker unreachable: ") || st.UnreachableSince.IsZero() {
		t.Errorf("state after a registration answered unavailable = %+v", st)
	}
}
