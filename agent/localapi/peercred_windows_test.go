//go:build windows

package localapi

import (
	"bufio"
	"context"
	"net/http"
	"os/user"
	"strings"
	"testing"
	"time"

	"github.com/Microsoft/go-winio"

	"github.com/edgetrust/edgetrust/agent/state"
)

// On Windows the caller is identified by impersonating the pipe's client:
// the login names the user Windows reports, whatever the body claims, and a
// client that connects anonymously (so cannot be identified) is refused.
func TestPipeIdentifiesCallerByImpersonation(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Skip(err)
	}
	f := &fakeLogin{}
	client, pipe, _, _ := start(t, Config{Login: f.login, Hostname: func() (string, error) { return "ws1", nil }})

	code, body := post(t, client, `{"type":"session_user","uid":"S-1-5-18","username":"Administrator"}`)
	if code != http.StatusOK {
		t.Fatalf("login: %d %v", code, body)
	}
	f.mu.Lock()
	got := f.users[0]
	f.mu.Unlock()
	if got.UID != me.Uid {
		t.Errorf("login uid %q, want the caller's SID %q", got.UID, me.Uid)
	}
	if want := ResolveUser(me.Uid, me.Username, "ws1"); got != want {
		t.Errorf("login user %+v, want %+v", got, want)
	}

	// An anonymous client: no identity to read.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := winio.DialPipeAccessImpLevel(ctx, pipe, uint32(clientAccess), winio.PipeImpLevelAnonymous)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req, _ := http.NewRequest(http.MethodPost, "http://agent/v1/login", strings.NewReader(`{}`))
	if err := req.Write(c); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous client: status %d, want 403", resp.StatusCode)
	}

	// A second agent cannot take the same pipe name.
	if _, err := New(Config{Socket: pipe, Login: f.login, Status: func() state.Status { return state.Status{} }}); err == nil {
		t.Error("a second server listened on the same pipe")
	}
}
