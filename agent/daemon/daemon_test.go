package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// helperArg makes the test binary act as a service program: it writes its
// arguments to the file named after it and runs until SIGTERM.
const helperArg = "daemon-test-helper"

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == helperArg {
		os.Exit(helper(os.Args[2], os.Args[3:]))
	}
	os.Exit(m.Run())
}

func helper(out string, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := os.WriteFile(out, []byte(strings.Join(args, "\n")), 0o600); err != nil {
		return 1
	}
	<-ctx.Done()
	os.WriteFile(out+".stopped", nil, 0o600)
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no name", Config{}, "invalid service name"},
		{"slash", Config{Name: "a/b"}, "invalid service name"},
		{"space", Config{Name: "a b"}, "invalid service name"},
		{"template in unit", Config{Name: "x", SystemdUnit: "[Service]\nExecStart={{Path}}\n"}, `contains "{{"`},
		{"template in argument", Config{Name: "x", Arguments: []string{"{{Name}}"}}, `contains "{{"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// The script keeps every argument exactly, whatever characters it holds.
func TestSysVScriptQuotesArguments(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SysV init scripts are used on Linux only")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "args")
	args := []string{out, "run", "--config", "/etc/it's here/agent.conf", `$HOME "quoted" \back`, "`date`", "a;b|c&d", ""}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("edgetrust-daemontest-q%d", os.Getpid())
	script := sysvScript(Config{Name: name, Description: "quoting test", Executable: exe,
		Arguments: append([]string{helperArg}, args...), LogDir: dir})
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(runDir, name+".pid")
	t.Cleanup(func() {
		output(path, "stop")
		os.Remove(pidFile)
	})
	if out, err := output("sh", "-n", path); err != nil {
		t.Fatalf("sh -n: %v\n%s", err, out)
	}
	if out, err := output(path, "start"); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	waitFor(t, "the program to write its arguments", func() bool { return exists(out) })
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(args[1:], strings.Split(string(got), "\n")); diff != "" {
		t.Errorf("arguments (-want +got):\n%s", diff)
	}
	if out, err := output(path, "status"); err != nil || out != "Running" {
		t.Errorf("status = %q, %v; want Running, exit 0", out, err)
	}
	// Every user may ask whether the service runs; its log is root's.
	for file, want := range map[string]os.FileMode{pidFile: 0o644, filepath.Join(dir, name+".log"): 0o600} {
		fi, err := os.Stat(file)
		if err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", file, fi.Mode().Perm(), want)
		}
	}
	if out, err := output(path, "stop"); err != nil || !strings.HasSuffix(out, "Stopped") {
		t.Errorf("stop = %q, %v", out, err)
	}
	if !exists(out + ".stopped") {
		t.Error("the program did not get SIGTERM")
	}
	var ee *exec.ExitError
	if out, err := output(path, "status"); !errors.As(err, &ee) || ee.ExitCode() != 3 || out != "Stopped" {
		t.Errorf("status after stop = %q, %v; want Stopped, exit 3", out, err)
	}
	if exists(pidFile) {
		t.Errorf("pid file %s left after stop", pidFile)
	}
}

// A recorded PID whose process is another program is not the service: stop
// must not kill it.
func TestSysVScriptIgnoresForeignPID(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SysV init scripts are used on Linux only")
	}
	dir := t.TempDir()
	name := fmt.Sprintf("edgetrust-daemontest-p%d", os.Getpid())
	path := filepath.Join(dir, name)
	script := sysvScript(Config{Name: name, Executable: "/nonexistent/agent", LogDir: dir})
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(runDir, name+".pid")
	if err := os.WriteFile(pidFile, []byte(fmt.Sprint(os.Getpid())), 0o600); err != nil {
		t.Skipf("cannot write %s: %v", pidFile, err)
	}
	t.Cleanup(func() { os.Remove(pidFile) })
	if out, err := output(path, "status"); err == nil {
		t.Fatalf("status = %q, exit 0: the test process was taken for the service", out)
	}
	if out, err := output(path, "stop"); err != nil || out != "Not running" {
		t.Fatalf("stop = %q, %v; want Not running", out, err)
	}
}

func TestRemoveRCLinks(t *testing.T) {
	etc := t.TempDir()
	for _, d := range []string{"init.d", "rc0.d", "rc2.d", "rc5.d", "rcS.d"} {
		if err := os.Mkdir(filepath.Join(etc, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join(etc, "init.d", "agent")
	other := filepath.Join(etc, "init.d", "agent-other")
	for _, f := range []string{script, other} {
		if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, at string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(etc, at)); err != nil {
			t.Fatal(err)
		}
	}
	link(script, "rc2.d/S50agent")                                                            // kardianos/service's absolute links
	link(script, "rc0.d/K02agent")                                                            // ...
	link("../init.d/agent", "rc5.d/S01agent")                                                 // update-rc.d's relative links
	link(script, "rcS.d/S20agent")                                                            // ...
	link(other, "rc2.d/S50agent-other")                                                       // another service
	link("/nonexistent/agent", "rc5.d/K01agent")                                              // someone else's, dangling
	link(script, "rc2.d/S50agentx")                                                           // another name
	if err := os.WriteFile(filepath.Join(etc, "rc0.d", "K03agent"), nil, 0o644); err != nil { // not a link
		t.Fatal(err)
	}
	if err := removeRCLinks(etc, "agent"); err != nil {
		t.Fatal(err)
	}
	var left []string
	filepath.Walk(etc, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(etc, p)
			left = append(left, rel)
		}
		return nil
	})
	want := []string{"init.d/agent", "init.d/agent-other", "rc0.d/K03agent", "rc2.d/S50agent-other", "rc2.d/S50agentx", "rc5.d/K01agent"}
	if diff := cmp.Diff(want, left); diff != "" {
		t.Errorf("files left (-want +got):\n%s", diff)
	}
}

// TestSysVServiceLifecycle installs a real service through kardianos/service
// where no systemd runs (as on the test machines), drives it and removes it,
// checking that nothing is left behind.
func TestSysVServiceLifecycle(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs root on Linux")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "args")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("edgetrust-daemontest-l%d", os.Getpid())
	cfg := Config{Name: name, Description: "edgetrust daemon test", Executable: exe,
		Arguments: []string{helperArg, out, "first"}, LogDir: dir}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Platform() != PlatformSysV {
		t.Skipf("service manager here is %s, not SysV", s.Platform())
	}
	script := filepath.Join(etcDir, "init.d", name)
	t.Cleanup(func() {
		s.Uninstall()
		os.Remove(script)
		removeRCLinks(etcDir, name)
		os.Remove(filepath.Join(runDir, name+".pid"))
	})
	status := func(want Status) {
		t.Helper()
		got, err := s.Status()
		if err != nil || got != want {
			t.Fatalf("Status = %q, %v; want %q", got, err, want)
		}
	}
	status(StatusNotInstalled)
	if err := s.Start(); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Start before Install = %v, want ErrNotInstalled", err)
	}
	if err := s.Install(); err != nil {
		t.Fatal(err)
	}
	status(StatusStopped)
	links, _ := filepath.Glob(filepath.Join(etcDir, "rc?.d", "[SK][0-9][0-9]"+name))
	if len(links) == 0 {
		t.Errorf("no /etc/rc?.d links after Install")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	status(StatusRunning)
	waitFor(t, "the program to start", func() bool { return exists(out) })
	if err := s.Start(); err != nil {
		t.Errorf("Start while running = %v, want nil", err)
	}

	// Reinstalling with other arguments replaces the definition in place.
	os.Remove(out)
	cfg.Arguments = []string{helperArg, out, "second"}
	s, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Install(); err != nil {
		t.Fatalf("second Install: %v", err)
	}
	status(StatusStopped)
	if !exists(out + ".stopped") {
		t.Error("reinstall did not stop the running program")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the program to start again", func() bool { return exists(out) })
	if got, _ := os.ReadFile(out); string(got) != "second" {
		t.Errorf("after reinstall the program runs with %q, want %q", got, "second")
	}
	status(StatusRunning)

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	status(StatusStopped)
	if err := s.Stop(); err != nil {
		t.Errorf("Stop while stopped = %v, want nil", err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Uninstall(); err != nil {
		t.Fatal(err)
	}
	status(StatusNotInstalled)
	if err := s.PurgeLogs(); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(etcDir, "rc?.d", "*"+name))
	for _, p := range []string{script, filepath.Join(runDir, name+".pid"), filepath.Join(dir, name+".log")} {
		if exists(p) {
			left = append(left, p)
		}
	}
	if len(left) > 0 {
		t.Errorf("left behind after Uninstall and PurgeLogs: %v", left)
	}
	if err := s.Uninstall(); err != nil {
		t.Errorf("second Uninstall = %v, want nil", err)
	}
}
