package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/protocol/api"
)

func TestKeysUsage(t *testing.T) {
	runUsageCases(t, []usageCase{
		{"keys show without id", []string{"keys", "show"}, 2, "", "key id"},
		{"keys update nothing", []string{"keys", "update", "k1"}, 2, "", "nothing to change"},
		{"keys update expiry twice", []string{"keys", "update", "k1", "--expires", "720h", "--no-expiry"}, 2, "", "not both"},
		{"keys update bad expiry", []string{"keys", "update", "k1", "--expires", "soon"}, 2, "", "--expires"},
		{"keys update ips twice", []string{"keys", "update", "k1", "--allowed-ip", "10.0.0.0/8", "--clear-allowed-ips"}, 2, "", "not both"},
		{"keys update bad ip", []string{"keys", "update", "k1", "--allowed-ip", "10.0.0.0/33"}, 2, "", "--allowed-ip"},
		{"keys update bad bool", []string{"keys", "update", "k1", "--active=maybe"}, 2, "", "--active"},
	})
}

// walkKeysCreate creates the fleet key (w.key) in Shop and shows it.
func walkKeysCreate(t *testing.T, w *walk) {
	w.key = decodeJSON[api.CreatedKey](t, w.mustRun(t, "", "keys", "create", "--account", w.cust.ID, "--name", "fleet", "-o", "json").stdout)
	t.Run("keys show json", func(t *testing.T) {
		r := w.mustRun(t, "", "keys", "show", w.key.ID, "-o", "json")
		m := decodeJSON[map[string]any](t, r.stdout)
		values, _ := m["values"].([]any)
		if m["id"] != w.key.ID || len(values) != 1 {
			t.Fatalf("keys show %s", r.stdout)
		}
		v := values[0].(map[string]any)
		for _, f := range []string{"id", "description", "last_used_at", "use_count"} {
			if _, ok := v[f]; !ok {
				t.Errorf("value lacks %q: %v", f, v)
			}
		}
		if v["id"] != w.key.ValueID || v["use_count"] != 0.0 || v["last_used_at"] != nil {
			t.Errorf("value %v", v)
		}
		if strings.Contains(r.stdout, w.key.Value) {
			t.Error("keys show prints the value")
		}
	})
	t.Run("keys list without --account lists every account", func(t *testing.T) {
		keys := decodeJSON[[]api.Key](t, w.mustRun(t, "", "keys", "list", "-o", "json").stdout)
		accounts := map[string]bool{}
		for _, k := range keys {
			accounts[k.AccountName] = true
		}
		if !accounts["Shop One"] || !accounts["default"] || !accounts["Shop2"] {
			t.Errorf("keys list without --account covers accounts %v; want Shop One, Shop2 and default among them", accounts)
		}
		out := w.mustRun(t, "", "keys", "list").stdout
		if !strings.Contains(lineWith(out, "fleet"), "Shop One") {
			t.Errorf("keys table, want the fleet key's account by name:\n%s", out)
		}
		narrowed := decodeJSON[[]api.Key](t, w.mustRun(t, "", "keys", "list", "--account", w.cust.ID, "-o", "json").stdout)
		for _, k := range narrowed {
			if k.AccountID != w.cust.ID {
				t.Errorf("keys list --account %s lists %+v", w.cust.ID, k)
			}
		}
	})
}

// walkKeysUpdate changes the fleet key's settings and sets them back.
func walkKeysUpdate(t *testing.T, w *walk) {
	t.Run("update", func(t *testing.T) {
		k := decodeJSON[api.KeyDetail](t, w.mustRun(t, "", "keys", "update", w.key.ID, "--active=false", "--auto-trust=true",
			"--allowed-ip", "10.0.0.0/8", "--allowed-ip", "2001:db8::1", "--expires", w.exp.Format(time.RFC3339), "-o", "json").stdout)
		if k.Active || !k.AutoTrust || !slices.Equal(k.AllowedIPs, []string{"10.0.0.0/8", "2001:db8::1"}) || k.ExpiresAt == nil || !k.ExpiresAt.Equal(w.exp) {
			t.Errorf("updated key %+v", k.Key)
		}
		// keys show prints every setting, not only in -o json.
		show := w.mustRun(t, "", "keys", "show", w.key.ID).stdout
		for field, want := range map[string]string{
			"ALLOWED-IPS": "10.0.0.0/8, 2001:db8::1", "ACTIVE": "no", "AUTO-TRUST": "yes", "FULL-API-ACCESS": "no",
			"ALLOW-UNAUTHENTICATED": "no", "ALLOW-UNTRUSTED-ENDPOINTS": "no", "EXPIRES": w.exp.UTC().Format(time.RFC3339),
			"ACCOUNT": "Shop One (" + w.cust.ID + ")", "CREATED-BY": "admin (user:", "RUN-AS-USER": "-",
		} {
			if l := lineWith(show, field+" "); !strings.Contains(l, want) {
				t.Errorf("keys show: %s line %q, want %q in:\n%s", field, l, want, show)
			}
		}
		k = decodeJSON[api.KeyDetail](t, w.mustRun(t, "", "keys", "update", w.key.ID, "--active", "--clear-allowed-ips", "--no-expiry", "-o", "json").stdout)
		if !k.Active || !k.AutoTrust || len(k.AllowedIPs) != 0 || k.ExpiresAt != nil {
			t.Errorf("updated key %+v", k.Key)
		}
		if out := w.mustRun(t, "", "keys", "update", w.key.ID, "--auto-trust=false").stdout; !strings.Contains(out, "VALUE-ID") {
			t.Errorf("update table %q", out)
		}
	})
}

// walkKeysDelete deletes the fleet key.
func walkKeysDelete(t *testing.T, w *walk) {
	t.Run("keys delete", func(t *testing.T) {
		r := w.mustRun(t, "", "keys", "delete", w.key.ID, "-o", "json")
		if m := decodeJSON[map[string]any](t, r.stdout); m["id"] != w.key.ID || m["deleted"] != true {
			t.Errorf("keys delete json %s", r.stdout)
		}
		if r := runCLI(t, w.env, "", "keys", "show", w.key.ID); r.code != 1 {
			t.Errorf("keys show after delete: exit %d", r.code)
		}
	})

}
