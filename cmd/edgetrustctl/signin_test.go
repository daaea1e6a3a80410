package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/protocol/api"
)

func TestSigninUsage(t *testing.T) {
	runUsageCases(t, []usageCase{
		{"version", []string{"--version"}, 0, "edgetrustctl dev\n", ""},
		{"version after a command", []string{"keys", "list", "--version"}, 0, "edgetrustctl dev\n", ""},
		{"whoami not signed in", []string{"whoami"}, 1, "", `not signed in: run "edgetrustctl login --username admin"`},
		{"logout not signed in", []string{"logout"}, 0, "not signed in\n", ""},
		{"logout takes no arguments", []string{"logout", "now"}, 2, "", `unexpected argument "now"`},
		{"login without a terminal or --password-stdin", []string{"login", "--username", "admin"}, 2, "", "--password-stdin"},
	})
}

// onTerminal makes standard input a terminal on which the user types
// typed (or fails with err), for the test's duration.
func onTerminal(t *testing.T, typed string, err error) *int {
	t.Helper()
	oldFd, oldRead := terminalFd, readSecret
	t.Cleanup(func() { terminalFd, readSecret = oldFd, oldRead })
	asked := new(int)
	terminalFd = func(io.Reader) (int, bool) { return 7, true }
	readSecret = func(fd int) ([]byte, error) {
		*asked++
		if fd != 7 {
			t.Errorf("read the password from fd %d, not the terminal's", fd)
		}
		return []byte(typed), err
	}
	return asked
}

// On a terminal, login asks for the password without echo (stdin is not
// read as a line); whoami shows the session; logout ends it on the broker
// and forgets it here.
func TestLoginPromptWhoamiLogout(t *testing.T) {
	b := newBroker(t)
	cfg := filepath.Join(t.TempDir(), "cfg")
	env := map[string]string{"EDGETRUST_CONFIG_DIR": cfg, "EDGETRUST_SERVER": b.srv.URL, "EDGETRUST_CA_FILE": b.caFile}

	asked := onTerminal(t, adminPassword, nil)
	r := runCLI(t, env, "", "login", "--username", "admin")
	if r.code != 0 || *asked != 1 || r.stderr != "Password for admin: \n" || !strings.HasPrefix(r.stdout, "signed in as admin") {
		t.Fatalf("login on a terminal: exit %d, asked %d times, stdout %q, stderr %q", r.code, *asked, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, adminPassword) {
		t.Fatal("the password was echoed")
	}
	onTerminal(t, "", errors.New("no tty"))
	if r := runCLI(t, env, "", "login", "--username", "admin"); r.code != 1 || !strings.Contains(r.stderr, "reading the password: no tty") {
		t.Errorf("failed prompt: exit %d, stderr %q", r.code, r.stderr)
	}
	onTerminal(t, "", nil)
	if r := runCLI(t, env, "", "login", "--username", "admin"); r.code != 2 || !strings.Contains(r.stderr, "no password given") {
		t.Errorf("empty password: exit %d, stderr %q", r.code, r.stderr)
	}

	saved, err := (&cli{env: func(k string) string { return env[k] }}).loadSession()
	if err != nil || saved == nil {
		t.Fatalf("no session after login: %v", err)
	}
	t.Run("whoami", func(t *testing.T) {
		r := runCLI(t, env, "", "whoami", "-o", "json")
		if r.code != 0 {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		want := whoami{Server: saved.Server, Username: "admin", UserID: saved.UserID, AccountID: saved.AccountID, ExpiresAt: saved.ExpiresAt.UTC()}
		if d := cmp.Diff(want, decodeJSON[whoami](t, r.stdout)); d != "" || saved.UserID == "" || saved.AccountID == "" {
			t.Errorf("whoami -o json (-want +got):\n%s", d)
		}
		if strings.Contains(r.stdout, "token\"") {
			t.Errorf("whoami shows a token: %s", r.stdout)
		}
		r = runCLI(t, env, "", "whoami")
		for _, s := range []string{"user:", "admin", "account:", saved.AccountID, "server:", saved.Server, "access token:", "expires "} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("whoami table lacks %q: %q", s, r.stdout)
			}
		}
	})

	r = runCLI(t, env, "", "logout")
	if r.code != 0 || r.stdout != "signed out of "+saved.Server+" (admin)\n" {
		t.Fatalf("logout: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(cfg, "session.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the session file is still there: %v", err)
	}
	// The broker ended the session: neither of its tokens works any more.
	if _, err := b.reg.RefreshUser(context.Background(), saved.RefreshToken); err == nil {
		t.Error("the refresh token still works after logout")
	}
	cl := api.New(b.srv.URL, b.srv.Client())
	cl.SetToken(saved.AccessToken)
	if _, err := cl.ListSessions(context.Background(), ""); !api.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("the access token after logout: %v, want 401", err)
	}
	if r := runCLI(t, env, "", "logout"); r.code != 0 || r.stdout != "not signed in\n" {
		t.Errorf("second logout: exit %d, stdout %q", r.code, r.stdout)
	}
}

// logout keeps the saved session when the broker cannot be reached (its
// tokens still work there), and only removes it when the session has
// ended already.
func TestLogoutWhenTheBrokerCannotEndIt(t *testing.T) {
	b := newBroker(t)
	writeSession := func(t *testing.T, s session) (map[string]string, string) {
		cfg := t.TempDir()
		env := map[string]string{"EDGETRUST_CONFIG_DIR": cfg}
		if err := (&cli{env: func(k string) string { return env[k] }}).saveSession(&s); err != nil {
			t.Fatal(err)
		}
		return env, filepath.Join(cfg, "session.json")
	}
	t.Run("broker unreachable", func(t *testing.T) {
		env, path := writeSession(t, session{Server: "https://127.0.0.1:1", CAFile: b.caFile, AccessToken: "a", RefreshToken: "etr_r",
			ExpiresAt: time.Now().Add(time.Hour), Username: "admin"})
		r := runCLI(t, env, "", "logout")
		if r.code != 1 || !strings.Contains(r.stderr, "cannot reach the broker") || !strings.Contains(r.stderr, "is kept") {
			t.Errorf("exit %d, stderr %q; want 1, unreachable, kept", r.code, r.stderr)
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("the session was removed: %v", err)
		}
	})
	t.Run("session ended already", func(t *testing.T) {
		env, path := writeSession(t, session{Server: b.srv.URL, CAFile: b.caFile, AccessToken: "expired", RefreshToken: "etr_spent",
			ExpiresAt: time.Now().Add(-time.Hour), Username: "admin"})
		r := runCLI(t, env, "", "logout")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "signed out of ") {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the session is still there: %v", err)
		}
	})
}
