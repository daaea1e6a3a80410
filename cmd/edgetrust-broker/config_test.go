package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docs/configuration.md is generated from serve's flags; a flag added
// without regenerating it fails here, saying how.
func TestConfigDocsUpToDate(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"config", "docs"}, &out, &errb, func(string) string { return "" }); code != 0 {
		t.Fatalf("config docs: exit %d, stderr %q", code, errb.String())
	}
	committed, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, out.Bytes()) {
		t.Fatal("docs/configuration.md differs from serve's flags: regenerate it with: go generate ./cmd/edgetrust-broker (and commit it)")
	}
	for _, hidden := range []string{"pprof", "refresh-token-ttl", "`help`", "`config`"} {
		if strings.Contains(out.String(), hidden) {
			t.Errorf("the docs show %s, which is hidden or command-line only", hidden)
		}
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "broker.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// serve --config FILE: a problem of the file is a usage error (exit 2)
// naming the key and its line, that creates nothing; the command line wins
// over the environment, which wins over the file (the error names where the
// refused value came from).
func TestServeConfigFile(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		args   []string
		env    map[string]string
		stderr []string
	}{
		{"unknown key", "listen: 127.0.0.1:0\nlisen: x\n", nil, nil, []string{"line 2: lisen: unknown key"}},
		{"unknown keys all named", "a: 1\nb: 2\n", nil, nil, []string{"line 1: a: unknown key", "line 2: b: unknown key"}},
		{"wrong type", "device-token-ttl: 30\n", nil, nil, []string{`line 1: device-token-ttl: want a duration such as 90s, 15m or 1h30m, got "30"`}},
		{"inline secret", "bootstrap-admin-password: hunter2\n", nil, nil, []string{"line 1: bootstrap-admin-password: a secret is never written in the config file", "bootstrap-admin-password-file"}},
		{"password in the store URL", "store: postgres://u:hunter2@db.example/e\n", nil, nil, []string{"line 1 (store): a password is never written in the config file"}},
		{"list for one value", "listen: [a, b]\n", nil, nil, []string{"line 1: listen: takes one value"}},
		{"value checked like a flag", "listen: nope\n", nil, nil, []string{"line 1 (listen) \"nope\" is not HOST:PORT"}},
		{"environment over file", "listen: nope\n", nil, map[string]string{"EDGETRUST_LISTEN": "env-nope"}, []string{`EDGETRUST_LISTEN "env-nope" is not HOST:PORT`}},
		{"flag over environment", "listen: nope\n", []string{"--listen", "flag-nope"}, map[string]string{"EDGETRUST_LISTEN": "env-nope"}, []string{`--listen "flag-nope" is not HOST:PORT`}},
		{"repeatable flag as a list", "tls-san: [ok.example, \"bad name\"]\n", nil, nil, []string{"line 1 (tls-san) \"bad name\""}},
		{"config from the environment", "lisen: x\n", nil, map[string]string{"EDGETRUST_CONFIG": "FILE"}, []string{"line 1: lisen: unknown key"}},
		{"missing file", "", []string{"--config", "/nonexistent/broker.yaml"}, nil, []string{"config file: open /nonexistent/broker.yaml"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeConfig(t, tc.file)
			dir := filepath.Join(t.TempDir(), "data")
			args := []string{"serve", "--data-dir", dir}
			if tc.env["EDGETRUST_CONFIG"] == "" && !strings.Contains(strings.Join(tc.args, " "), "--config") {
				args = append(args, "--config", cfg)
			}
			args = append(args, tc.args...)
			var out, errb bytes.Buffer
			code := run(context.Background(), args, &out, &errb, func(k string) string {
				if k == "EDGETRUST_CONFIG" && tc.env[k] != "" {
					return cfg
				}
				return tc.env[k]
			})
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, errb.String())
			}
			for _, want := range tc.stderr {
				if !strings.Contains(errb.String(), want) {
					t.Errorf("stderr %q lacks %q", errb.String(), want)
				}
			}
			if strings.Contains(errb.String(), "hunter2") {
				t.Errorf("stderr repeats a secret: %q", errb.String())
			}
			if n := strings.Count(strings.TrimSpace(errb.String()), "\n"); n != 0 {
				t.Errorf("error in %d lines, want one: %q", n+1, errb.String())
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("the rejected config created %s: %v", dir, err)
			}
		})
	}
}

// config example is a valid file: with every key uncommented it checks
// good; config check lists each problem with its line and exits 2.
func TestConfigExampleAndCheck(t *testing.T) {
	getenv := func(string) string { return "" }
	var ex, errb bytes.Buffer
	if code := run(context.Background(), []string{"config", "example"}, &ex, &errb, getenv); code != 0 {
		t.Fatalf("config example: exit %d, %q", code, errb.String())
	}
	for _, want := range []string{"#data-dir: \"/var/lib/edgetrust-broker\"\n", "#listen: \":7443\"\n", "#tls-san: []\n", "environment EDGETRUST_CLUSTER_KEY_FILE", "#bootstrap-admin-password-file: \"\"\n"} {
		if !strings.Contains(ex.String(), want) {
			t.Errorf("example lacks %q", want)
		}
	}
	uncommented := regexp.MustCompile(`(?m)^#([a-z-]+: )`).ReplaceAllString(ex.String(), "$1")
	tests := []struct {
		name   string
		file   string
		code   int
		stdout string
		stderr []string
	}{
		{"example with every key set", uncommented, 0, "good", nil},
		{"example as printed", ex.String(), 0, "good", nil},
		{"problems", "listen: 127.0.0.1:0\nlisen: x\nuser-token-ttl: soon\ncluster-key: abc\n", 2, "", []string{
			"line 2: lisen: unknown key", "line 3: user-token-ttl: want a duration", "line 4: cluster-key: a secret is never written", "3 problem(s)"}},
		{"values checked", "log-level: loud\n", 2, "", []string{`line 1 (log-level) "loud": want debug, info, warn or error`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"config", "check", writeConfig(t, tc.file)}, &out, &errb, getenv)
			if code != tc.code || !strings.Contains(out.String(), tc.stdout) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d", code, out.String(), errb.String(), tc.code)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(errb.String(), want) {
					t.Errorf("stderr %q lacks %q", errb.String(), want)
				}
			}
		})
	}
}

// The admin password comes from a file, never from the config file's
// text; the file and the environment variable together are refused.
func TestBootstrapAdminPasswordFile(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fs, o := newServeFlagSet()
	if err := fs.Parse([]string{"--bootstrap-admin-password-file", pw, "--data-dir", t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	src, err := loadConfig(fs, "", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	s, err := o.check(src, func(string) string { return "" })
	if err != nil || s.adminPassword != "s3cret-pw" {
		t.Fatalf("password %q, err %v", s.adminPassword, err)
	}
	if _, err := o.check(src, func(k string) string { return map[string]string{"EDGETRUST_BOOTSTRAP_ADMIN_PASSWORD": "x"}[k] }); err == nil || !strings.Contains(err.Error(), "keep one") {
		t.Errorf("file and environment together: %v", err)
	}
	o.bootstrapPasswordFile = empty
	if _, err := o.check(src, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty file: %v", err)
	}
}
