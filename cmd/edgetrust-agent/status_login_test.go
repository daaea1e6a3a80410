package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap/zapcore"

	"github.com/edgetrust/edgetrust/agent/config"
	"github.com/edgetrust/edgetrust/agent/state"
)

// status where no agent keeps its state (a mistyped --state-dir) says so
// and exits 1; a fresh agent (identity made, not registered yet, or
// installed and about to start) is "unregistered", exit 0.
func TestStatusWithoutState(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(base, "empty")
	fresh := filepath.Join(base, "fresh")
	installedDir := filepath.Join(base, "installed")
	for _, d := range []string{empty, installedDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := state.LoadOrCreateIdentity(fresh); err != nil {
		t.Fatal(err)
	}
	// An installed agent whose state directory is installedDir, not yet started.
	cfgDir := filepath.Join(base, "etc")
	if err := os.Mkdir(cfgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := config.Save(filepath.Join(cfgDir, config.Name), config.File{Broker: "b:1", APIKey: "k", StateDir: installedDir}); err != nil {
		t.Fatal(err)
	}
	withConfig := func(k string) string {
		if k == envConfigDir {
			return cfgDir
		}
		return ""
	}
	noConfig := func(k string) string {
		if k == envConfigDir {
			return filepath.Join(base, "no-etc")
		}
		return ""
	}
	for _, tc := range []struct {
		name    string
		getenv  func(string) string
		dir     string
		code    int
		wantErr string
	}{
		{"typo", noConfig, filepath.Join(base, "TYPO"), 1, "no agent state in " + filepath.Join(base, "TYPO") + ": the directory does not exist"},
		{"typo with an agent installed", withConfig, filepath.Join(base, "TYPO"), 1, "the directory does not exist"},
		{"a file", noConfig, file, 1, "not a directory"},
		{"empty dir, nothing installed", noConfig, empty, 1, "neither identity.json nor state.json"},
		{"empty dir, another dir installed", withConfig, empty, 1, "neither identity.json nor state.json"},
		{"fresh agent", noConfig, fresh, 0, ""},
		{"installed, not started yet", withConfig, installedDir, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCmd(t, tc.getenv, "status", "-o", "json", "--state-dir", tc.dir)
			if code != tc.code || !strings.Contains(errs, tc.wantErr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errs, tc.code, tc.wantErr)
			}
			if code != 0 {
				if out != "" || strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, "--state-dir") {
					t.Errorf("stdout %q, stderr %q: want nothing, and one line that names --state-dir", out, errs)
				}
				return
			}
			var st map[string]any
			if err := json.Unmarshal([]byte(out), &st); err != nil || st["state"] != "unregistered" {
				t.Errorf("status = %q (%v), want unregistered", out, err)
			}
		})
	}
}

// fakeAgent answers POST /v1/login on a Unix socket as the agent does.
func fakeAgent(t *testing.T, answer string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "eta")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "a.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("no Unix sockets here: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// login prints the token only when asked (-o json) or when standard output
// is not a terminal; on a terminal it says who is logged in and until when.
func TestLoginOutput(t *testing.T) {
	sock := fakeAgent(t, `{"access_token":"SECRET-TOKEN","token_type":"Bearer","expires_in":3600,"username":"paula","domain":"CORP","upn":"paula@corp.example"}`)
	for _, tc := range []struct {
		name     string
		terminal bool
		args     []string
		want     *regexp.Regexp
		token    bool
	}{
		{"terminal", true, nil,
			regexp.MustCompile(`^logged in as CORP\\paula \(paula@corp\.example\) until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d) \(in 1h0m0s\); the token is not shown: add -o json to print it\n$`), false},
		{"terminal, -o json", true, []string{"-o", "json"}, regexp.MustCompile(`"access_token": "SECRET-TOKEN"`), true},
		{"pipe", false, nil, regexp.MustCompile(`"access_token": "SECRET-TOKEN"`), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			was := isTerminal
			isTerminal = func(io.Writer) bool { return tc.terminal }
			defer func() { isTerminal = was }()
			code, out, errs := runCmd(t, noEnv, append([]string{"login", "--socket", sock}, tc.args...)...)
			if code != 0 || !tc.want.MatchString(out) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and %v", code, out, errs, tc.want)
			}
			if strings.Contains(out, "SECRET-TOKEN") != tc.token {
				t.Errorf("token shown: %v, want %v (stdout %q)", !tc.token, tc.token, out)
			}
			if tc.token {
				var m map[string]any
				if err := json.Unmarshal([]byte(out), &m); err != nil {
					t.Errorf("not only JSON: %q", out)
				}
			}
		})
	}
}

// The agent's log lines carry RFC 3339 UTC timestamps, as the broker's
// do, whatever the host's time zone.
func TestLogTimestampsAreRFC3339UTC(t *testing.T) {
	at := time.Date(2026, 5, 1, 14, 0, 0, 123e6, time.FixedZone("UTC+2", 2*60*60))
	for format, want := range map[string]string{
		"json":    `{"level":"info","ts":"2026-05-01T12:00:00.123Z","msg":"hello"}` + "\n",
		"console": "2026-05-01T12:00:00.123Z\tINFO\thello\n",
	} {
		t.Run(format, func(t *testing.T) {
			var buf syncBuffer
			log, err := newLogger("info", format, &buf)
			if err != nil {
				t.Fatal(err)
			}
			if err := log.Core().Write(zapcore.Entry{Level: zapcore.InfoLevel, Time: at, Message: "hello"}, nil); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, buf.String()); d != "" {
				t.Fatalf("log line (-want +got):\n%s", d)
			}
		})
	}
}
