package main

import (
	"context"
	"crypto/ed25519"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/registry"
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

	// Key changes: a device registers again with another key, unsigned.
	ctx := context.Background()
	key := decodeJSON[api.CreatedKey](t, mustRun(t, "keys", "create", "--name", "printers", "--auto-trust", "-o", "json").stdout)
	id := uuid.NewString()
	reg := func() {
		t.Helper()
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.reg.Register(ctx, registry.RegisterRequest{APIKey: key.Value, ClientID: id, ClientType: "printer", Hostname: "prn-1",
			KeyType: registry.KeyTypeEd25519, PublicKey: pub, Remote: netip.MustParseAddr("10.9.8.7")}); err != nil {
			t.Fatal(err)
		}
	}
	reg() // trusted at once: the key trusts automatically
	reg() // a key change, pending whatever the key's trust flag (E4)
	kcs := decodeJSON[[]api.KeyChange](t, mustRun(t, "endpoints", "key-changes", "-o", "json").stdout)
	if len(kcs) != 1 || kcs[0].EndpointID != id || kcs[0].KeyFingerprint == kcs[0].OldKeyFingerprint {
		t.Fatalf("key changes %+v", kcs)
	}
	// Approving names the fingerprint seen (issue 10): without it is a
	// usage error, another one fails and changes nothing.
	if r := runCLI(t, env, "", "endpoints", "approve-key-change", id); r.code != 2 || !strings.Contains(r.stderr, "--fingerprint") {
		t.Errorf("approving without --fingerprint: exit %d, %q", r.code, r.stderr)
	}
	if r := runCLI(t, env, "", "endpoints", "approve-key-change", id, "--fingerprint", "ed25519:"+kcs[0].OldKeyFingerprint); r.code != 1 || !strings.Contains(r.stderr, "another fingerprint") {
		t.Errorf("approving another fingerprint: exit %d, %q", r.code, r.stderr)
	}
	table := mustRun(t, "endpoints", "key-changes").stdout
	if !strings.Contains(table, "ed25519:"+kcs[0].KeyFingerprint) || !strings.Contains(table, "REQUESTED-HOSTNAME") {
		t.Errorf("key changes table %q", table)
	}
	ep := decodeJSON[api.Endpoint](t, mustRun(t, "endpoints", "approve-key-change", id, "--fingerprint", "ed25519:"+kcs[0].KeyFingerprint, "-o", "json").stdout)
	if ep.KeyFingerprint != kcs[0].KeyFingerprint || ep.State != api.StateTrusted {
		t.Fatalf("after approval: %+v", ep)
	}
	if got := decodeJSON[[]api.KeyChange](t, mustRun(t, "endpoints", "key-changes", "-o", "json").stdout); len(got) != 0 {
		t.Fatalf("key changes left: %+v", got)
	}
	reg()
	if r := mustRun(t, "endpoints", "reject-key-change", id); !strings.Contains(r.stdout, "rejected") || !strings.Contains(r.stdout, kcs[0].KeyFingerprint) {
		t.Errorf("reject: %q", r.stdout)
	}
	if r := runCLI(t, env, "", "endpoints", "approve-key-change", id, "--fingerprint", kcs[0].KeyFingerprint); r.code != 1 {
		t.Errorf("approving a change that is gone: exit %d", r.code)
	}

	// Signing out everywhere ends this session too.
	if ended := decodeJSON[api.SessionsEnded](t, mustRun(t, "sessions", "end", "--all", "-o", "json").stdout); ended.Ended != 1 {
		t.Fatalf("ended %d sessions, want 1", ended.Ended)
	}
	if r := runCLI(t, env, "", "sessions", "list"); r.code != 1 || !strings.Contains(r.stderr, "login") {
		t.Errorf("after signing out everywhere: exit %d, %q", r.code, r.stderr)
	}
}
