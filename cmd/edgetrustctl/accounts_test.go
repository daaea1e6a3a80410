package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/protocol/api"
)

func TestAccountsUsage(t *testing.T) {
	runUsageCases(t, []usageCase{
		{"accounts create without name", []string{"accounts", "create"}, 2, "", "needs --name"},
		{"accounts create bad type", []string{"accounts", "create", "--name", "x", "--type", "reseller"}, 2, "", "reseller"},
		{"accounts update nothing", []string{"accounts", "update", "a1"}, 2, "", "nothing to change"},
		{"accounts update bad ttl", []string{"accounts", "update", "a1", "--device-token-ttl", "1.5s"}, 2, "", "whole seconds"},
		{"accounts show two ids", []string{"accounts", "show", "a", "b"}, 2, "", `unexpected argument "b"`},
	})
}

// lineWith returns the first line of out that contains s, or "".
func lineWith(out, s string) string {
	for l := range strings.Lines(out) {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// walkAccounts creates Acme (a vendor) and Shop (w.cust) below it, and updates Shop.
func walkAccounts(t *testing.T, w *walk) {
	acme := decodeJSON[map[string]any](t, w.mustRun(t, "", "accounts", "create", "--name", "Acme", "--type", "vendor", "-o", "json").stdout)
	w.acmeID, _ = acme["id"].(string)
	t.Run("accounts create json", func(t *testing.T) {
		if acme["name"] != "Acme" || acme["parent_id"] != w.rootID || acme["type"] != "vendor" || w.acmeID == "" {
			t.Errorf("created account %v", acme)
		}
	})
	w.cust = decodeJSON[api.Account](t, w.mustRun(t, "", "accounts", "create", "--name", "Shop", "--parent", w.acmeID, "-o", "json").stdout)
	t.Run("accounts create under --account", func(t *testing.T) {
		sub := decodeJSON[api.Account](t, w.mustRun(t, "", "--account", w.acmeID, "accounts", "create", "--name", "Shop2", "-o", "json").stdout)
		if sub.ParentID != w.acmeID || sub.Type != "customer" {
			t.Errorf("account %+v, want a customer below %s", sub, w.acmeID)
		}
		list := decodeJSON[[]api.Account](t, w.mustRun(t, "", "accounts", "list", "--account", w.acmeID, "-o", "json").stdout)
		var names []string
		for _, a := range list {
			names = append(names, a.Name)
		}
		slices.Sort(names)
		if diff := cmp.Diff([]string{"Acme", "Shop", "Shop2"}, names); diff != "" {
			t.Errorf("accounts below Acme (-want +got):\n%s", diff)
		}
		if out := w.mustRun(t, "", "accounts", "list").stdout; !strings.Contains(out, "Shop2") || !strings.HasPrefix(out, "ID") {
			t.Errorf("accounts table %q", out)
		}
	})
	t.Run("accounts list shows the parent by name", func(t *testing.T) {
		out := w.mustRun(t, "", "accounts", "list").stdout
		if row := strings.Fields(lineWith(out, "Shop2")); len(row) != 5 || row[3] != "Acme" {
			t.Errorf("Shop2's row %q, want its parent Acme by name in:\n%s", row, out)
		}
		show := w.mustRun(t, "", "accounts", "show", w.cust.ID).stdout
		if !strings.Contains(show, "Acme ("+w.acmeID+")") {
			t.Errorf("accounts show, want PARENT Acme (%s):\n%s", w.acmeID, show)
		}
	})
	t.Run("accounts create refuses a sibling's name", func(t *testing.T) {
		r := runCLI(t, w.env, "", "accounts", "create", "--name", "SHOP2", "--parent", w.acmeID)
		if r.code != 1 || !strings.Contains(r.stderr, `an account named "Shop2" already exists under "Acme"`) {
			t.Errorf("second Shop2: exit %d, stderr %q; want 1 and a name conflict", r.code, r.stderr)
		}
	})
	t.Run("accounts update keeps other settings", func(t *testing.T) {
		w.mustRun(t, "", "accounts", "update", w.cust.ID, "--key-quota", "5")
		got := decodeJSON[api.Account](t, w.mustRun(t, "", "accounts", "update", w.cust.ID, "--name", "Shop One",
			"--device-token-ttl", "15m", "--trust-all-endpoints=true", "-o", "json").stdout)
		want := api.AccountSettings{DeviceTokenTTLSeconds: 900, KeyQuota: 5}
		if diff := cmp.Diff(want, got.Settings); diff != "" || got.Name != "Shop One" || !got.TrustAllEndpoints {
			t.Errorf("account %+v; settings (-want +got):\n%s", got, diff)
		}
		show := w.mustRun(t, "", "accounts", "show", w.cust.ID).stdout
		if !strings.Contains(show, "15m0s") || !strings.Contains(show, "KEY-QUOTA") {
			t.Errorf("accounts show %q", show)
		}
	})
	t.Run("accounts require endpoint keys and DPoP", func(t *testing.T) {
		strict := decodeJSON[api.Account](t, w.mustRun(t, "", "accounts", "create", "--name", "Strict", "--parent", w.acmeID,
			"--require-endpoint-keys", "--require-dpop", "-o", "json").stdout)
		if diff := cmp.Diff(api.AccountSettings{RequireEndpointKeys: true, RequireDPoP: true}, strict.Settings); diff != "" {
			t.Errorf("created settings (-want +got):\n%s", diff)
		}
		got := decodeJSON[api.Account](t, w.mustRun(t, "", "accounts", "update", w.cust.ID, "--require-dpop", "-o", "json").stdout)
		want := api.AccountSettings{DeviceTokenTTLSeconds: 900, KeyQuota: 5, RequireDPoP: true}
		if diff := cmp.Diff(want, got.Settings); diff != "" {
			t.Errorf("updated settings (-want +got):\n%s", diff)
		}
		got = decodeJSON[api.Account](t, w.mustRun(t, "", "accounts", "update", w.cust.ID, "--require-dpop=false",
			"--require-endpoint-keys", "-o", "json").stdout)
		want = api.AccountSettings{DeviceTokenTTLSeconds: 900, KeyQuota: 5, RequireEndpointKeys: true}
		if diff := cmp.Diff(want, got.Settings); diff != "" {
			t.Errorf("updated settings (-want +got):\n%s", diff)
		}
		if show := w.mustRun(t, "", "accounts", "show", w.cust.ID).stdout; !strings.Contains(show, "REQUIRE-ENDPOINT-KEYS") {
			t.Errorf("accounts show %q", show)
		}
	})
}
