package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/protocol/api"
)

func TestModelUsage(t *testing.T) {
	env := map[string]string{"EDGETRUST_CONFIG_DIR": t.TempDir()}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"accounts create without name", []string{"accounts", "create"}, 2, "", "needs --name"},
		{"accounts create bad type", []string{"accounts", "create", "--name", "x", "--type", "reseller"}, 2, "", "reseller"},
		{"accounts update nothing", []string{"accounts", "update", "a1"}, 2, "", "nothing to change"},
		{"accounts update bad ttl", []string{"accounts", "update", "a1", "--device-token-ttl", "1.5s"}, 2, "", "whole seconds"},
		{"accounts show two ids", []string{"accounts", "show", "a", "b"}, 2, "", `unexpected argument "b"`},
		{"users create without username", []string{"users", "create"}, 2, "", "--username"},
		{"users create empty password", []string{"users", "create", "--username", "u", "--password-stdin"}, 2, "", "no password"},
		{"users update nothing", []string{"users", "update", "u1"}, 2, "", "nothing to change"},
		{"users update two passwords", []string{"users", "update", "u1", "--password-stdin", "--no-password"}, 2, "", "not both"},
		{"users grant without role", []string{"users", "grant", "u1"}, 2, "", "--role"},
		{"roles create without permission", []string{"roles", "create", "--name", "r"}, 2, "", "--permission"},
		{"roles create bad permission", []string{"roles", "create", "--name", "r", "--permission", "Fly"}, 2, "", `"Fly"`},
		{"keys show without id", []string{"keys", "show"}, 2, "", "key id"},
		{"keys update nothing", []string{"keys", "update", "k1"}, 2, "", "nothing to change"},
		{"keys update expiry twice", []string{"keys", "update", "k1", "--expires", "720h", "--no-expiry"}, 2, "", "not both"},
		{"keys update bad expiry", []string{"keys", "update", "k1", "--expires", "soon"}, 2, "", "--expires"},
		{"keys update ips twice", []string{"keys", "update", "k1", "--allowed-ip", "10.0.0.0/8", "--clear-allowed-ips"}, 2, "", "not both"},
		{"keys update bad ip", []string{"keys", "update", "k1", "--allowed-ip", "10.0.0.0/33"}, 2, "", "--allowed-ip"},
		{"keys update bad bool", []string{"keys", "update", "k1", "--active=maybe"}, 2, "", "--active"},
		{"keys add-value without description", []string{"keys", "add-value", "k1"}, 2, "", "--description"},
		{"keys add-value negative limit", []string{"keys", "add-value", "k1", "--description", "d", "--use-limit", "-1"}, 2, "", "--use-limit"},
		{"keys revoke-value one arg", []string{"keys", "revoke-value", "k1"}, 2, "", "value id"},
		{"edge add without name", []string{"edge", "add"}, 2, "", "--name"},
		{"all and ids", []string{"endpoints", "approve", "--all", "--state", "pending", "e1"}, 2, "", "not both"},
		{"all without state", []string{"endpoints", "delete", "--all"}, 2, "", "--state"},
		{"all bad state", []string{"endpoints", "approve", "--all", "--state", "asleep"}, 2, "", "asleep"},
		{"all bad from", []string{"endpoints", "approve", "--all", "--state", "pending", "--from", "10.0.0.0/99"}, 2, "", "--from"},
		{"filter without all", []string{"endpoints", "approve", "--state", "pending", "e1"}, 2, "", "only with --all"},
		{"audit bad since", []string{"audit", "--since", "monday"}, 2, "", "--since"},
		{"audit bad outcome", []string{"audit", "--outcome", "maybe"}, 2, "", "--outcome"},
		{"help keys regenerate", []string{"keys", "regenerate", "--help"}, 0, "--value", ""},
		{"help audit", []string{"help", "audit"}, 0, "Example:", ""},
		{"help edge", []string{"edge", "--help"}, 0, "edge remove", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, env, "", tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", r.code, tc.wantCode, r.stderr)
			}
			if !strings.Contains(r.stdout, tc.wantStdout) || (tc.wantStdout == "" && r.stdout != "") {
				t.Errorf("stdout %q, want %q", r.stdout, tc.wantStdout)
			}
			if !strings.Contains(r.stderr, tc.wantStderr) || (tc.wantStderr == "" && r.stderr != "") {
				t.Errorf("stderr %q, want %q", r.stderr, tc.wantStderr)
			}
			if tc.wantCode == 2 && strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", r.stderr)
			}
		})
	}
}

// TestFlagKinds keeps every flag name one kind across commands: resolve
// skips flag values using the union of every command's flags, so a name
// that takes a value in one command and not in another would swallow the
// next word.
func TestFlagKinds(t *testing.T) {
	kinds := map[string]string{}
	for _, c := range commands() {
		fs := pflag.NewFlagSet(c.path, pflag.ContinueOnError)
		c.setup(fs)
		fs.VisitAll(func(f *pflag.Flag) {
			kind := "value"
			if f.NoOptDefVal != "" {
				kind = "bool"
			}
			if k, ok := kinds[f.Name]; ok && k != kind {
				t.Errorf("flag --%s is a %s flag in %q and a %s flag elsewhere", f.Name, kind, c.path, k)
			}
			kinds[f.Name] = kind
		})
	}
}

func TestModelAgainstBroker(t *testing.T) {
	b := newBroker(t)
	cfg := filepath.Join(t.TempDir(), "cfg")
	env := map[string]string{"EDGETRUST_CONFIG_DIR": cfg, "EDGETRUST_SERVER": b.srv.URL, "EDGETRUST_CA_FILE": b.caFile}
	mustRun := func(t *testing.T, stdin string, args ...string) result {
		t.Helper()
		r := runCLI(t, env, stdin, args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
		return r
	}
	login := mustRun(t, adminPassword+"\n", "login", "--username", "admin", "--password-stdin", "-o", "json")
	rootID := decodeJSON[api.User](t, login.stdout).AccountID

	// accounts
	acme := decodeJSON[map[string]any](t, mustRun(t, "", "accounts", "create", "--name", "Acme", "--type", "vendor", "-o", "json").stdout)
	acmeID, _ := acme["id"].(string)
	t.Run("accounts create json", func(t *testing.T) {
		if acme["name"] != "Acme" || acme["parent_id"] != rootID || acme["type"] != "vendor" || acmeID == "" {
			t.Errorf("created account %v", acme)
		}
	})
	cust := decodeJSON[api.Account](t, mustRun(t, "", "accounts", "create", "--name", "Shop", "--parent", acmeID, "-o", "json").stdout)
	t.Run("accounts create under --account", func(t *testing.T) {
		sub := decodeJSON[api.Account](t, mustRun(t, "", "--account", acmeID, "accounts", "create", "--name", "Shop2", "-o", "json").stdout)
		if sub.ParentID != acmeID || sub.Type != "customer" {
			t.Errorf("account %+v, want a customer below %s", sub, acmeID)
		}
		list := decodeJSON[[]api.Account](t, mustRun(t, "", "accounts", "list", "--account", acmeID, "-o", "json").stdout)
		var names []string
		for _, a := range list {
			names = append(names, a.Name)
		}
		slices.Sort(names)
		if diff := cmp.Diff([]string{"Acme", "Shop", "Shop2"}, names); diff != "" {
			t.Errorf("accounts below Acme (-want +got):\n%s", diff)
		}
		if out := mustRun(t, "", "accounts", "list").stdout; !strings.Contains(out, "Shop2") || !strings.HasPrefix(out, "ID") {
			t.Errorf("accounts table %q", out)
		}
	})
	t.Run("accounts update keeps other settings", func(t *testing.T) {
		mustRun(t, "", "accounts", "update", cust.ID, "--key-quota", "5")
		got := decodeJSON[api.Account](t, mustRun(t, "", "accounts", "update", cust.ID, "--name", "Shop One",
			"--device-token-ttl", "15m", "--trust-all-endpoints=true", "-o", "json").stdout)
		want := api.AccountSettings{DeviceTokenTTLSeconds: 900, KeyQuota: 5}
		if diff := cmp.Diff(want, got.Settings); diff != "" || got.Name != "Shop One" || !got.TrustAllEndpoints {
			t.Errorf("account %+v; settings (-want +got):\n%s", got, diff)
		}
		show := mustRun(t, "", "accounts", "show", cust.ID).stdout
		if !strings.Contains(show, "15m0s") || !strings.Contains(show, "KEY-QUOTA") {
			t.Errorf("accounts show %q", show)
		}
	})
	t.Run("accounts require endpoint keys and DPoP", func(t *testing.T) {
		strict := decodeJSON[api.Account](t, mustRun(t, "", "accounts", "create", "--name", "Strict", "--parent", acmeID,
			"--require-endpoint-keys", "--require-dpop", "-o", "json").stdout)
		if diff := cmp.Diff(api.AccountSettings{RequireEndpointKeys: true, RequireDPoP: true}, strict.Settings); diff != "" {
			t.Errorf("created settings (-want +got):\n%s", diff)
		}
		got := decodeJSON[api.Account](t, mustRun(t, "", "accounts", "update", cust.ID, "--require-dpop", "-o", "json").stdout)
		want := api.AccountSettings{DeviceTokenTTLSeconds: 900, KeyQuota: 5, RequireDPoP: true}
		if diff := cmp.Diff(want, got.Settings); diff != "" {
			t.Errorf("updated settings (-want +got):\n%s", diff)
		}
		got = decodeJSON[api.Account](t, mustRun(t, "", "accounts", "update", cust.ID, "--require-dpop=false",
			"--require-endpoint-keys", "-o", "json").stdout)
		want = api.AccountSettings{DeviceTokenTTLSeconds: 900, KeyQuota: 5, RequireEndpointKeys: true}
		if diff := cmp.Diff(want, got.Settings); diff != "" {
			t.Errorf("updated settings (-want +got):\n%s", diff)
		}
		if show := mustRun(t, "", "accounts", "show", cust.ID).stdout; !strings.Contains(show, "REQUIRE-ENDPOINT-KEYS") {
			t.Errorf("accounts show %q", show)
		}
	})

	// users and roles
	var bob api.UserDetail
	t.Run("users create", func(t *testing.T) {
		r := mustRun(t, "bob-password-1234\n", "users", "create", "--account", cust.ID, "--username", "bob",
			"--role", "Approver", "--role", "Auditor", "--password-stdin", "-o", "json")
		bob = decodeJSON[api.UserDetail](t, r.stdout)
		var roles []string
		for _, g := range bob.Grants {
			roles = append(roles, g.RoleID+"@"+g.AccountID)
		}
		slices.Sort(roles)
		if diff := cmp.Diff([]string{"role-approver@" + cust.ID, "role-auditor@" + cust.ID}, roles); diff != "" || bob.AccountID != cust.ID {
			t.Errorf("bob %+v; grants (-want +got):\n%s", bob, diff)
		}
		if strings.Contains(r.stdout, "bob-password") {
			t.Error("the password is echoed")
		}
		// bob signs in with his own session.
		benv := map[string]string{"EDGETRUST_CONFIG_DIR": t.TempDir(), "EDGETRUST_SERVER": b.srv.URL, "EDGETRUST_CA_FILE": b.caFile}
		if r := runCLI(t, benv, "bob-password-1234\n", "login", "--username", "bob", "--password-stdin"); r.code != 0 {
			t.Fatalf("bob login: %d %q", r.code, r.stderr)
		}
		if r := runCLI(t, benv, "", "keys", "create", "--name", "x"); r.code != 1 || !strings.Contains(r.stderr, "permission") {
			t.Errorf("bob creating a key: exit %d, stderr %q; want a permission error", r.code, r.stderr)
		}
	})
	t.Run("users list, grant, ungrant, update, delete", func(t *testing.T) {
		users := decodeJSON[[]api.UserDetail](t, mustRun(t, "", "users", "list", "--account", cust.ID, "-o", "json").stdout)
		if len(users) != 1 || users[0].ID != bob.ID {
			t.Fatalf("users of Shop %+v", users)
		}
		g := decodeJSON[api.Grant](t, mustRun(t, "", "users", "grant", bob.ID, "--role", "Administrator", "--account", cust.ID, "-o", "json").stdout)
		if g.RoleID != "role-administrator" || g.AccountID != cust.ID {
			t.Errorf("grant %+v", g)
		}
		mustRun(t, "", "users", "ungrant", bob.ID, "--role", "Administrator", "--account", cust.ID)
		u := decodeJSON[api.UserDetail](t, mustRun(t, "", "users", "update", bob.ID, "--disabled=true", "--email", "bob@example.com", "-o", "json").stdout)
		if !u.Disabled || u.Email != "bob@example.com" || len(u.Grants) != 2 {
			t.Errorf("updated bob %+v", u)
		}
		if out := mustRun(t, "", "users", "show", bob.ID).stdout; !strings.Contains(out, "role-approver") {
			t.Errorf("users show %q", out)
		}
		mustRun(t, "", "users", "delete", bob.ID)
		if r := runCLI(t, env, "", "users", "show", bob.ID); r.code != 1 || !strings.Contains(r.stderr, "not found") {
			t.Errorf("show deleted user: exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("roles", func(t *testing.T) {
		role := decodeJSON[api.Role](t, mustRun(t, "", "--account", cust.ID, "roles", "create", "--name", "Key viewer",
			"--permission", "ViewApiKey", "-o", "json").stdout)
		if role.AccountID != cust.ID || !slices.Equal(role.Permissions, []string{"ViewApiKey"}) {
			t.Errorf("role %+v", role)
		}
		roles := decodeJSON[[]api.Role](t, mustRun(t, "", "roles", "list", "--account", cust.ID, "-o", "json").stdout)
		var names []string
		for _, r := range roles {
			names = append(names, r.Name)
		}
		if diff := cmp.Diff([]string{"Administrator", "Approver", "Auditor", "Key viewer"}, names, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("roles (-want +got):\n%s", diff)
		}
		mustRun(t, "", "roles", "delete", role.ID)
	})

	// keys and values
	key := decodeJSON[api.CreatedKey](t, mustRun(t, "", "keys", "create", "--account", cust.ID, "--name", "fleet", "-o", "json").stdout)
	t.Run("keys show json", func(t *testing.T) {
		r := mustRun(t, "", "keys", "show", key.ID, "-o", "json")
		m := decodeJSON[map[string]any](t, r.stdout)
		values, _ := m["values"].([]any)
		if m["id"] != key.ID || len(values) != 1 {
			t.Fatalf("keys show %s", r.stdout)
		}
		v := values[0].(map[string]any)
		for _, f := range []string{"id", "description", "last_used_at", "use_count"} {
			if _, ok := v[f]; !ok {
				t.Errorf("value lacks %q: %v", f, v)
			}
		}
		if v["id"] != key.ValueID || v["use_count"] != 0.0 || v["last_used_at"] != nil {
			t.Errorf("value %v", v)
		}
		if strings.Contains(r.stdout, key.Value) {
			t.Error("keys show prints the value")
		}
	})
	t.Run("regenerate a single value without --value", func(t *testing.T) {
		cv := decodeJSON[map[string]any](t, mustRun(t, "", "keys", "regenerate", key.ID, "-o", "json").stdout)
		if cv["id"] != key.ID || cv["value_id"] != key.ValueID || !strings.HasPrefix(cv["value"].(string), "etk_") || cv["value"] == key.Value {
			t.Errorf("regenerated %v", cv)
		}
	})
	exp := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	added := decodeJSON[map[string]any](t, mustRun(t, "", "keys", "add-value", key.ID, "--description", "batch 2",
		"--use-limit", "3", "--expires", exp.Format(time.RFC3339), "-o", "json").stdout)
	addedID, _ := added["value_id"].(string)
	t.Run("add-value json", func(t *testing.T) {
		if addedID == "" || !strings.HasPrefix(added["value"].(string), "etk_") {
			t.Errorf("added %v", added)
		}
		k := decodeJSON[api.KeyDetail](t, mustRun(t, "", "keys", "show", key.ID, "-o", "json").stdout)
		if len(k.Values) != 2 || k.Values[1].UseLimit != 3 || k.Values[1].Description != "batch 2" || !k.Values[1].ExpiresAt.Equal(exp) {
			t.Errorf("values %+v", k.Values)
		}
	})
	t.Run("regenerate on a key with several values needs --value", func(t *testing.T) {
		r := runCLI(t, env, "", "keys", "regenerate", key.ID)
		if r.code != 2 || !strings.Contains(r.stderr, key.ValueID) || !strings.Contains(r.stderr, addedID) || !strings.Contains(r.stderr, "--value") {
			t.Errorf("exit %d, stderr %q: want 2 naming both values", r.code, r.stderr)
		}
		cv := decodeJSON[api.CreatedValue](t, mustRun(t, "", "keys", "regenerate", key.ID, "--value", addedID, "-o", "json").stdout)
		if cv.ValueID != addedID || cv.ID != key.ID {
			t.Errorf("regenerated %+v", cv)
		}
		table := mustRun(t, "", "keys", "regenerate", key.ID, "--value", addedID).stdout
		if !strings.Contains(table, "etk_") || !strings.Contains(table, "will not be shown again") {
			t.Errorf("regenerate table %q", table)
		}
	})
	t.Run("update", func(t *testing.T) {
		k := decodeJSON[api.KeyDetail](t, mustRun(t, "", "keys", "update", key.ID, "--active=false", "--auto-trust=true",
			"--allowed-ip", "10.0.0.0/8", "--allowed-ip", "2001:db8::1", "--expires", exp.Format(time.RFC3339), "-o", "json").stdout)
		if k.Active || !k.AutoTrust || !slices.Equal(k.AllowedIPs, []string{"10.0.0.0/8", "2001:db8::1"}) || k.ExpiresAt == nil || !k.ExpiresAt.Equal(exp) {
			t.Errorf("updated key %+v", k.Key)
		}
		k = decodeJSON[api.KeyDetail](t, mustRun(t, "", "keys", "update", key.ID, "--active", "--clear-allowed-ips", "--no-expiry", "-o", "json").stdout)
		if !k.Active || !k.AutoTrust || len(k.AllowedIPs) != 0 || k.ExpiresAt != nil {
			t.Errorf("updated key %+v", k.Key)
		}
		if out := mustRun(t, "", "keys", "update", key.ID, "--auto-trust=false").stdout; !strings.Contains(out, "VALUE-ID") {
			t.Errorf("update table %q", out)
		}
	})
	t.Run("revoke-value", func(t *testing.T) {
		mustRun(t, "", "keys", "revoke-value", key.ID, addedID)
		k := decodeJSON[api.KeyDetail](t, mustRun(t, "", "keys", "show", key.ID, "-o", "json").stdout)
		if !k.Values[1].Revoked || k.Values[0].Revoked {
			t.Errorf("values after revoking %s: %+v", addedID, k.Values)
		}
		// One live value left: regenerate needs no --value again.
		mustRun(t, "", "keys", "regenerate", key.ID)
	})

	// endpoints in bulk
	manual := decodeJSON[api.CreatedKey](t, mustRun(t, "", "keys", "create", "--account", acmeID, "--name", "manual", "-o", "json").stdout)
	e1 := b.register(t, manual.Value, "p1")
	e2 := b.register(t, manual.Value, "p2")
	t.Run("endpoints list by address and last seen", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want int
		}{
			{[]string{"--from", "10.9.0.0/16", "--seen-after", "1h"}, 2},
			{[]string{"--from", "192.168.0.0/16"}, 0},
			{[]string{"--seen-before", "1h"}, 0},
		} {
			eps := decodeJSON[[]api.Endpoint](t, mustRun(t, "", append([]string{"endpoints", "list", "-o", "json"}, tc.args...)...).stdout)
			if len(eps) != tc.want {
				t.Errorf("endpoints list %v: %d endpoints, want %d", tc.args, len(eps), tc.want)
			}
		}
	})
	t.Run("bulk by filter", func(t *testing.T) {
		r := mustRun(t, "", "endpoints", "approve", "--all", "--state", "pending", "--key", manual.ID, "--from", "10.9.0.0/16", "-o", "json")
		got := decodeJSON[[]api.EndpointResult](t, r.stdout)
		want := []api.EndpointResult{{ID: e1, OK: true, Outcome: "ok", State: "trusted"}, {ID: e2, OK: true, Outcome: "ok", State: "trusted"}}
		if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b api.EndpointResult) bool { return a.ID < b.ID })); diff != "" {
			t.Errorf("results (-want +got):\n%s", diff)
		}
		r = mustRun(t, "", "endpoints", "untrust", "--all", "--state", "trusted", "--account", acmeID, "--type", "printer")
		if strings.Count(r.stdout, "untrusted") != 2 {
			t.Errorf("untrust table %q", r.stdout)
		}
		r = mustRun(t, "", "endpoints", "approve", "--all", "--state", "pending", "--key", manual.ID)
		if strings.TrimSpace(r.stdout) != "ID  RESULT  STATE" {
			t.Errorf("nothing matched, table %q", r.stdout)
		}
	})
	t.Run("bulk by ids with a failure", func(t *testing.T) {
		missing := uuid.NewString()
		r := runCLI(t, env, "", "endpoints", "reject", e1, missing, "-o", "json")
		if r.code != 1 || !strings.Contains(r.stderr, "2 of 2") {
			t.Errorf("exit %d, stderr %q: want 1, two failures", r.code, r.stderr)
		}
		got := decodeJSON[[]api.EndpointResult](t, r.stdout)
		if len(got) != 2 || got[0].Outcome != "conflict" || got[1].Outcome != "not_found" {
			t.Errorf("results %+v", got)
		}
		r = mustRun(t, "", "endpoints", "delete", e1, e2)
		if strings.Count(r.stdout, "deleted") != 2 {
			t.Errorf("delete table %q", r.stdout)
		}
	})

	// edge devices
	t.Run("edge add and remove", func(t *testing.T) {
		cv := decodeJSON[api.CreatedValue](t, mustRun(t, "", "edge", "add", "--account", cust.ID, "--name", "bridge", "-o", "json").stdout)
		if cv.ValueID == "" || !strings.HasPrefix(cv.Value, "etk_") {
			t.Fatalf("edge add %+v", cv)
		}
		mustRun(t, "", "edge", "remove", cv.ValueID, "--account", cust.ID)
		k := decodeJSON[api.KeyDetail](t, mustRun(t, "", "keys", "show", cv.ID, "-o", "json").stdout)
		for _, v := range k.Values {
			if v.ID == cv.ValueID && (!v.Revoked || v.EdgeDevice != "bridge") {
				t.Errorf("edge value after removal %+v", v)
			}
		}
	})

	t.Run("keys delete", func(t *testing.T) {
		r := mustRun(t, "", "keys", "delete", key.ID, "-o", "json")
		if m := decodeJSON[map[string]any](t, r.stdout); m["id"] != key.ID || m["deleted"] != true {
			t.Errorf("keys delete json %s", r.stdout)
		}
		if r := runCLI(t, env, "", "keys", "show", key.ID); r.code != 1 {
			t.Errorf("keys show after delete: exit %d", r.code)
		}
	})

	t.Run("audit", func(t *testing.T) {
		since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		r := mustRun(t, "", "audit", "--since", since, "--action", "apikey.", "-o", "json")
		evs := decodeJSON[[]map[string]any](t, r.stdout)
		actions := map[string]bool{}
		for _, e := range evs {
			for _, f := range []string{"time", "actor", "action", "account_id", "target", "outcome"} {
				if _, ok := e[f]; !ok {
					t.Errorf("event lacks %q: %v", f, e)
				}
			}
			a, _ := e["action"].(string)
			if !strings.HasPrefix(a, "apikey.") {
				t.Errorf("action %q outside the filter", a)
			}
			actions[a] = true
		}
		for _, a := range []string{"apikey.create", "apikey.update", "apikey.delete", "apikey.value.add", "apikey.value.regenerate", "apikey.value.revoke"} {
			if !actions[a] {
				t.Errorf("no %s event in %v", a, actions)
			}
		}
		if strings.Contains(r.stdout, key.Value) || strings.Contains(r.stdout, manual.Value) {
			t.Error("the audit shows a key value")
		}
		limited := decodeJSON[[]api.AuditEvent](t, mustRun(t, "", "audit", "--limit", "3", "-o", "json").stdout)
		if len(limited) != 3 {
			t.Errorf("--limit 3 gave %d events", len(limited))
		}
		table := mustRun(t, "", "audit", "--action", "endpoint.approve", "--since", "1h").stdout
		if !strings.HasPrefix(table, "TIME") || strings.Count(table, "endpoint.approve") != 2 {
			t.Errorf("audit table %q", table)
		}
	})
}
