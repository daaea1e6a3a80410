package console_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker"
)

// The console's tests run against a real broker (broker.Run, in this
// process) on 127.0.0.1 over HTTPS with its own certificate, driven by
// net/http clients and by headless Chromium (browser_test.go). One broker
// serves every test of the package; each test makes its own keys, users
// and endpoints, so they do not see each other's rows.

const adminPassword = "console-test-admin-pw"

// env is the shared broker.
type env struct {
	addr   string // 127.0.0.1:PORT
	base   string // https://127.0.0.1:PORT
	dir    string
	caFile string
	spki   string // base64 SHA-256 of the certificate's public key (Chromium)
	pool   *x509.CertPool
	admin  string // the admin's bearer token for API calls
	stop   func()
}

var (
	sharedOnce sync.Once
	sharedEnv  *env
	sharedErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedEnv != nil {
		sharedEnv.stop()
	}
	stopBrowser()
	os.Exit(code)
}

// lockedBuffer collects the broker's standard output.
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

// shared starts the broker once for the package.
func shared(t *testing.T) *env {
	t.Helper()
	sharedOnce.Do(func() { sharedEnv, sharedErr = startBroker() })
	if sharedErr != nil {
		t.Fatalf("starting the broker: %v", sharedErr)
	}
	return sharedEnv
}

func startBroker() (*env, error) {
	dir, err := os.MkdirTemp("", "console-test")
	if err != nil {
		return nil, err
	}
	out := &lockedBuffer{}
	b, err := broker.New(broker.Config{DataDir: dir, Listen: "127.0.0.1:0", BootstrapAdminPassword: adminPassword,
		Stdout: out, SweepInterval: time.Hour})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	e := &env{dir: dir, caFile: filepath.Join(dir, "tls", "broker.crt")}
	e.stop = func() {
		cancel()
		<-done
		os.RemoveAll(dir)
	}
	deadline := time.Now().Add(60 * time.Second)
	for e.addr == "" {
		for _, l := range strings.Split(out.String(), "\n") {
			if v, ok := strings.CutPrefix(l, "listening "); ok {
				e.addr = v
			}
		}
		select {
		case err := <-done:
			return nil, fmt.Errorf("broker stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			e.stop()
			return nil, fmt.Errorf("broker printed no listening line")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.base = "https://" + e.addr
	pemBytes, err := os.ReadFile(e.caFile)
	if err != nil {
		e.stop()
		return nil, err
	}
	blk, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		e.stop()
		return nil, err
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	e.spki = base64.StdEncoding.EncodeToString(sum[:])
	e.pool = x509.NewCertPool()
	e.pool.AddCert(cert)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if st, body := e.call(nil, "POST", "/api/v1/signin", "", map[string]string{"username": "admin", "password": adminPassword}, &tok); st != 200 {
		e.stop()
		return nil, fmt.Errorf("admin sign-in: %d %s", st, body)
	}
	e.admin = tok.AccessToken
	return e, nil
}

// client returns an HTTPS client that trusts the broker and keeps
// cookies; it does not follow redirects.
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:       jar,
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// call makes an API call with a bearer token (token "" = none) and a JSON
// body, decodes a 2xx answer into out and returns the status and body.
func (e *env) call(c *http.Client, method, path, token string, body, out any) (int, string) {
	if c == nil {
		c = e.client()
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		_ = json.Unmarshal(b, out)
	}
	return resp.StatusCode, string(b)
}

// api is call as the admin, failing the test on an answer that is not 2xx.
func (e *env) api(t *testing.T, method, path string, body, out any) {
	t.Helper()
	if st, b := e.call(nil, method, path, e.admin, body, out); st/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, st, b)
	}
}

type createdKey struct {
	ID    string `json:"id"`
	Value string `json:"value"`
}

// newKey creates a key as the admin; every key gets a unique name.
func (e *env) newKey(t *testing.T, extra map[string]any) createdKey {
	t.Helper()
	body := map[string]any{"name": t.Name() + "-" + uuid.NewString()[:8]}
	for k, v := range extra {
		body[k] = v
	}
	var k createdKey
	e.api(t, "POST", "/api/v1/keys", body, &k)
	return k
}

// newUser creates a user of the root account holding roles there.
func (e *env) newUser(t *testing.T, username string, roles ...string) {
	t.Helper()
	e.api(t, "POST", "/api/v1/users", map[string]any{"username": username, "password": "console-user-pw-1", "roles": roles}, nil)
}

// register registers a keyless endpoint over the OAuth device API and
// returns its id; extra are form fields (name, value, …) that replace the
// defaults.
func (e *env) register(t *testing.T, key, hostname string, extra ...string) string {
	t.Helper()
	id := uuid.NewString()
	form := url.Values{"client_id": {id}, "client_secret": {key}, "client_type": {"desktop_client"},
		"response_type": {"device_code"}, "hostname": {hostname}, "os": {"Linux"}, "version": {"1.2.3"},
		"client_description": {"registered by a test"}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	resp, err := e.client().Post(e.base+"/oauth/v1/register", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("registering %s: %d %s", hostname, resp.StatusCode, b)
	}
	return id
}

type endpointJSON struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

// endpoint reads one endpoint through the API.
func (e *env) endpoint(t *testing.T, id string) endpointJSON {
	t.Helper()
	var ep endpointJSON
	e.api(t, "GET", "/api/v1/endpoints/"+id, nil, &ep)
	return ep
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Binaries: the agent of the end-to-end tests, from EDGETRUST_BIN_DIR
// ('make test' builds it with -race) or built here once.
var (
	agentOnce sync.Once
	agentBin  string
	agentErr  error
)

func agentBinary(t *testing.T) string {
	t.Helper()
	agentOnce.Do(func() {
		if dir := os.Getenv("EDGETRUST_BIN_DIR"); dir != "" {
			agentBin = filepath.Join(dir, "edgetrust-agent")
			return
		}
		dir, err := os.MkdirTemp("", "console-agent")
		if err != nil {
			agentErr = err
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/edgetrust-agent")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			agentErr = fmt.Errorf("building the agent: %v\n%s", err, out)
			return
		}
		agentBin = filepath.Join(dir, "edgetrust-agent")
	})
	if agentErr != nil {
		t.Fatal(agentErr)
	}
	return agentBin
}

// agent is a running edgetrust-agent.
type agent struct {
	stateDir string
	cmd      *exec.Cmd
	log      *lockedBuffer
	done     chan struct{}
}

// startAgent starts a real agent with a manual key (EDGETRUST_API_KEY).
func (e *env) startAgent(t *testing.T, key, hostname string) *agent {
	t.Helper()
	bin := agentBinary(t)
	dir, err := os.MkdirTemp("", "cag")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	a := &agent{stateDir: filepath.Join(dir, "state"), log: &lockedBuffer{}, done: make(chan struct{})}
	a.cmd = exec.Command(bin, "run", "--broker", e.addr, "--state-dir", a.stateDir, "--broker-ca", e.caFile,
		"--socket", filepath.Join(dir, "agent.sock"), "--type", "desktop_client", "--description", hostname,
		"--min-backoff", "50ms", "--max-backoff", "1s", "--log-level", "debug")
	a.cmd.Env = append(os.Environ(), "EDGETRUST_API_KEY="+key, "GORACE=atexit_sleep_ms=0")
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		_ = a.cmd.Process.Signal(os.Interrupt)
		select {
		case <-a.done:
		case <-time.After(10 * time.Second):
			a.cmd.Process.Kill()
			<-a.done
		}
		if strings.Contains(a.log.String(), "WARNING: DATA RACE") || t.Failed() {
			t.Logf("agent log:\n%s", a.log)
		}
	})
	return a
}

// status reads "edgetrust-agent status -o json"; "" while it has none yet.
func (a *agent) status(t *testing.T) (endpointID, state string) {
	t.Helper()
	out, err := exec.Command(a.cmd.Path, "status", "--state-dir", a.stateDir, "-o", "json").Output()
	if err != nil {
		return "", ""
	}
	var st struct {
		EndpointID string `json:"endpoint_id"`
		State      string `json:"state"`
	}
	if json.Unmarshal(out, &st) != nil {
		return "", ""
	}
	return st.EndpointID, st.State
}
