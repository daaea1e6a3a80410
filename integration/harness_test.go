// Package integration runs edgetrust end to end: the three binaries, built
// once per test run, on loopback, driven the way an admin and an installer
// would drive them.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds edgetrust-broker, edgetrust-agent and edgetrustctl.
var binDir string

const adminPassword = "integration-admin-pw-1"

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	binDir = os.Getenv("EDGETRUST_BIN_DIR")
	if binDir == "" {
		dir, err := binTempDir()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/edgetrust-broker", "./cmd/edgetrust-agent", "./cmd/edgetrustctl")
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building binaries:", err)
			return 1
		}
		binDir = dir
	}
	return m.Run()
}

func bin(name string) string { return filepath.Join(binDir, name) }

// binTempDir makes the directory the binaries are built into. Tests run
// the agent as another user (nobody) too, so the directory and every
// directory above it must be open to others: MkdirTemp makes it 0700, and
// a TMPDIR closed to others is passed over for /tmp.
func binTempDir() (string, error) {
	for _, parent := range []string{os.TempDir(), "/tmp"} {
		if !openToOthers(parent) {
			continue
		}
		dir, err := os.MkdirTemp(parent, "edgetrust-bin")
		if err != nil {
			return "", err
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		return dir, nil
	}
	return "", fmt.Errorf("neither %s nor /tmp can be searched by other users; set EDGETRUST_BIN_DIR to a directory they can", os.TempDir())
}

// openToOthers reports whether other users may search dir and every
// directory above it.
func openToOthers(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// childEnv is the environment of every process the tests start. The race
// runtime sleeps a second at exit by default; that would swamp every
// latency measured here.
func childEnv(extra ...string) []string {
	return append(append(os.Environ(), "GORACE=atexit_sleep_ms=0"), extra...)
}

// checkRaces fails the test if a race-built child reported a data race.
func checkRaces(t *testing.T, who string, log *lockedBuffer) {
	if strings.Contains(log.String(), "WARNING: DATA RACE") {
		t.Errorf("%s reported a data race:\n%s", who, log)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockedBuffer collects a process's output safely.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// brokerProc is a running edgetrust-broker.
type brokerProc struct {
	dataDir     string
	addr        string // 127.0.0.1:PORT
	fingerprint string // sha256:<hex>
	caFile      string
	cmd         *exec.Cmd
	stdout      *lockedBuffer
	stderr      *lockedBuffer
	done        chan struct{}
}

// startBroker starts a broker on dataDir, listening on listen (127.0.0.1:0
// for a free port), with the admin password from the environment, and waits
// for its "listening" line.
func startBroker(t *testing.T, dataDir, listen string, args ...string) *brokerProc {
	t.Helper()
	return startBrokerEnv(t, dataDir, listen, []string{"EDGETRUST_BOOTSTRAP_ADMIN_PASSWORD=" + adminPassword}, args...)
}

func startBrokerEnv(t *testing.T, dataDir, listen string, env []string, args ...string) *brokerProc {
	t.Helper()
	return startBrokerArgs(t, dataDir, env, append([]string{"serve", "--data-dir", dataDir, "--listen", listen, "--log-level", "debug"}, args...)...)
}

// startBrokerArgs runs edgetrust-broker with exactly args (which serve
// dataDir) and waits for its "listening" line.
func startBrokerArgs(t *testing.T, dataDir string, env []string, args ...string) *brokerProc {
	t.Helper()
	b := &brokerProc{dataDir: dataDir, caFile: filepath.Join(dataDir, "tls", "broker.crt"), stderr: &lockedBuffer{}, stdout: &lockedBuffer{}, done: make(chan struct{})}
	b.cmd = exec.Command(bin("edgetrust-broker"), args...)
	b.cmd.Env = childEnv(env...)
	b.cmd.Stderr = b.stderr
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			b.stdout.Write([]byte(sc.Text() + "\n"))
			lines <- sc.Text()
		}
		close(lines)
		b.cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() { b.stop(t); checkRaces(t, "broker", b.stderr) })
	timeout := time.After(60 * time.Second)
	for b.addr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("broker exited before listening; stderr:\n%s", b.stderr)
			}
			if v, ok := strings.CutPrefix(l, "fingerprint "); ok {
				b.fingerprint = v
			}
			if v, ok := strings.CutPrefix(l, "listening "); ok {
				b.addr = v
			}
		case <-timeout:
			t.Fatalf("broker did not print its listening line; stderr:\n%s", b.stderr)
		}
	}
	go func() {
		for range lines {
		}
	}()
	return b
}

// stop ends the broker with SIGTERM (it must exit cleanly).
func (b *brokerProc) stop(t *testing.T) {
	select {
	case <-b.done:
		return
	default:
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(15 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
		t.Errorf("broker did not stop within 15s of SIGTERM")
	}
}

// kill ends the broker with SIGKILL, as a crash or power cut would.
func (b *brokerProc) kill() {
	b.cmd.Process.Kill()
	<-b.done
}

// admin runs edgetrustctl as a signed-in admin.
type admin struct {
	t         *testing.T
	b         *brokerProc
	configDir string
}

func newAdmin(t *testing.T, b *brokerProc) *admin {
	t.Helper()
	a := &admin{t: t, b: b, configDir: t.TempDir()}
	cmd := a.command("login", "--username", "admin", "--password-stdin")
	cmd.Stdin = strings.NewReader(adminPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("edgetrustctl login: %v\n%s", err, out)
	}
	return a
}

func (a *admin) command(args ...string) *exec.Cmd {
	cmd := exec.Command(bin("edgetrustctl"), args...)
	cmd.Env = childEnv(
		"EDGETRUST_SERVER=https://"+a.b.addr,
		"EDGETRUST_CA_FILE="+a.b.caFile,
		"EDGETRUST_CONFIG_DIR="+a.configDir)
	return cmd
}

// run runs edgetrustctl and returns stdout; it fails the test on a non-zero exit.
func (a *admin) run(args ...string) []byte {
	a.t.Helper()
	cmd := a.command(args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		a.t.Fatalf("edgetrustctl %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// jsonOut runs edgetrustctl with -o json and decodes stdout into v.
func (a *admin) jsonOut(v any, args ...string) {
	a.t.Helper()
	out := a.run(append(args, "-o", "json")...)
	if err := json.Unmarshal(out, v); err != nil {
		a.t.Fatalf("edgetrustctl %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

type createdKey struct {
	ID        string `json:"id"`
	Value     string `json:"value"`
	AccountID string `json:"account_id"`
	AutoTrust bool   `json:"auto_trust"`
	Active    bool   `json:"active"`
}

func (a *admin) createKey(args ...string) createdKey {
	a.t.Helper()
	var k createdKey
	a.jsonOut(&k, append([]string{"keys", "create", "--name", a.t.Name()}, args...)...)
	if !strings.HasPrefix(k.Value, "etk_") {
		a.t.Fatalf("keys create returned no value: %+v", k)
	}
	return k
}

type endpointJSON struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Type      string `json:"type"`
	Hostname  string `json:"hostname"`
	KeyID     string `json:"key_id"`
	AccountID string `json:"account_id"`
}

func (a *admin) endpoints(args ...string) []endpointJSON {
	a.t.Helper()
	var eps []endpointJSON
	a.jsonOut(&eps, append([]string{"endpoints", "list"}, args...)...)
	return eps
}

func (a *admin) endpoint(id string) *endpointJSON {
	a.t.Helper()
	for _, e := range a.endpoints() {
		if e.ID == id {
			return &e
		}
	}
	return nil
}

// agentProc is a running edgetrust-agent.
type agentProc struct {
	stateDir string
	socket   string
	cmd      *exec.Cmd
	stderr   *lockedBuffer
	done     chan struct{}
}

// shortDir returns a directory whose paths stay well under the 108-byte
// limit of Unix socket addresses, readable by every user (logins run as
// other users too).
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "eti")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o755)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func startAgent(t *testing.T, b *brokerProc, key string, extra ...string) *agentProc {
	t.Helper()
	return startAgentIn(t, b, key, shortDir(t), extra...)
}

// startAgentIn starts an agent whose state and socket live in dir, so a
// later agent can take over the same identity.
func startAgentIn(t *testing.T, b *brokerProc, key, dir string, extra ...string) *agentProc {
	t.Helper()
	a := &agentProc{stateDir: filepath.Join(dir, "state"), socket: filepath.Join(dir, "agent.sock"), stderr: &lockedBuffer{}, done: make(chan struct{})}
	args := []string{"run", "--broker", b.addr, "--state-dir", a.stateDir, "--broker-ca", b.caFile,
		"--socket", a.socket, "--type", "desktop_client", "--min-backoff", "50ms", "--max-backoff", "1s", "--log-level", "debug"}
	a.cmd = exec.Command(bin("edgetrust-agent"), append(args, extra...)...)
	a.cmd.Env = childEnv("EDGETRUST_API_KEY=" + key)
	a.cmd.Stderr = a.stderr
	a.cmd.Stdout = a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		a.stop(t)
		checkRaces(t, "agent", a.stderr)
		if t.Failed() {
			t.Logf("agent log:\n%s", a.stderr)
			t.Logf("broker log (tail):\n%s", tail(b.stderr.String(), 4000))
		}
	})
	// status fails where no agent has run (a --state-dir typo): wait until
	// this one has made its identity there (or has exited).
	waitFor(t, settle, "the agent to make its identity", func() bool {
		select {
		case <-a.done:
			return true
		default:
		}
		_, err := os.Stat(filepath.Join(a.stateDir, "identity.json"))
		return err == nil
	})
	return a
}

// stop ends the agent with SIGTERM; it must exit within 10 s.
func (a *agentProc) stop(t *testing.T) {
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		a.cmd.Process.Kill()
		<-a.done
		t.Errorf("agent did not stop within 10s of SIGTERM")
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// agentStatus is "edgetrust-agent status -o json" with the fields these
// tests need.
type agentStatus struct {
	AccessExpiresAt  time.Time `json:"access_expires_at"`
	EndpointID       string    `json:"endpoint_id"`
	State            string    `json:"state"`
	LastError        string    `json:"last_error"`
	HasAccessToken   bool      `json:"has_access_token"`
	UnreachableSince time.Time `json:"unreachable_since"`
	UpdatedAt        time.Time `json:"updated_at"`
}

func (a *agentProc) status(t *testing.T) agentStatus {
	t.Helper()
	cmd := exec.Command(bin("edgetrust-agent"), "status", "--state-dir", a.stateDir, "-o", "json")
	cmd.Env = childEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("edgetrust-agent status: %v", err)
	}
	var st agentStatus
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("status is not JSON: %v\n%s", err, out)
	}
	return st
}

func (a *agentProc) waitState(t *testing.T, state string, timeout time.Duration) agentStatus {
	t.Helper()
	var st agentStatus
	waitFor(t, timeout, "agent state "+state, func() bool {
		st = a.status(t)
		return st.State == state
	})
	return st
}

type loginAnswer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// login runs "edgetrust-agent login"; cred, when set, runs it as that user.
func (a *agentProc) login(cred *syscall.Credential, args ...string) (*loginAnswer, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin("edgetrust-agent"), append([]string{"login", "--socket", a.socket}, args...)...)
	cmd.Env = childEnv()
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, stderr.String(), err
	}
	var ans loginAnswer
	if err := json.Unmarshal(out, &ans); err != nil {
		return nil, string(out), fmt.Errorf("login output is not JSON: %w", err)
	}
	return &ans, "", nil
}

// claims decodes a JWT's payload without verifying it (the broker did).
func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	raw, err := decodeSegment(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
