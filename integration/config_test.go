package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Contract: serve --config FILE takes listen and data-dir (and the rest)
// from the file; a file with an unknown key is exit 2 naming it.
func TestServeFromConfigFile(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	pwFile := filepath.Join(dir, "admin-pw")
	if err := os.WriteFile(pwFile, []byte(adminPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "broker.yaml")
	write := func(text string) {
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("# a broker from a file\nlisten: 127.0.0.1:0\ndata-dir: " + dataDir + "\nlog-level: debug\n" +
		"tls-san:\n  - broker.example\nbootstrap-admin-password-file: " + pwFile + "\n")
	b := startBrokerArgs(t, dataDir, nil, "serve", "--config", cfg)
	if !strings.HasPrefix(b.addr, "127.0.0.1:") {
		t.Fatalf("listening on %s, want the file's 127.0.0.1:0", b.addr)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "tls", "broker.crt")); err != nil {
		t.Fatalf("the file's data-dir was not used: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "initial-admin-password")); !os.IsNotExist(err) {
		t.Fatalf("the password from the file's password file was written to disk: %v", err)
	}
	newAdmin(t, b).run("accounts", "list") // signs in with the password from pwFile
	b.stop(t)

	write("listen: 127.0.0.1:0\ndata-dir: " + dataDir + "\nlisten-adress: 127.0.0.1:1\n")
	code, _, errs := exitCode(t, bin("edgetrust-broker"), "serve", "--config", cfg)
	if code != 2 || !strings.Contains(errs, "listen-adress") || !strings.Contains(errs, "line 3") {
		t.Fatalf("unknown key: exit %d, stderr %q; want 2 naming listen-adress and its line", code, errs)
	}
	code, _, errs = exitCode(t, bin("edgetrust-broker"), "config", "check", cfg)
	if code != 2 || !strings.Contains(errs, "line 3: listen-adress: unknown key") {
		t.Fatalf("config check: exit %d, stderr %q", code, errs)
	}

	// The example the binary prints is a file it accepts.
	code, example, errs := exitCode(t, bin("edgetrust-broker"), "config", "example")
	if code != 0 || !strings.Contains(example, "#data-dir: ") {
		t.Fatalf("config example: exit %d, stderr %q", code, errs)
	}
	write(example)
	if code, out, errs := exitCode(t, bin("edgetrust-broker"), "config", "check", cfg); code != 0 || !strings.Contains(out, "good") {
		t.Fatalf("config check of the example: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}
