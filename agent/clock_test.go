package agent

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/agent/localapi"
	"github.com/edgetrust/edgetrust/agent/state"
	"github.com/edgetrust/edgetrust/internal/fakebroker"
	"github.com/edgetrust/edgetrust/protocol"
)

// startAgentAt is startAgent with the agent's clock reading now().
func startAgentAt(t *testing.T, srv *fakebroker.Server, now func() time.Time) *harness {
	t.Helper()
	h := &harness{t: t, dir: filepath.Join(t.TempDir(), "state"), sock: testSocket(t), done: make(chan error, 1)}
	a, err := New(Config{
		Broker: srv.Addr, StateDir: h.dir, APIKey: testKey, Type: "server", BrokerCA: srv.CAFile,
		Socket: h.sock, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	a.now = now
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- a.Run(ctx) }()
	t.Cleanup(func() { h.stop() })
	h.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return localapi.Dial(ctx, h.sock) }}}
	t.Cleanup(h.client.CloseIdleConnections)
	return h
}

// TestAgentClockSkewChangesNothing (SPEC R9): an agent whose clock is a
// day off either way registers, refreshes its device token at half its
// life, logs users in and, with the broker gone, hands out the cached user
// token exactly as one whose clock is right. The agent never compares its
// clock with a time the broker wrote: lifetimes arrive as durations
// (expires_in), refreshes are scheduled on timers, and nothing of its
// clock goes on the wire.
func TestAgentClockSkewChangesNothing(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs peer credentials")
	}
	for _, skew := range []time.Duration{-24 * time.Hour, 0, 24 * time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			var mu sync.Mutex
			var refreshed []string
			srv := fakebroker.New(t, fakebroker.Handler{
				Register: func(c *fakebroker.Conn, r *protocol.Register) protocol.Message {
					return &protocol.Registered{EndpointID: c.Hello.ClientID, State: protocol.StateTrusted, Tokens: devTokens("reg", 2)}
				},
				Request: func(c *fakebroker.Conn, m protocol.Message) protocol.Message {
					switch m := m.(type) {
					case *protocol.Refresh:
						mu.Lock()
						refreshed = append(refreshed, m.RefreshToken)
						mu.Unlock()
						return devTokens("refreshed", 3600)
					case *protocol.Login:
						if m.DeviceToken != "dev-at-refreshed" {
							return &protocol.Error{Code: protocol.CodeAccessDenied, Message: "stale device token"}
						}
						return &protocol.Tokens{AccessToken: "user-at", TokenType: "Bearer", ExpiresIn: 3600, RefreshToken: "user-rt"}
					}
					return &protocol.Error{Code: protocol.CodeBadRequest}
				},
			})
			h := startAgentAt(t, srv, func() time.Time { return time.Now().Add(skew) })
			h.waitState(state.Trusted)
			poll(t, func() bool { return h.state().AccessToken == "dev-at-refreshed" }, "the refresh at half the token's life")
			mu.Lock()
			got := append([]string(nil), refreshed...)
			mu.Unlock()
			if d := cmp.Diff([]string{"dev-rt-reg"}, got); d != "" {
				t.Errorf("refresh tokens presented (-want +got):\n%s", d)
			}
			if code, body := h.login("session_user"); code != 200 || body["access_token"] != "user-at" {
				t.Fatalf("login: %d %v", code, body)
			}
			srv.Close()
			poll(t, func() bool { return h.state().LastError != "" }, "the broker's loss noticed")
			code, body := h.login("session_user")
			if code != 200 || body["access_token"] != "user-at" {
				t.Errorf("cached login with the broker gone: %d %v", code, body)
			}
			if st := h.state(); st.State != state.Trusted {
				t.Errorf("state %s, want trusted", st.State)
			}
		})
	}
}
