package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgetrust/edgetrust/protocol/api"
)

func TestSessionsCommands(t *testing.T) {
	b := newBroker(t)
	env := map[string]string{"EDGETRUST_CONFIG_DIR": filepath.Join(t.TempDir(), "cfg")}
	mustRun := func(t *testing.T, args ...string) result {
		t.Helper()
		r := runCLI(t, env, "", args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
		return r
	}
	if r := runCLI(t, env, adminPassword+"\n", "login", "--server", b.srv.URL, "--ca-file", b.caFile, "--username", "admin", "--password-stdin"); r.code != 0 {
		t.Fatalf("login: %q", r.stderr)
	}
	// The admin signs in once more elsewhere.
	other := api.New(b.srv.URL, b.srv.Client())
	tr, err := other.SignIn(context.Background(), api.SignInRequest{Username: "admin", Password: adminPassword})
	if err != nil {
		t.Fatal(err)
	}
	other.SetToken(tr.AccessToken)

	ss := decodeJSON[[]api.Session](t, mustRun(t, "sessions", "list", "-o", "json").stdout)
	if len(ss) != 2 || !ss[0].Current || ss[1].Current {
		t.Fatalf("sessions %+v, want this one (current) and the other", ss)
	}
	if table := mustRun(t, "sessions", "list").stdout; !strings.Contains(table, "CURRENT") || !strings.Contains(table, ss[1].ID) {
		t.Errorf("table:\n%s", table)
	}
	if r := mustRun(t, "sessions", "end", ss[1].ID); !strings.Contains(r.stdout, "ended") {
		t.Errorf("end: %q", r.stdout)
	}
	if _, err := other.ListSessions(context.Background(), ""); !api.IsStatus(err, 401) {
		t.Fatalf("the ended session still works: %v", err)
	}
	r := runCLI(t, env, "", "sessions", "end", ss[1].ID)
	if r.code != 1 || !strings.Contains(r.stderr, "no such session") {
		t.Errorf("ending it again: exit %d, %q", r.code, r.stderr)
	}
	for _, args := range [][]string{
		{"sessions", "end"}, {"sessions", "end", "a", "b"}, {"sessions", "end", "--all", "a"}, {"sessions", "end", "--user", "u", "a"},
		{"sessions", "list", "extra"},
	} {
		if r := runCLI(t, env, "", args...); r.code != 2 {
			t.Errorf("%v: exit %d (%q), want 2", args, r.code, r.stderr)
		}
	}

	// Signing out everywhere ends this session too.
	if ended := decodeJSON[api.SessionsEnded](t, mustRun(t, "sessions", "end", "--all", "-o", "json").stdout); ended.Ended != 1 {
		t.Fatalf("ended %d sessions, want 1", ended.Ended)
	}
	if r := runCLI(t, env, "", "sessions", "list"); r.code != 1 || !strings.Contains(r.stderr, "login") {
		t.Errorf("after signing out everywhere: exit %d, %q", r.code, r.stderr)
	}
}
