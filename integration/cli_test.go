package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// exitCode runs a binary and returns its exit status, stdout and stderr.
func exitCode(t *testing.T, name string, args ...string) (int, string, string) {
	t.Helper()
	out, errs, err := runBin(t, name, args...)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out, errs
	case errors.As(err, &ee):
		return ee.ExitCode(), out, errs
	default:
		t.Fatalf("running %s: %v", name, err)
		return -1, "", ""
	}
}

// Contract: a broker started on a data directory that another broker holds
// exits 1 and names the holder's PID. A SIGKILLed broker leaves no stale
// lock: the next one starts.
func TestSecondBrokerOnOneDataDirExits1(t *testing.T) {
	dataDir := t.TempDir()
	first := startBroker(t, dataDir, "127.0.0.1:0")
	code, _, errs := exitCode(t, bin("edgetrust-broker"), "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0")
	pid := strconv.Itoa(first.cmd.Process.Pid)
	if code != 1 || !strings.Contains(errs, "PID "+pid) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Fatalf("second broker: exit %d, stderr %q; want exit 1 naming PID %s in one line", code, errs, pid)
	}
	first.kill()
	second := startBroker(t, dataDir, "127.0.0.1:0") // fails the test if it cannot start
	if second.fingerprint != first.fingerprint {
		t.Errorf("fingerprint changed: %s -> %s", first.fingerprint, second.fingerprint)
	}
}

// Contract: serve --listen nope is a usage error (exit 2) that creates
// nothing.
func TestServeBadListenCreatesNothing(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "broker")
	code, _, errs := exitCode(t, bin("edgetrust-broker"), "serve", "--data-dir", dataDir, "--listen", "nope")
	if code != 2 || !strings.Contains(errs, "--listen") {
		t.Fatalf("exit %d, stderr %q; want 2 naming --listen", code, errs)
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the data dir was created: %v", err)
	}
}

// Contract: --version works on all three programs, exit 0.
func TestVersionFlag(t *testing.T) {
	for _, prog := range []string{"edgetrust-broker", "edgetrust-agent", "edgetrustctl"} {
		t.Run(prog, func(t *testing.T) {
			code, out, errs := exitCode(t, bin(prog), "--version")
			if code != 0 || !regexp.MustCompile(`^`+prog+` \S+\n$`).MatchString(out) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and %q", code, out, errs, prog+" VERSION")
			}
		})
	}
}
