package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"encoding/pem"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/httpapi"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb, func(k string) string { return env[k] })
	return result{code, out.String(), errb.String()}
}

func TestUsage(t *testing.T) {
	env := map[string]string{"EDGETRUST_CONFIG_DIR": t.TempDir()}
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantStdout string // substring; "" = stdout must be empty
		wantStderr string // substring; "" = stderr must be empty
	}{
		{"no args", nil, "", 2, "", "Usage:"},
		{"only globals", []string{"--server", "https://h:1"}, "", 2, "", "Usage:"},
		{"help", []string{"--help"}, "", 0, "Commands:", ""},
		{"help command", []string{"help", "keys", "create"}, "", 0, "--auto-trust", ""},
		{"command help", []string{"endpoints", "approve", "--help"}, "", 0, "Example:", ""},
		{"command help with globals first", []string{"-o", "json", "keys", "list", "-h"}, "", 0, "keys list", ""},
		{"group help", []string{"keys", "--help"}, "", 0, "keys create", ""},
		{"group without command", []string{"endpoints"}, "", 2, "", "endpoints list"},
		{"unknown command", []string{"frobnicate"}, "", 2, "", `unknown command "frobnicate"`},
		{"unknown subcommand", []string{"keys", "burn"}, "", 2, "", `unknown command "keys burn"`},
		{"unknown flag", []string{"keys", "list", "--nope"}, "", 2, "", "unknown flag: --nope"},
		{"flag without value", []string{"keys", "create", "--name"}, "", 2, "", "--name"},
		{"bad output", []string{"-o", "yaml", "accounts", "list"}, "", 2, "", "-o must be table or json"},
		{"missing name", []string{"keys", "create"}, "", 2, "", "needs --name"},
		{"bad key type", []string{"keys", "create", "--name", "k", "--type", "laptop"}, "", 2, "", "--type"},
		{"bad expires", []string{"keys", "create", "--name", "k", "--expires", "tomorrow"}, "", 2, "", "--expires"},
		{"bad allowed ip", []string{"keys", "create", "--name", "k", "--allowed-ip", "10.0.0.0/33"}, "", 2, "", "--allowed-ip"},
		{"second bad allowed ip", []string{"keys", "create", "--name", "k", "--allowed-ip", "::1", "--allowed-ip", "host"}, "", 2, "", `"host"`},
		{"bad state", []string{"endpoints", "list", "--state", "asleep"}, "", 2, "", "--state"},
		{"bad endpoint type", []string{"endpoints", "list", "--type", "toaster"}, "", 2, "", "--type"},
		{"no ids", []string{"endpoints", "approve"}, "", 2, "", "at least one endpoint id"},
		{"stray argument", []string{"keys", "list", "extra"}, "", 2, "", `unexpected argument "extra"`},
		{"login without password-stdin", []string{"login", "--username", "admin"}, "pw\n", 2, "", "--password-stdin"},
		{"login without username", []string{"login", "--password-stdin"}, "pw\n", 2, "", "--username"},
		{"login with empty stdin", []string{"login", "--username", "admin", "--password-stdin"}, "", 2, "", "no password"},
		{"http server", []string{"login", "--username", "admin", "--password-stdin", "--server", "http://127.0.0.1:7443"}, "pw\n", 2, "", "https://"},
		{"not signed in", []string{"endpoints", "list", "-o", "json"}, "", 1, "", `not signed in: run "edgetrustctl login --username admin"`},
		{"not signed in, globals first", []string{"--server", "https://127.0.0.1:1", "--output=json", "keys", "list"}, "", 1, "", "not signed in"},
		{"missing ca file", []string{"login", "--username", "admin", "--password-stdin", "--ca-file", "/nonexistent/ca.pem"}, "pw\n", 1, "", "--ca-file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, env, tc.stdin, tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", r.code, tc.wantCode, r.stderr)
			}
			check := func(name, got, want string) {
				if want == "" && got != "" {
					t.Errorf("%s = %q, want empty", name, got)
				}
				if !strings.Contains(got, want) {
					t.Errorf("%s = %q, want it to hold %q", name, got, want)
				}
			}
			check("stdout", r.stdout, tc.wantStdout)
			check("stderr", r.stderr, tc.wantStderr)
			// An error is one line; usage text (on a bare group or no args) is not an error.
			if tc.wantCode != 0 && strings.HasPrefix(r.stderr, prog+":") && strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", r.stderr)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		args     []string
		wantPath string
		wantRest []string
	}{
		{[]string{"keys", "list"}, "keys list", []string{}},
		{[]string{"--server", "https://h:1", "keys", "list"}, "keys list", []string{"--server", "https://h:1"}},
		{[]string{"keys", "--server", "https://h:1", "list", "-o", "json"}, "keys list", []string{"--server", "https://h:1", "-o", "json"}},
		{[]string{"-o", "json", "endpoints", "approve", "a", "b"}, "endpoints approve", []string{"-o", "json", "a", "b"}},
		{[]string{"-ojson", "--account=x", "accounts", "list"}, "accounts list", []string{"-ojson", "--account=x"}},
		{[]string{"--auto-trust", "keys", "create", "--name", "create"}, "keys create", []string{"--auto-trust", "--name", "create"}},
		{[]string{"login", "--password-stdin", "--username", "u"}, "login", []string{"--password-stdin", "--username", "u"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd, rest, err := resolve(tc.args)
			if err != nil {
				t.Fatalf("resolve: %v", err)
			}
			if cmd.path != tc.wantPath {
				t.Errorf("command %q, want %q", cmd.path, tc.wantPath)
			}
			if diff := cmp.Diff(tc.wantRest, rest, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("rest (-want +got):\n%s", diff)
			}
		})
	}
}

// broker is a real httpapi handler over SQLite behind an httptest TLS server.
type broker struct {
	srv    *httptest.Server
	reg    *registry.Registry
	caFile string
}

const adminPassword = brokertest.AdminPassword

func newBroker(t *testing.T) *broker {
	t.Helper()
	re := brokertest.New(t, brokertest.Options{})
	reg, iss := re.Registry, re.Issuer
	a, err := httpapi.New(httpapi.Config{Registry: reg, JWKS: iss.JWKS()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(a.Handler())
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "broker.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &broker{srv: srv, reg: reg, caFile: ca}
}

func (b *broker) register(t *testing.T, keyValue, hostname string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.reg.Register(context.Background(), registry.RegisterRequest{
		APIKey: keyValue, ClientID: uuid.NewString(), ClientType: "printer", Hostname: hostname,
		KeyType: registry.KeyTypeEd25519, PublicKey: pub, Remote: netip.MustParseAddr("10.9.8.7"),
	})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	return res.Endpoint.ID
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("stdout is not JSON (%v): %q", err, s)
	}
	return v
}

func TestAgainstBroker(t *testing.T) {
	b := newBroker(t)
	cfg := filepath.Join(t.TempDir(), "cfg")
	env := map[string]string{"EDGETRUST_CONFIG_DIR": cfg}
	mustRun := func(t *testing.T, stdin string, args ...string) result {
		t.Helper()
		r := runCLI(t, env, stdin, args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
		return r
	}

	t.Run("login without the CA fails", func(t *testing.T) {
		r := runCLI(t, env, adminPassword+"\n", "login", "--server", b.srv.URL, "--username", "admin", "--password-stdin")
		if r.code != 1 || !strings.Contains(r.stderr, "--ca-file") {
			t.Errorf("exit %d, stderr %q: want 1 and advice about --ca-file", r.code, r.stderr)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		r := runCLI(t, env, "wrong\n", "login", "--server", b.srv.URL, "--ca-file", b.caFile, "--username", "admin", "--password-stdin")
		if r.code != 1 || !strings.Contains(r.stderr, "sign-in failed") {
			t.Errorf("exit %d, stderr %q: want 1 and sign-in failed", r.code, r.stderr)
		}
	})

	r := mustRun(t, adminPassword+"\n", "login", "--server", b.srv.URL, "--ca-file", b.caFile, "--username", "admin", "--password-stdin")
	if !strings.HasPrefix(r.stdout, "signed in as admin (account ") {
		t.Errorf("login said %q", r.stdout)
	}
	t.Run("session file", func(t *testing.T) {
		fi, err := os.Stat(filepath.Join(cfg, "session.json"))
		if err != nil {
			t.Fatal(err)
		}
		di, err := os.Stat(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
			t.Errorf("session %v in dir %v, want 0600 in 0700", fi.Mode().Perm(), di.Mode().Perm())
		}
		data, _ := os.ReadFile(filepath.Join(cfg, "session.json"))
		s := decodeJSON[map[string]any](t, string(data))
		for _, f := range []string{"server", "ca_file", "access_token", "refresh_token", "expires_at", "username", "account_id"} {
			if s[f] == nil || s[f] == "" {
				t.Errorf("session lacks %q: %s", f, data)
			}
		}
		if strings.Contains(string(data), adminPassword) {
			t.Error("the session holds the password")
		}
	})
	t.Run("login json", func(t *testing.T) {
		r := mustRun(t, adminPassword+"\n", "login", "--username", "admin", "--password-stdin", "-o", "json")
		u := decodeJSON[map[string]any](t, r.stdout)
		if u["username"] != "admin" || u["id"] == "" || u["account_id"] == "" || strings.Contains(r.stdout, "token") {
			t.Errorf("login -o json = %s", r.stdout)
		}
	})

	var accounts []api.Account
	t.Run("accounts list", func(t *testing.T) {
		accounts = decodeJSON[[]api.Account](t, mustRun(t, "", "accounts", "list", "-o", "json").stdout)
		if len(accounts) != 2 {
			t.Fatalf("accounts %+v, want root and default", accounts)
		}
		if out := mustRun(t, "", "accounts", "list").stdout; !strings.HasPrefix(out, "ID") || !strings.Contains(out, "default") {
			t.Errorf("accounts table %q", out)
		}
	})
	var def string
	for _, a := range accounts {
		if a.Name == "default" {
			def = a.ID
		}
	}

	exp := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	r = mustRun(t, "", "keys", "create", "--name", "printers", "--type", "embedded", "--auto-trust",
		"--allowed-ip", "10.0.0.0/8", "--allowed-ip", "2001:db8::1", "--expires", exp.Format(time.RFC3339),
		"--account", def, "-o", "json")
	created := decodeJSON[map[string]any](t, r.stdout)
	t.Run("keys create json", func(t *testing.T) {
		want := map[string]any{
			"name": "printers", "type": "embedded", "account_id": def, "active": true, "auto_trust": true,
			"allow_untrusted_endpoints": false, "allow_unauthenticated": false,
			"expires_at": exp.Format(time.RFC3339), "allowed_ips": []any{"10.0.0.0/8", "2001:db8::1"},
		}
		got := map[string]any{}
		for k := range want {
			got[k] = created[k]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("created key (-want +got):\n%s", diff)
		}
		if v, _ := created["value"].(string); !strings.HasPrefix(v, "etk_") {
			t.Errorf("value %q, want etk_...", created["value"])
		}
	})
	keyID, _ := created["id"].(string)
	keyValue, _ := created["value"].(string)

	t.Run("keys create table", func(t *testing.T) {
		r := mustRun(t, "", "--account", def, "keys", "create", "--name", "manual", "--inactive")
		if !strings.Contains(r.stdout, "will not be shown again") || !strings.Contains(r.stdout, "etk_") || !strings.HasPrefix(r.stdout, "ID") {
			t.Errorf("keys create table %q", r.stdout)
		}
	})

	t.Run("keys list", func(t *testing.T) {
		r := mustRun(t, "", "keys", "list", "--account", def, "-o", "json")
		keys := decodeJSON[[]map[string]any](t, r.stdout)
		var names []string
		for _, k := range keys {
			if k["predefined"] == true {
				continue // the default account's predefined keys (SPEC K6)
			}
			names = append(names, k["name"].(string))
			if _, ok := k["value"]; ok {
				t.Errorf("listed key %v has a value", k["name"])
			}
		}
		if diff := cmp.Diff([]string{"printers", "manual"}, names); diff != "" {
			t.Errorf("names (-want +got):\n%s", diff)
		}
		table := mustRun(t, "", "keys", "list", "--account", def).stdout
		if !strings.HasPrefix(table, "ID") || !strings.Contains(table, "AUTO-TRUST") || !strings.Contains(table, "printers") {
			t.Errorf("keys table %q", table)
		}
		// The root account has no keys: [] not null.
		var root string
		for _, a := range accounts {
			if a.ParentID == "" {
				root = a.ID
			}
		}
		if r := mustRun(t, "", "keys", "list", "--account", root, "-o", "json"); strings.TrimSpace(r.stdout) != "[]" {
			t.Errorf("empty keys list = %q, want []", r.stdout)
		}
	})

	e1 := b.register(t, keyValue, "printer-one")
	e2 := b.register(t, keyValue, "printer-two")

	t.Run("endpoints list", func(t *testing.T) {
		r := mustRun(t, "", "endpoints", "list", "--state", "trusted", "--key", keyID, "-o", "json")
		eps := decodeJSON[[]map[string]any](t, r.stdout)
		var got []string
		for _, e := range eps {
			got = append(got, e["id"].(string))
			for _, f := range []string{"state", "type", "hostname", "key_id", "account_id"} {
				if _, ok := e[f]; !ok {
					t.Errorf("endpoint lacks %q", f)
				}
			}
		}
		if diff := cmp.Diff([]string{e1, e2}, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
		r = mustRun(t, "", "-o", "json", "endpoints", "list", "--search", "TWO")
		if eps := decodeJSON[[]api.Endpoint](t, r.stdout); len(eps) != 1 || eps[0].ID != e2 {
			t.Errorf("search TWO = %+v", eps)
		}
		if r := mustRun(t, "", "endpoints", "list", "--state", "pending", "-o", "json"); strings.TrimSpace(r.stdout) != "[]" {
			t.Errorf("no pending endpoints = %q, want []", r.stdout)
		}
		table := mustRun(t, "", "endpoints", "list").stdout
		if !strings.HasPrefix(table, "ID") || !strings.Contains(table, "LAST-SEEN") || !strings.Contains(table, "printer-one") {
			t.Errorf("endpoints table %q", table)
		}
	})

	t.Run("bulk actions", func(t *testing.T) {
		missing := uuid.NewString()
		r := runCLI(t, env, "", "endpoints", "untrust", e1, missing, "-o", "json")
		if r.code != 1 {
			t.Errorf("exit %d, want 1 (one id failed); stderr %q", r.code, r.stderr)
		}
		got := decodeJSON[[]api.EndpointResult](t, r.stdout)
		want := []api.EndpointResult{{ID: e1, OK: true, Outcome: "ok", State: "untrusted"}, {ID: missing, Outcome: "not_found", Error: "not found"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("results (-want +got):\n%s", diff)
		}
		r = mustRun(t, "", "endpoints", "approve", e1, e2)
		if !strings.HasPrefix(r.stdout, "ID") || strings.Count(r.stdout, "trusted") != 2 {
			t.Errorf("approve table %q", r.stdout)
		}
		r = runCLI(t, env, "", "endpoints", "reject", e1)
		if r.code != 1 || !strings.Contains(r.stdout, "cannot reject") {
			t.Errorf("reject trusted: exit %d, stdout %q", r.code, r.stdout)
		}
		r = mustRun(t, "", "endpoints", "delete", e2, "-o", "json")
		if diff := cmp.Diff([]api.EndpointResult{{ID: e2, OK: true, Outcome: "ok", State: "deleted"}}, decodeJSON[[]api.EndpointResult](t, r.stdout)); diff != "" {
			t.Errorf("delete (-want +got):\n%s", diff)
		}
	})

	sessionPath := filepath.Join(cfg, "session.json")
	editSession := func(t *testing.T, edit func(s *session)) session {
		t.Helper()
		data, err := os.ReadFile(sessionPath)
		if err != nil {
			t.Fatal(err)
		}
		s := decodeJSON[session](t, string(data))
		edit(&s)
		data, _ = json.Marshal(s)
		if err := os.WriteFile(sessionPath, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Run("refresh when expired", func(t *testing.T) {
		before := editSession(t, func(s *session) { s.ExpiresAt = time.Now().Add(-time.Minute) })
		mustRun(t, "", "accounts", "list")
		after := editSession(t, func(*session) {})
		if after.RefreshToken == before.RefreshToken || !after.ExpiresAt.After(time.Now()) {
			t.Errorf("tokens not rotated: expires %v", after.ExpiresAt)
		}
	})
	t.Run("refresh on 401", func(t *testing.T) {
		before := editSession(t, func(s *session) { s.AccessToken = "garbage" })
		mustRun(t, "", "accounts", "list")
		after := editSession(t, func(*session) {})
		if after.AccessToken == "garbage" || after.RefreshToken == before.RefreshToken {
			t.Error("tokens not rotated after a 401")
		}
	})
	t.Run("commands refreshing at once keep the session", func(t *testing.T) {
		editSession(t, func(s *session) { s.ExpiresAt = time.Now().Add(-time.Minute) })
		var wg sync.WaitGroup
		codes := make([]result, 6)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = runCLI(t, env, "", "accounts", "list")
			}()
		}
		wg.Wait()
		for i, r := range codes {
			if r.code != 0 {
				t.Errorf("command %d: exit %d, stderr %q", i, r.code, r.stderr)
			}
		}
		// A spent refresh token presented twice would have revoked the chain:
		// the saved session must still refresh.
		editSession(t, func(s *session) { s.ExpiresAt = time.Now().Add(-time.Minute) })
		mustRun(t, "", "accounts", "list")
	})
	t.Run("dead session", func(t *testing.T) {
		editSession(t, func(s *session) { s.AccessToken, s.RefreshToken = "garbage", "etr_garbage" })
		r := runCLI(t, env, "", "accounts", "list")
		if r.code != 1 || !strings.Contains(r.stderr, "login") {
			t.Errorf("exit %d, stderr %q: want 1 and advice to log in", r.code, r.stderr)
		}
	})
	t.Run("other server", func(t *testing.T) {
		r := runCLI(t, env, "", "accounts", "list", "--server", "https://127.0.0.2:9")
		if r.code != 1 || !strings.Contains(r.stderr, "login --server https://127.0.0.2:9") {
			t.Errorf("exit %d, stderr %q: want 1 and advice to log in there", r.code, r.stderr)
		}
	})
}
