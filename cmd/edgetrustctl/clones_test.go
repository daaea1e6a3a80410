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

// TestCloneCommands: an endpoint whose identity two copies used (SPEC R24)
// shows CLONE-SUSPECTED in endpoints list and show; endpoints clear-clone
// clears it; accounts update --lock-out-clones sets the account's choice.
func TestCloneCommands(t *testing.T) {
	b := newBroker(t)
	cfg := filepath.Join(t.TempDir(), "cfg")
	w := &walk{b: b, env: map[string]string{"EDGETRUST_CONFIG_DIR": cfg, "EDGETRUST_SERVER": b.srv.URL, "EDGETRUST_CA_FILE": b.caFile}}
	login := w.mustRun(t, adminPassword+"\n", "login", "--username", "admin", "--password-stdin", "-o", "json")
	w.rootID = decodeJSON[api.User](t, login.stdout).AccountID
	key := decodeJSON[api.CreatedKey](t, w.mustRun(t, "", "keys", "create", "--name", "auto", "--auto-trust", "-o", "json").stdout)

	// Two copies of one identity, each moving on from the same token.
	ctx := context.Background()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	jkt, err := protocol.Thumbprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	res, err := b.reg.Register(ctx, registry.RegisterRequest{
		APIKey: key.Value, ClientID: id, ClientType: "printer", Hostname: "cloned",
		KeyType: registry.KeyTypeEd25519, PublicKey: pub, Proven: true, Remote: netip.MustParseAddr("10.9.8.7"),
	})
	if err != nil || res.Tokens == nil {
		t.Fatalf("Register: %+v %v", res, err)
	}
	refresh := func(rt string) string {
		t.Helper()
		tp, err := b.reg.Refresh(ctx, rt, jkt, netip.MustParseAddr("10.9.8.7"))
		if err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		return tp.RefreshToken
	}
	a1, b1 := refresh(res.Tokens.RefreshToken), refresh(res.Tokens.RefreshToken)
	refresh(a1)
	refresh(b1)

	table := w.mustRun(t, "", "endpoints", "list").stdout
	if row := strings.Fields(lineWith(table, id)); !strings.Contains(table, "CLONE-SUSPECTED") || len(row) == 0 || !strings.HasPrefix(row[len(row)-1], "20") {
		t.Errorf("endpoints list, want a CLONE-SUSPECTED time in %s's row:\n%s", id, table)
	}
	if show := w.mustRun(t, "", "endpoints", "show", id).stdout; !strings.Contains(lineWith(show, "clone suspected"), "20") {
		t.Errorf("endpoints show, want the clone suspected time:\n%s", show)
	}
	out := w.mustRun(t, "", "endpoints", "clear-clone", id).stdout
	if !strings.Contains(out, "cleared") || !strings.Contains(out, "trusted") {
		t.Errorf("clear-clone said %q", out)
	}
	if ep := decodeJSON[api.Endpoint](t, w.mustRun(t, "", "endpoints", "show", id, "-o", "json").stdout); ep.CloneSuspectedAt != nil || ep.State != "trusted" {
		t.Errorf("after clear-clone: %+v", ep)
	}
	if r := runCLI(t, w.env, "", "endpoints", "clear-clone"); r.code != 2 {
		t.Errorf("clear-clone without an id: exit %d, want 2", r.code)
	}

	acct := decodeJSON[api.Account](t, w.mustRun(t, "", "accounts", "update", w.rootID, "--lock-out-clones", "-o", "json").stdout)
	if !acct.Settings.LockOutClones {
		t.Errorf("--lock-out-clones: settings %+v", acct.Settings)
	}
	if show := w.mustRun(t, "", "accounts", "show", w.rootID).stdout; !strings.Contains(lineWith(show, "LOCK-OUT-CLONES"), "yes") {
		t.Errorf("accounts show, want LOCK-OUT-CLONES yes:\n%s", show)
	}
	acct = decodeJSON[api.Account](t, w.mustRun(t, "", "accounts", "update", w.rootID, "--lock-out-clones=false", "-o", "json").stdout)
	if acct.Settings.LockOutClones {
		t.Errorf("--lock-out-clones=false: settings %+v", acct.Settings)
	}
}
