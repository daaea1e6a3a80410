//go:build linux

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/packaging"
)

// The packages are installed for real on this machine, as the only way to
// know that they install, run and go away cleanly. Whatever happens, the
// test purges them again; a lock keeps two runs on the machine apart.

var packageNames = []string{"edgetrust-agent", "edgetrust-broker"}

// needDpkg skips where packages cannot be installed: not root, or no
// dpkg. On CI both are failures.
func needDpkg(t *testing.T) {
	t.Helper()
	why := ""
	if _, err := exec.LookPath("dpkg"); err != nil {
		why = "dpkg is not installed"
	}
	if os.Geteuid() != 0 {
		why = "installing packages needs root"
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI must run the package test: %s", why)
	}
	t.Skip(why)
}

// lockMachine holds an exclusive lock on the package test for the rest of
// the test: the package names are the machine's, not the test's.
func lockMachine(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "edgetrust-package-test.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Minute):
		t.Fatal("another package test held the lock for 5 minutes")
	}
	t.Cleanup(func() { f.Close() })
}

// debs returns the agent and broker .deb: those 'make package' put in
// EDGETRUST_DIST_DIR, or built here with nfpm from the test binaries.
func debs(t *testing.T) (agentDeb, brokerDeb string) {
	t.Helper()
	arch := runtime.GOARCH
	if dist := os.Getenv("EDGETRUST_DIST_DIR"); dist != "" {
		find := func(name string) string {
			m, _ := filepath.Glob(filepath.Join(dist, name+"_*_"+arch+".deb"))
			if len(m) != 1 {
				t.Fatalf("want one %s .deb for %s in %s (make package), found %v", name, arch, dist, m)
			}
			return m[0]
		}
		return find("edgetrust-agent"), find("edgetrust-broker")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	work := t.TempDir()
	nfpm := filepath.Join(work, "nfpm")
	build := exec.Command("go", "build", "-o", nfpm, "github.com/goreleaser/nfpm/v2/cmd/nfpm")
	build.Dir = filepath.Join(root, "tools")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building nfpm: %v\n%s", err, out)
	}
	// The nfpm configurations name packaging/... and bin/pkg/... relative
	// to the working directory.
	stage := filepath.Join(work, "stage")
	for _, d := range []string{stage, filepath.Join(stage, "bin")} {
		os.Mkdir(d, 0o755)
	}
	if err := os.Symlink(filepath.Join(root, "packaging"), filepath.Join(stage, "packaging")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(binDir, filepath.Join(stage, "bin", "pkg")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "dist")
	os.Mkdir(out, 0o755)
	for _, p := range []string{"agent", "broker"} {
		cmd := exec.Command(nfpm, "package", "-f", "packaging/nfpm/"+p+".yaml", "-p", "deb", "-t", out+"/")
		cmd.Dir = stage
		cmd.Env = append(os.Environ(), "VERSION=0.0.0+test", "ARCH="+arch)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nfpm %s: %v\n%s", p, err, b)
		}
	}
	return filepath.Join(out, "edgetrust-agent_0.0.0+test-1_"+arch+".deb"), filepath.Join(out, "edgetrust-broker_0.0.0+test-1_"+arch+".deb")
}

// dpkg runs dpkg, waiting while another dpkg or apt holds its lock.
func dpkg(t *testing.T, args ...string) (string, error) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		out, err := exec.CommandContext(ctx, "dpkg", args...).CombinedOutput()
		cancel()
		if err == nil || !bytes.Contains(out, []byte("lock")) || time.Now().After(deadline) {
			return string(out), err
		}
		time.Sleep(500 * time.Millisecond) // another dpkg is at work: try again
	}
}

func installed(pkg string) bool {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Status}", pkg).Output()
	return err == nil && strings.Contains(string(out), "installed") && !strings.Contains(string(out), "not-installed")
}

// leftovers lists what the agent and broker packages or 'install' may
// create and a purge must remove.
func leftovers() []string {
	var left []string
	for _, p := range []string{
		"/usr/bin/edgetrust-agent", "/usr/bin/edgetrust-broker", "/usr/bin/edgetrustctl",
		"/usr/lib/systemd/system/edgetrust-agent.service", "/usr/lib/systemd/system/edgetrust-broker.service",
		"/etc/edgetrust-agent", "/etc/edgetrust-broker", "/var/lib/edgetrust-agent", "/var/lib/edgetrust-broker",
		"/run/edgetrust-agent", "/etc/init.d/edgetrust-agent", "/var/log/edgetrust-agent.log", "/var/run/edgetrust-agent.pid",
	} {
		if _, err := os.Lstat(p); err == nil {
			left = append(left, p)
		}
	}
	links, _ := filepath.Glob("/etc/rc?.d/[SK][0-9][0-9]edgetrust-*")
	left = append(left, links...)
	for _, u := range packageNames {
		if _, err := user.Lookup(u); err == nil {
			left = append(left, "user "+u)
		}
	}
	return left
}

type fileWant struct {
	path        string
	owner       string
	mode        os.FileMode
	dir         bool
	sameAsBytes string // when set, the file's content
}

func checkFile(t *testing.T, w fileWant) {
	t.Helper()
	fi, err := os.Stat(w.path)
	if err != nil {
		t.Errorf("%s: %v", w.path, err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	owner := fmt.Sprint(st.Uid)
	if u, err := user.LookupId(owner); err == nil {
		owner = u.Username
	}
	if owner != w.owner || fi.Mode().Perm() != w.mode || fi.IsDir() != w.dir {
		t.Errorf("%s: owner %s mode %v dir %v; want %s %v %v", w.path, owner, fi.Mode().Perm(), fi.IsDir(), w.owner, w.mode, w.dir)
	}
	if w.sameAsBytes != "" {
		if got, _ := os.ReadFile(w.path); string(got) != w.sameAsBytes {
			t.Errorf("%s differs from the embedded copy that 'install' writes", w.path)
		}
	}
}

func runBin(t *testing.T, name string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = childEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func TestDebPackageInstallsRunsAndPurges(t *testing.T) {
	needDpkg(t)
	agentDeb, brokerDeb := debs(t)
	lockMachine(t)

	purge := func() error {
		var errs []error
		for _, p := range packageNames {
			if out, err := dpkg(t, "--purge", p); err != nil {
				errs = append(errs, fmt.Errorf("dpkg --purge %s: %v: %s", p, err, out))
			}
		}
		return errors.Join(errs...)
	}
	// A run killed before its cleanup leaves the packages behind.
	if installed("edgetrust-agent") || installed("edgetrust-broker") {
		t.Logf("edgetrust packages were installed before this test; purging them")
	}
	if err := purge(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile("/var/log/edgetrust-agent.log")
			t.Logf("agent service log:\n%s", tail(string(log), 6000))
		}
		if err := purge(); err != nil {
			t.Error(err)
		}
		if left := leftovers(); len(left) > 0 {
			t.Errorf("left on the machine after dpkg --purge: %v", left)
		}
	})

	if out, err := dpkg(t, "-i", agentDeb, brokerDeb); err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, out)
	}
	for _, w := range []fileWant{
		{path: "/usr/bin/edgetrust-agent", owner: "root", mode: 0o755},
		{path: "/usr/bin/edgetrust-broker", owner: "root", mode: 0o755},
		{path: "/usr/bin/edgetrustctl", owner: "root", mode: 0o755},
		{path: "/usr/lib/systemd/system/edgetrust-agent.service", owner: "root", mode: 0o644, sameAsBytes: packaging.AgentUnit},
		{path: "/usr/lib/systemd/system/edgetrust-broker.service", owner: "root", mode: 0o644, sameAsBytes: packaging.BrokerUnit},
		{path: "/etc/edgetrust-broker/broker.env", owner: "root", mode: 0o600},
		{path: "/usr/share/edgetrust-broker/grafana/edgetrust-dashboard.json", owner: "root", mode: 0o644},
		{path: "/usr/share/edgetrust-broker/prometheus/edgetrust-alerts.yml", owner: "root", mode: 0o644},
		{path: "/etc/edgetrust-agent", owner: "root", mode: 0o755, dir: true},
		{path: "/var/lib/edgetrust-agent", owner: "edgetrust-agent", mode: 0o700, dir: true},
		{path: "/var/lib/edgetrust-broker", owner: "edgetrust-broker", mode: 0o700, dir: true},
	} {
		checkFile(t, w)
	}
	for _, name := range packageNames {
		u, err := user.Lookup(name)
		if err != nil {
			t.Errorf("service user %s: %v", name, err)
			continue
		}
		out, _ := exec.Command("getent", "passwd", name).Output()
		if !strings.HasSuffix(strings.TrimSpace(string(out)), "nologin") || u.Uid == "0" {
			t.Errorf("service user %s = %s; want a system user without a login shell", name, out)
		}
	}

	// systemd-analyze verify checks that ExecStart's binary exists: the
	// packages have just put it in place.
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("CI") != "" {
			t.Errorf("CI must verify the installed units: systemd-analyze is not installed (apt-get install systemd)")
		}
		t.Logf("systemd-analyze is not installed: the units are not verified here")
	} else {
		for _, unit := range []string{"/usr/lib/systemd/system/edgetrust-agent.service", "/usr/lib/systemd/system/edgetrust-broker.service"} {
			out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
			}
		}
	}
	if out, _, err := runBin(t, "/usr/bin/edgetrust-broker", "--help"); err != nil || !strings.Contains(out, "serve") {
		t.Errorf("packaged edgetrust-broker --help: %v\n%s", err, out)
	}

	// The one command an installer runs, with the packaged agent, against a
	// broker this test starts.
	b := startBroker(t, t.TempDir(), "127.0.0.1:0")
	adm := newAdmin(t, b)
	k := adm.createKey("--auto-trust")
	keyFile := filepath.Join(t.TempDir(), "key")
	writeKeyFile(t, keyFile, k.Value)
	out, errs, err := runBin(t, "/usr/bin/edgetrust-agent", "install", "--broker", b.addr, "--api-key-file", keyFile, "--broker-ca", b.caFile)
	if err != nil || !strings.Contains(out, "is trusted") {
		t.Fatalf("edgetrust-agent install: %v\nstdout: %s\nstderr: %s", err, out, errs)
	}
	checkFile(t, fileWant{path: "/etc/edgetrust-agent/agent.conf", owner: "root", mode: 0o600})
	checkFile(t, fileWant{path: "/etc/edgetrust-agent/broker-ca.pem", owner: "root", mode: 0o644})
	st := pkgStatus(t)
	if st.Service != "running" || st.State != "trusted" || !st.HasAccessToken {
		t.Fatalf("status after install = %+v", st)
	}
	ag := &agentProc{socket: packaging.AgentSocket}
	if ans, stderr, err := ag.login(nil); err != nil || ans.AccessToken == "" {
		t.Errorf("login through the packaged agent: %v %s", err, stderr)
	}

	// An upgrade (the same package again) keeps the identity and state and
	// restarts the running agent.
	pidBefore, _ := os.ReadFile("/var/run/edgetrust-agent.pid")
	if out, err := dpkg(t, "-i", agentDeb); err != nil {
		t.Fatalf("dpkg -i again (upgrade): %v\n%s", err, out)
	}
	var after svcStatus
	waitFor(t, settle, "the upgraded agent to run and be trusted", func() bool {
		after = pkgStatus(t)
		return after.Service == "running" && after.State == "trusted"
	})
	if after.EndpointID != st.EndpointID {
		t.Errorf("after the upgrade the endpoint is %s, was %s", after.EndpointID, st.EndpointID)
	}
	if pidAfter, _ := os.ReadFile("/var/run/edgetrust-agent.pid"); bytes.Equal(pidBefore, pidAfter) {
		t.Errorf("the upgrade did not restart the agent (pid %s)", pidAfter)
	}

	// Removal stops the agent and removes the service, keeps configuration
	// and state; purge removes everything (checked in the cleanup too).
	pidFile, err := os.ReadFile("/var/run/edgetrust-agent.pid")
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(pidFile))
	if out, err := dpkg(t, "--remove", "edgetrust-agent"); err != nil {
		t.Fatalf("dpkg --remove: %v\n%s", err, out)
	}
	if cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline"); len(cmdline) > 0 {
		t.Errorf("the agent (pid %s) still runs after dpkg --remove: %q", pid, cmdline)
	}
	for _, p := range []string{"/etc/edgetrust-agent/agent.conf", "/var/lib/edgetrust-agent/identity.json"} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("dpkg --remove removed %s: %v", p, err)
		}
	}
	if _, err := os.Stat("/etc/init.d/edgetrust-agent"); err == nil {
		t.Errorf("dpkg --remove left the init script")
	}
	if err := purge(); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(); len(left) > 0 {
		t.Errorf("left after dpkg --purge: %v", left)
	}
}

// pkgStatus runs the packaged agent's status with its default paths.
func pkgStatus(t *testing.T) svcStatus {
	t.Helper()
	out, errs, err := runBin(t, "/usr/bin/edgetrust-agent", "status", "-o", "json")
	if err != nil {
		t.Fatalf("edgetrust-agent status: %v: %s", err, errs)
	}
	var st svcStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status is not JSON: %v\n%s", err, out)
	}
	return st
}
