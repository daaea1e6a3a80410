package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/agent/config"
	"github.com/edgetrust/edgetrust/agent/daemon"
	"github.com/edgetrust/edgetrust/agent/state"
	"github.com/edgetrust/edgetrust/internal/fakebroker"
	"github.com/edgetrust/edgetrust/packaging"
	"github.com/edgetrust/edgetrust/protocol"
)

// testKey and otherKey are well-formed values (the agent checks form and
// checksum before it dials); testSecret is the secret part of testKey.
var (
	testKey    = wellFormedKey("pub1", "topsecret")
	otherKey   = wellFormedKey("pub2", "other")
	testSecret = testKey[len(protocol.KeyPrefix)+14:]
)

// wellFormedKey makes a key value from a public id and secret seed.
func wellFormedKey(id, secret string) string {
	v, err := protocol.FormatKey(protocol.EncodeKeyID([]byte(fmt.Sprintf("%-8s", id))), []byte(fmt.Sprintf("%-33s", secret)))
	if err != nil {
		panic(err)
	}
	return v
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func noEnv(string) string { return "" }

func runCmd(t *testing.T, getenv func(string) string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := run(ctx, args, &out, &errb, getenv)
	return code, out.String(), errb.String()
}

func TestUsage(t *testing.T) {
	dir := t.TempDir()
	emptyFile := filepath.Join(dir, "empty")
	if err := os.WriteFile(emptyFile, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string // in stderr
		wantOut  string // in stdout
	}{
		{"no command", nil, 2, "missing command", ""},
		{"unknown command", []string{"fly"}, 2, `unknown command "fly"`, ""},
		{"help", []string{"--help"}, 0, "", "Commands:"},
		{"help command", []string{"help"}, 0, "", "Commands:"},
		{"run help", []string{"run", "--help"}, 0, "", "registers this device"},
		{"status help before", []string{"-h", "status"}, 0, "", "does not contact"},
		{"login help", []string{"login", "-h"}, 0, "", "peer credentials"},
		{"run without broker", []string{"run", "--api-key", "k", "--config-dir", dir}, 2, "missing --broker", ""},
		{"run missing config", []string{"run", "--config", filepath.Join(dir, "none.conf")}, 1, "no configuration at", ""},
		{"install help", []string{"install", "--help"}, 0, "", "--api-key-file"},
		{"help lists service commands", []string{"--help"}, 0, "", "uninstall"},
		{"install without broker", []string{"install", "--api-key", "k"}, 2, "missing --broker", ""},
		{"install bad broker", []string{"install", "--broker", "nohost", "--api-key", "k"}, 2, "not HOST:PORT", ""},
		{"install without key", []string{"install", "--broker", "b:1"}, 2, "--api-key-file", ""},
		{"install two key sources", []string{"install", "--broker", "b:1", "--api-key", "k", "--api-key-file", "f"}, 2, "not both", ""},
		{"install empty key file", []string{"install", "--broker", "b:1", "--api-key-file", emptyFile}, 1, "API key alone", ""},
		{"install missing key file", []string{"install", "--broker", "b:1", "--api-key-file", filepath.Join(dir, "nokey")}, 1, "reading --api-key-file", ""},
		{"install both pins", []string{"install", "--broker", "b:1", "--api-key", "k", "--broker-ca", "x", "--broker-fingerprint", "sha256:00"}, 2, "not both", ""},
		{"install bad type", []string{"install", "--broker", "b:1", "--api-key", "k", "--type", "toaster"}, 2, `unknown --type "toaster"`, ""},
		{"install bad CA", []string{"install", "--broker", "b:1", "--api-key", "k", "--broker-ca", emptyFile}, 1, "--broker-ca", ""},
		{"install zero wait", []string{"install", "--broker", "b:1", "--api-key", "k", "--wait-timeout", "0s"}, 2, "--wait-timeout", ""},
		{"uninstall extra arg", []string{"uninstall", "everything"}, 2, "unexpected argument", ""},
		{"stop unknown flag", []string{"stop", "--purge"}, 2, "unknown flag", ""},
		{"run bad broker", []string{"run", "--broker", "nohost", "--api-key", "k"}, 2, "not HOST:PORT", ""},
		{"run bad second broker", []string{"run", "--broker", "a:7443,nohost", "--api-key", "k"}, 2, `--broker "nohost" is not HOST:PORT`, ""},
		{"run broker listed twice", []string{"run", "--broker", "a:7443,a:7443", "--api-key", "k"}, 2, "listed twice", ""},
		{"run without key", []string{"run", "--broker", "b:1"}, 2, "EDGETRUST_API_KEY", ""},
		{"run bad type", []string{"run", "--broker", "b:1", "--api-key", "k", "--type", "toaster"}, 2, `unknown --type "toaster"`, ""},
		{"run both pins", []string{"run", "--broker", "b:1", "--api-key", "k", "--broker-ca", "x", "--broker-fingerprint", "sha256:00"}, 2, "not both", ""},
		{"run bad pin", []string{"run", "--broker", "b:1", "--api-key", "k", "--broker-fingerprint", "abc"}, 2, "sha256:", ""},
		{"run bad log level", []string{"run", "--broker", "b:1", "--api-key", "k", "--log-level", "loud"}, 2, "--log-level", ""},
		{"status unknown flag", []string{"status", "--broker", "b:1"}, 2, "unknown flag", ""},
		{"status bad output", []string{"status", "-o", "yaml", "--state-dir", dir}, 2, "yaml", ""},
		{"status extra arg", []string{"status", "now", "--state-dir", dir}, 2, "unexpected argument", ""},
		{"login bad type", []string{"login", "--type", "password"}, 2, `unknown --type "password"`, ""},
		{"login no agent", []string{"login", "--socket", filepath.Join(dir, "none.sock")}, 1, "cannot reach the agent", ""},
		{"unknown global", []string{"--frobnicate", "status"}, 2, "unknown flag", ""},
		{"version", []string{"--version"}, 0, "", "edgetrust-agent dev\n"},
		{"version after a command", []string{"status", "--version"}, 0, "", "edgetrust-agent dev\n"},
		{"login bad output", []string{"login", "-o", "yaml"}, 2, "yaml", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCmd(t, noEnv, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.wantCode, errs)
			}
			if !strings.Contains(errs, tt.wantErr) || !strings.Contains(out, tt.wantOut) {
				t.Errorf("stdout %q, stderr %q; want %q / %q", out, errs, tt.wantOut, tt.wantErr)
			}
			if tt.wantCode != 0 && strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Errorf("error is not one line: %q", errs)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	dir := t.TempDir()
	exp := time.Now().Add(10 * time.Minute).UTC().Truncate(time.Second)
	if err := state.Save(dir, state.State{EndpointID: "e-1", State: state.Trusted, AccessToken: "SECRET-AT", RefreshToken: "SECRET-RT", AccessExpiresAt: exp, Broker: "b:1"}); err != nil {
		t.Fatal(err)
	}
	// Global flag before the command, output flag after.
	code, out, errs := runCmd(t, noEnv, "--state-dir", dir, "status", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("not only JSON: %q", out)
	}
	if m["state"] != "trusted" || m["endpoint_id"] != "e-1" || m["last_error"] != "" {
		t.Errorf("json = %v", m)
	}
	if s, _ := m["service"].(string); s == "" {
		t.Errorf("json has no service state: %v", m)
	}
	code, out, _ = runCmd(t, noEnv, "status", "--state-dir="+dir)
	if code != 0 || !strings.Contains(out, "trusted") || !strings.Contains(out, "expires") || !strings.Contains(out, "service:") {
		t.Errorf("table: %d %q", code, out)
	}
	for _, o := range []string{out} {
		if strings.Contains(o, "SECRET") {
			t.Error("status printed a token")
		}
	}
	if strings.Contains(out, "unreachable") {
		t.Errorf("table says unreachable while the broker answers: %q", out)
	}
	// S3c: an unreachable broker is named in the table.
	if err := state.Save(dir, state.State{EndpointID: "e-1", State: state.Trusted, Broker: "b:1",
		UnreachableSince: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if code, out, _ = runCmd(t, noEnv, "status", "--state-dir="+dir); code != 0 || !strings.Contains(out, "broker unreachable since") {
		t.Errorf("table of an unreachable broker: %d %q", code, out)
	}
	// Corrupt file: failure, one line.
	os.WriteFile(filepath.Join(dir, state.StateFile), nil, 0o600)
	code, _, errs = runCmd(t, noEnv, "status", "--state-dir", dir)
	if code != 1 || !strings.Contains(errs, "corrupt") {
		t.Errorf("corrupt: %d %q", code, errs)
	}
}

func TestRunKeyRefusedThenSignal(t *testing.T) {
	srv := fakebroker.New(t, fakebroker.Handler{
		Register: func(*fakebroker.Conn, *protocol.Register) protocol.Message {
			return &protocol.Error{Code: protocol.CodeInvalidClient}
		},
	})
	dir := filepath.Join(t.TempDir(), "state")
	sockDir, err := os.MkdirTemp("", "eta")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "a.sock")
	getenv := func(k string) string {
		if k == envAPIKey {
			return testKey
		}
		return ""
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--broker", srv.Addr, "--broker-ca", srv.CAFile, "--type", "server",
			"--min-backoff", "10ms", "--max-backoff", "50ms", "--state-dir", dir, "--socket", sock, "--log-level", "debug"},
			&syncBuffer{}, &logs, getenv)
	}()

	deadline := time.Now().Add(15 * time.Second)
	for {
		code, out, _ := runCmd(t, noEnv, "status", "-o", "json", "--state-dir", dir)
		if code == 0 && strings.Contains(out, "invalid_client") && strings.Contains(out, `"unregistered"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed the refused key: %q", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if runtime.GOOS == "linux" {
		code, out, errs := runCmd(t, noEnv, "login", "--socket", sock)
		if code != 1 || out != "" || !strings.Contains(errs, "broker_unreachable") {
			t.Errorf("login: %d %q %q", code, out, errs)
		}
	}
	cancel() // as SIGTERM does
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run exited %d: %s", code, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
	if strings.Contains(logs.String(), testSecret) {
		t.Error("the API key was logged")
	}
	if !strings.Contains(logs.String(), protocol.MaskKey(testKey)) {
		t.Error("masked key not logged")
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

// run takes what it is not told on the command line from the configuration
// that install wrote, and the key from it when no flag or variable gives one.
func TestRunReadsConfig(t *testing.T) {
	regs := make(chan *protocol.Register, 16)
	srv := fakebroker.New(t, fakebroker.Handler{
		Register: func(_ *fakebroker.Conn, r *protocol.Register) protocol.Message {
			regs <- r
			return &protocol.Error{Code: protocol.CodeInvalidClient}
		},
	})
	dir := t.TempDir()
	sockDir, err := os.MkdirTemp("", "eta")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	cfgDir := filepath.Join(dir, "etc")
	os.Mkdir(cfgDir, 0o755)
	stateDir := filepath.Join(dir, "state")
	if err := config.Save(filepath.Join(cfgDir, config.Name), config.File{
		Broker: srv.Addr, APIKey: testKey, Type: "printer", Description: "from the file",
		BrokerCA: srv.CAFile, StateDir: stateDir, Socket: filepath.Join(sockDir, "a.sock"),
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		getenv   func(string) string
		wantKey  string
		wantType string
	}{
		{"--config", []string{"run", "--config", filepath.Join(cfgDir, config.Name)}, noEnv, testKey, "printer"},
		{"default config in CONFIG_DIR", []string{"run"}, func(k string) string {
			if k == envConfigDir {
				return cfgDir
			}
			return ""
		}, testKey, "printer"},
		{"flags override the file", []string{"run", "--config-dir", cfgDir, "--type", "server", "--api-key", otherKey}, noEnv, otherKey, "server"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for len(regs) > 0 { // left by an earlier case's retry
				<-regs
			}
			ctx, cancel := context.WithCancel(context.Background())
			var logs syncBuffer
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, append(tc.args, "--min-backoff", "1s", "--max-backoff", "2s"), &syncBuffer{}, &logs, tc.getenv)
			}()
			select {
			case r := <-regs:
				if r.APIKey != tc.wantKey || r.ClientType != tc.wantType || r.Description != "from the file" {
					t.Errorf("registered with key %q type %q description %q; want %q %q %q",
						r.APIKey, r.ClientType, r.Description, tc.wantKey, tc.wantType, "from the file")
				}
			case code := <-done:
				t.Fatalf("run exited %d: %s", code, logs.String())
			case <-time.After(15 * time.Second):
				t.Fatalf("no registration; log: %s", logs.String())
			}
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("run exited %d: %s", code, logs.String())
			}
			if _, err := os.Stat(filepath.Join(stateDir, state.IdentityFile)); err != nil {
				t.Errorf("the state directory from the file was not used: %v", err)
			}
			if strings.Contains(logs.String(), testSecret) {
				t.Error("the API key was logged")
			}
		})
	}
}

// On systemd hosts install writes the unit the packages ship, byte for byte;
// the service runs the configuration install wrote.
func TestServiceDefinition(t *testing.T) {
	o := &options{serviceName: defaultServiceName, configDir: packaging.AgentConfigDir}
	got := serviceConfig(o)
	want := daemon.Config{
		Name:              "edgetrust-agent",
		Description:       serviceDescription,
		Arguments:         []string{"run", "--config", packaging.AgentConfig},
		SystemdUnit:       packaging.AgentUnit,
		SystemdExecutable: packaging.AgentBinary,
		User:              packaging.AgentUser,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("service definition (-want +got):\n%s", diff)
	}
	if !strings.Contains(packaging.AgentUnit, "ExecStart="+packaging.AgentBinary+" run --config ") {
		t.Errorf("the packaged unit does not run the agent with its configuration")
	}
}

func TestPurgeDirRemovesOnlyAgentDirectories(t *testing.T) {
	root := t.TempDir()
	mk := func(name string, files ...string) string {
		d := filepath.Join(root, name)
		os.MkdirAll(d, 0o700)
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(d, f), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	state := mk("state", "identity.json", "state.json", ".state.json.tmp-1")
	empty := mk("empty")
	tree := mk("tree", "x")
	mk("tree/sub", "y")
	tests := []struct {
		name     string
		dir      string
		wantOK   bool
		wantErr  string
		wantGone bool
	}{
		{"agent state", state, true, "", true},
		{"empty", empty, true, "", true},
		{"missing", filepath.Join(root, "none"), false, "", true},
		{"holds a directory", tree, false, "sub", false},
		{"root", "/", false, "not an absolute directory below /", false},
		{"relative", "state", false, "not an absolute directory below /", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := purgeDir(tc.dir)
			if ok != tc.wantOK || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("purgeDir(%q) = %v, %v; want %v, error with %q", tc.dir, ok, err, tc.wantOK, tc.wantErr)
			}
			if _, err := os.Stat(tc.dir); tc.dir != "/" && tc.dir != "state" && os.IsNotExist(err) != tc.wantGone {
				t.Errorf("%s gone = %v, want %v", tc.dir, os.IsNotExist(err), tc.wantGone)
			}
		})
	}
}
