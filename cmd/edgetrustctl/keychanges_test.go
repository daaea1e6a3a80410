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
	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
)

func TestKeyChangeCommands(t *testing.T) {
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

	// A device registers again with another key, unsigned.
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
	if ep.KeyFingerprint != kcs[0].KeyFingerprint || ep.State != protocol.StateTrusted {
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
}
