package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// brokerProc is a running edgetrust-broker with a signed-in admin.
type brokerProc struct {
	cmd     *exec.Cmd
	dataDir string
	addr    string // 127.0.0.1:PORT, UDP (agents) and TCP (API)
	caFile  string
	logPath string
	done    chan struct{}

	password string // the admin's

	hc    *http.Client
	api   *api.Client
	token string
}

// startBroker starts bin on a new data directory under dir, listening on a
// free loopback port, waits for its "listening" line and signs the admin in.
// password is the admin's (brokers sharing a database share it); empty
// means a new random one.
func startBroker(ctx context.Context, bin, dir, password string, extraArgs []string) (*brokerProc, error) {
	return startBrokerAt(ctx, bin, dir, "127.0.0.1:0", password, extraArgs)
}

// restart stops b and starts bin again on the same data directory and
// address (the reconnect storm); the log goes on in the same file. A
// broker that does not stop within 15 s of SIGTERM is killed (stop) and
// started again all the same, as a service manager would: killed says so,
// stopped is when the old process had ended.
func (b *brokerProc) restart(ctx context.Context, bin string, extraArgs []string) (nb *brokerProc, killed bool, stopped time.Time, err error) {
	killed = b.stop() != nil
	<-b.done
	stopped = time.Now()
	nb, err = startBrokerAt(ctx, bin, filepath.Dir(b.dataDir), b.addr, b.password, extraArgs)
	return nb, killed, stopped, err
}

// startBrokerAt is startBroker listening on listen.
func startBrokerAt(ctx context.Context, bin, dir, listen, password string, extraArgs []string) (*brokerProc, error) {
	b := &brokerProc{dataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "broker.log"), done: make(chan struct{})}
	b.caFile = filepath.Join(b.dataDir, "tls", "broker.crt")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(b.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	if password == "" {
		password = newPassword()
	}
	b.password = password

	// The broker runs with its shipped defaults (log level info included).
	args := append([]string{"serve", "--data-dir", b.dataDir, "--listen", listen}, extraArgs...)
	b.cmd = exec.Command(bin, args...)
	b.cmd.Env = append(os.Environ(), "EDGETRUST_BOOTSTRAP_ADMIN_PASSWORD="+password)
	b.cmd.Stderr = logf
	dieWithParent(b.cmd)
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := b.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		b.cmd.Wait()
		logf.Close()
		close(b.done)
	}()
	timeout := time.After(60 * time.Second)
	for b.addr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				return nil, fmt.Errorf("broker exited before listening; see %s:\n%s", b.logPath, b.logTail(2000))
			}
			if v, ok := strings.CutPrefix(l, "listening "); ok {
				b.addr = v
			}
		case <-timeout:
			b.stop()
			return nil, fmt.Errorf("broker did not print its listening line within 60s; see %s", b.logPath)
		case <-ctx.Done():
			b.stop()
			return nil, ctx.Err()
		}
	}
	go func() {
		for range lines {
		}
	}()
	if err := b.signIn(ctx, password); err != nil {
		b.stop()
		return nil, err
	}
	return b, nil
}

// newPassword returns a random admin password.
func newPassword() string {
	pw := make([]byte, 24)
	rand.Read(pw)
	return base64.RawURLEncoding.EncodeToString(pw)
}

func (b *brokerProc) pid() int { return b.cmd.Process.Pid }

func (b *brokerProc) logTail(n int) string {
	data, _ := os.ReadFile(b.logPath)
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}

// stop ends the broker with SIGTERM, killing it after 15s.
func (b *brokerProc) stop() error {
	select {
	case <-b.done:
		return nil
	default:
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
		return nil
	case <-time.After(15 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
		return errors.New("broker did not stop within 15s of SIGTERM")
	}
}

func (b *brokerProc) signIn(ctx context.Context, password string) error {
	pem, err := os.ReadFile(b.caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no certificate", b.caFile)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64}
	b.hc = &http.Client{Transport: tr, Timeout: 60 * time.Second}
	b.api = api.New("https://"+b.addr, b.hc)
	tok, err := b.api.SignIn(ctx, api.SignInRequest{Username: "admin", Password: password})
	if err != nil {
		return fmt.Errorf("signing in as admin: %w", err)
	}
	b.token = tok.AccessToken
	b.api.SetToken(tok.AccessToken)
	return b.setPendingCaps(ctx)
}

// benchPendingCap is the cap on pending registrations (SPEC R8) the bench
// sets on the root account, per key value and per account: its runs queue
// more than the defaults (10,000 and 50,000) would let wait, and a
// benchmark states its limits rather than inheriting them.
const benchPendingCap = 10_000_000

// setPendingCaps sets benchPendingCap on the root account (an
// administrator of the root account controls its own caps).
func (b *brokerProc) setPendingCaps(ctx context.Context) error {
	accts, err := b.api.ListAccounts(ctx)
	if err != nil {
		return fmt.Errorf("listing accounts: %w", err)
	}
	for _, a := range accts {
		if a.ParentID != "" {
			continue
		}
		st := a.Settings
		st.PendingPerKeyValue, st.PendingPerAccount = benchPendingCap, benchPendingCap
		if _, err := b.api.UpdateAccount(ctx, a.ID, api.UpdateAccountRequest{Settings: &st}); err != nil {
			return fmt.Errorf("setting the pending caps of account %s: %w", a.ID, err)
		}
	}
	return nil
}

// createKey creates an API key and returns its value.
func (b *brokerProc) createKey(ctx context.Context, name string, autoTrust bool) (string, error) {
	k, err := b.api.CreateKey(ctx, api.CreateKeyRequest{Name: name, AutoTrust: autoTrust})
	if err != nil {
		return "", fmt.Errorf("creating key %s: %w", name, err)
	}
	return k.Value, nil
}

// bulkResult is the answer of POST /api/v1/endpoints/bulk.
type bulkResult struct {
	Results []struct {
		ID      string `json:"id"`
		Outcome string `json:"outcome"`
		State   string `json:"state"`
		Error   string `json:"error"`
	} `json:"results"`
	OK     int `json:"ok"`
	Failed int `json:"failed"`
}

// errNoBulkRoute means the broker has no bulk endpoint route.
var errNoBulkRoute = errors.New("the broker has no bulk route")

// bulkApprove approves ids with one POST /api/v1/endpoints/bulk. It returns
// errNoBulkRoute when the broker answers 404 or 405.
func (b *brokerProc) bulkApprove(ctx context.Context, ids []string) error {
	body, _ := json.Marshal(map[string]any{"action": api.ActionApprove, "ids": ids})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+b.addr+"/api/v1/endpoints/bulk", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := b.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return errNoBulkRoute
	default:
		return fmt.Errorf("bulk approval: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(data)))
	}
	var res bulkResult
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("bulk approval answer: %w", err)
	}
	if res.OK != len(ids) || res.Failed != 0 {
		return fmt.Errorf("bulk approval: %d ok, %d failed of %d", res.OK, res.Failed, len(ids))
	}
	return nil
}

// rssKiB returns the resident set size of process pid in KiB.
func rssKiB(pid int) (int64, error) {
	if v := procField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS", ":"); v != "" {
		return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
	}
	// Not Linux: ps reports RSS in KiB on Linux, macOS and the BSDs.
	out, err := exec.Command("ps", "-o", "rss=", "-p", strconv.Itoa(pid)).Output()
	if err != nil {
		return 0, fmt.Errorf("reading RSS of %d: %w", pid, err)
	}
	return strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
}

// settledRSS waits until pid's RSS stops changing (within 1% over two
// seconds, at most 15s) and returns it.
func settledRSS(ctx context.Context, pid int) (int64, error) {
	var hist []int64
	deadline := time.Now().Add(15 * time.Second)
	for {
		v, err := rssKiB(pid)
		if err != nil {
			return 0, err
		}
		hist = append(hist, v)
		if len(hist) >= 9 { // 2 s of 250 ms samples
			w := hist[len(hist)-9:]
			lo, hi := w[0], w[0]
			for _, x := range w {
				lo, hi = min(lo, x), max(hi, x)
			}
			if float64(hi-lo) <= 0.01*float64(hi) || time.Now().After(deadline) {
				return v, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// procCPU returns the user+system CPU time process pid has used.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after it are plain.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat")
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// cpuMeter measures the CPU time server processes (together) and this
// process (the simulated agents) spend on a phase.
type cpuMeter struct {
	pids        []int
	server, own time.Duration
	ok          bool
}

func startCPU(pids ...int) *cpuMeter {
	m := &cpuMeter{pids: pids}
	var err error
	m.server, err = procsCPU(pids)
	m.own = selfCPU()
	m.ok = err == nil
	return m
}

// procsCPU returns the CPU time the processes pids have used together.
func procsCPU(pids []int) (time.Duration, error) {
	var sum time.Duration
	for _, pid := range pids {
		d, err := procCPU(pid)
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// perOp returns the servers' and this process's CPU milliseconds per
// operation since startCPU; zeros where CPU time cannot be read.
func (m *cpuMeter) perOp(n int) (server, agents float64) {
	if n <= 0 {
		return 0, 0
	}
	if s, err := procsCPU(m.pids); err == nil && m.ok {
		server = ms((s - m.server) / time.Duration(n))
	}
	agents = ms((selfCPU() - m.own) / time.Duration(n))
	return server, agents
}
