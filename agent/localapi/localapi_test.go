package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
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

	"github.com/edgetrust/edgetrust/agent/state"
	"github.com/edgetrust/edgetrust/protocol"
)

// sockDir returns a short directory: socket paths must stay under 108 bytes.
func sockDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "eta")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

type fakeLogin struct {
	mu    sync.Mutex
	users []OSUser
	types []string
	err   error
}

func (f *fakeLogin) login(_ context.Context, u OSUser, typ string) (*protocol.Tokens, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users = append(f.users, u)
	f.types = append(f.types, typ)
	if f.err != nil {
		return nil, f.err
	}
	return &protocol.Tokens{AccessToken: "user-at", TokenType: "Bearer", ExpiresIn: 3600}, nil
}

func start(t *testing.T, cfg Config) (*http.Client, string, context.CancelFunc, chan error) {
	t.Helper()
	if cfg.Socket == "" {
		cfg.Socket = filepath.Join(sockDir(t), "run", "agent.sock")
		if runtime.GOOS == "windows" {
			cfg.Socket = `\\.\pipe\edgetrust-test-` + strconv.FormatInt(time.Now().UnixNano(), 36)
		}
	}
	if cfg.Status == nil {
		cfg.Status = func() state.Status {
			return state.State{State: state.Trusted, AccessToken: "secret-device-token", RefreshToken: "secret-rt"}.Status()
		}
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not stop")
		}
	})
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return Dial(ctx, cfg.Socket)
		}},
	}
	t.Cleanup(client.CloseIdleConnections)
	return client, cfg.Socket, cancel, done
}

func post(t *testing.T, c *http.Client, body string) (int, map[string]any) {
	t.Helper()
	resp, err := c.Post("http://agent/v1/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, m
}

func TestLoginUsesPeerCredentials(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("peer credentials unsupported")
	}
	me, err := user.Current()
	if err != nil {
		t.Skip(err)
	}
	f := &fakeLogin{}
	client, sock, _, _ := start(t, Config{Login: f.login, Hostname: func() (string, error) { return "ws1.corp.example", nil }})

	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode = %o, want 666", fi.Mode().Perm())
	}

	// The body tries to claim another user; it must be ignored.
	code, body := post(t, client, `{"type":"upn","username":"root","uid":"0"}`)
	if code != http.StatusOK {
		t.Fatalf("status %d: %v", code, body)
	}
	if body["access_token"] != "user-at" || body["token_type"] != "Bearer" || body["expires_in"] != float64(3600) || body["username"] != me.Username {
		t.Errorf("body = %v", body)
	}
	want := OSUser{UID: strconv.Itoa(os.Getuid()), Username: me.Username, Domain: "corp.example", UPN: me.Username + "@corp.example"}
	if diff := cmp.Diff([]OSUser{want}, f.users); diff != "" {
		t.Errorf("login user (-want +got):\n%s", diff)
	}

	// Default type.
	if code, body := post(t, client, ``); code != http.StatusOK {
		t.Fatalf("empty body: %d %v", code, body)
	}
	if code, body := post(t, client, `{}`); code != http.StatusOK {
		t.Fatalf("empty object: %d %v", code, body)
	}
	if diff := cmp.Diff([]string{"upn", "session_user", "session_user"}, f.types); diff != "" {
		t.Errorf("types (-want +got):\n%s", diff)
	}
}

func TestLoginErrors(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("peer credentials unsupported")
	}
	tests := []struct {
		name       string
		body       string
		loginErr   error
		lookupErr  error
		wantStatus int
		wantCode   string
	}{
		{"bad type", `{"type":"password"}`, nil, nil, 400, CodeInvalidRequest},
		{"bad json", `{"type":`, nil, nil, 400, CodeInvalidRequest},
		{"unknown uid", `{}`, nil, errors.New("no such user"), 404, CodeUnknownUser},
		{"refused", `{}`, &protocol.Error{Code: protocol.CodeLoginRefused, Message: "admin"}, nil, 403, CodeLoginRefused},
		{"access denied", `{}`, &protocol.Error{Code: protocol.CodeAccessDenied}, nil, 403, CodeAccessDenied},
		{"unknown user at broker", `{}`, &protocol.Error{Code: protocol.CodeUnknownUser}, nil, 404, CodeUnknownUser},
		{"not trusted", `{}`, &Error{Code: CodeNotTrusted, Description: "endpoint is pending"}, nil, 403, CodeNotTrusted},
		{"unreachable", `{}`, &Error{Code: CodeBrokerUnreachable, Description: "x"}, nil, 503, CodeBrokerUnreachable},
		{"timeout", `{}`, context.DeadlineExceeded, nil, 503, CodeBrokerUnreachable},
		{"internal", `{}`, &protocol.Error{Code: protocol.CodeInternal}, nil, 502, CodeBrokerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeLogin{err: tt.loginErr}
			cfg := Config{Login: f.login}
			if tt.lookupErr != nil {
				cfg.LookupUser = func(string) (*user.User, error) { return nil, tt.lookupErr }
			}
			client, _, _, _ := start(t, cfg)
			code, body := post(t, client, tt.body)
			if code != tt.wantStatus || body["error"] != tt.wantCode {
				t.Fatalf("got %d %v, want %d %s", code, body, tt.wantStatus, tt.wantCode)
			}
			if d, _ := body["error_description"].(string); d == "" || strings.Contains(d, "\n") {
				t.Errorf("error_description = %q", d)
			}
		})
	}
}

func TestStatusHasNoTokens(t *testing.T) {
	client, _, _, _ := start(t, Config{Login: (&fakeLogin{}).login})
	resp, err := client.Get("http://agent/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || bytes.Contains(b, []byte("secret")) || !bytes.Contains(b, []byte(`"state":"trusted"`)) {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	resp2, err := client.Get("http://agent/v1/login")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/login = %d", resp2.StatusCode)
	}
}

func TestSocketLifecycle(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix socket files; Windows pipes: TestPipeIdentifiesCallerByImpersonation")
	}
	dir := sockDir(t)
	sock := filepath.Join(dir, "a.sock")

	// A stale socket (no one listening) is replaced.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Lstat(sock); err != nil {
		t.Fatal("stale socket not left behind:", err)
	}
	_, _, cancel, done := start(t, Config{Socket: sock, Login: (&fakeLogin{}).login})

	// A second server refuses to steal a live socket.
	if s2, err := New(Config{Socket: sock, Login: (&fakeLogin{}).login, Status: func() state.Status { return state.Status{} }}); err == nil {
		s2.Close()
		t.Fatal("second server took over a live socket")
	}

	// Cancelling Run stops it and removes the socket.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	done <- nil // for the cleanup
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket still there after Run: %v", err)
	}

	// A regular file in the way is not removed.
	if err := os.WriteFile(sock, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Socket: sock, Login: (&fakeLogin{}).login, Status: func() state.Status { return state.Status{} }}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewRequiredFields(t *testing.T) {
	if _, err := New(Config{Status: func() state.Status { return state.Status{} }}); err == nil || err.Error() != "localapi.New: Config.Login is nil" {
		t.Errorf("err = %v", err)
	}
	if _, err := New(Config{Login: (&fakeLogin{}).login}); err == nil || err.Error() != "localapi.New: Config.Status is nil" {
		t.Errorf("err = %v", err)
	}
}

func TestResolveUser(t *testing.T) {
	tests := []struct {
		name, user, host string
		want             OSUser
	}{
		{"fqdn host", "alice", "ws1.corp.example", OSUser{UID: "1", Username: "alice", Domain: "corp.example", UPN: "alice@corp.example"}},
		{"bare host", "alice", "ws1", OSUser{UID: "1", Username: "alice", Domain: "ws1", UPN: "alice@ws1"}},
		{"no host", "alice", "", OSUser{UID: "1", Username: "alice", UPN: "alice"}},
		{"sssd name", "bob@ad.example", "ws1.corp.example", OSUser{UID: "1", Username: "bob", Domain: "ad.example", UPN: "bob@ad.example"}},
		{"windows name", `CORP\carol`, "ws1", OSUser{UID: "1", Username: "carol", Domain: "CORP", UPN: "carol@CORP"}},
		{"trailing dot", "dave", "ws1.corp.example.", OSUser{UID: "1", Username: "dave", Domain: "corp.example", UPN: "dave@corp.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ResolveUser("1", tt.user, tt.host)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
