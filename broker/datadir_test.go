package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{":7443", true},
		{"0.0.0.0:7443", true},
		{"127.0.0.1:0", true},
		{"[::]:7443", true},
		{"[::1]:65535", true},
		{"[fe80::1%eth0]:7443", true},
		{"localhost:7443", true},
		{"broker.example.com:7443", true},
		{"nope", false},
		{"", false},
		{"127.0.0.1", false},
		{"127.0.0.1:", false},
		{"127.0.0.1:65536", false},
		{"127.0.0.1:-1", false},
		{"127.0.0.1:https", false},
		{"127.0.0.1:+80", false},
		{"bad_host!:7443", false},
		{"-lead.example:7443", false},
		{"::1:7443", false},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			err := CheckListen(tc.addr)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckListen(%q) = %v, want ok %v", tc.addr, err, tc.ok)
			}
		})
	}
}

func TestCheckSAN(t *testing.T) {
	for name, ok := range map[string]bool{"broker.example.com": true, "*.example.com": true, "10.0.0.1": true, "::1": true,
		"": false, "bad name": false, "a/b": false, "*": false} {
		if err := CheckSAN(name); (err == nil) != ok {
			t.Errorf("CheckSAN(%q) = %v, want ok %v", name, err, ok)
		}
	}
}

// A bad listen address is refused by New, before Run could create anything.
func TestNewRefusesBadListen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := New(Config{DataDir: dir, Listen: "nope"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("New with --listen nope: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the data dir exists after a refused New: %v", err)
	}
}

// lockedWriter is a bytes.Buffer safe for the broker and the test at once.
type lockedWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *lockedWriter) String() string { w.mu.Lock(); defer w.mu.Unlock(); return w.buf.String() }

// startBroker runs a broker on cfg.DataDir until the returned stop is
// called; it returns once the broker listens, with its address.
func startBroker(t *testing.T, cfg Config) (addr string, stop func() error) {
	t.Helper()
	out := &lockedWriter{}
	cfg.Listen, cfg.Stdout, cfg.BootstrapAdminPassword, cfg.ShutdownGrace = "127.0.0.1:0", out, "datadir-test-password", 100*time.Millisecond
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "listening ") {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("the broker stopped before listening: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the broker did not listen; stdout %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	_, rest, _ := strings.Cut(out.String(), "listening ")
	addr, _, _ = strings.Cut(rest, "\n")
	return addr, stop
}

// snapshot lists dir's files with their sizes and times, to see that a
// refused broker changed nothing.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		m[rel] = fi.Mode().String() + " " + strconv.FormatInt(fi.Size(), 10) + " " + fi.ModTime().String()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Two brokers on one data directory: the second fails with
// ErrDataDirInUse, names the first's PID, and changes nothing there; once
// the first stops, the directory is free again.
func TestSecondBrokerOnOneDataDirFails(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the broker runs on Linux")
	}
	dir := filepath.Join(t.TempDir(), "data")
	_, stop := startBroker(t, Config{DataDir: dir})
	pid, err := os.ReadFile(filepath.Join(dir, LockFile))
	if err != nil || strings.TrimSpace(string(pid)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("lock file holds %q (%v), want this PID %d", pid, err, os.Getpid())
	}
	before := snapshot(t, dir)

	second, err := New(Config{DataDir: dir, Listen: "127.0.0.1:0", BootstrapAdminPassword: "datadir-test-password"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = second.Run(ctx)
	if !errors.Is(err, ErrDataDirInUse) || !strings.Contains(err.Error(), "PID "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second broker on the same data dir: %v; want ErrDataDirInUse naming PID %d", err, os.Getpid())
	}
	if d := cmp.Diff(before, snapshot(t, dir)); d != "" {
		t.Errorf("the refused broker changed the data dir (-before +after):\n%s", d)
	}

	if err := stop(); err != nil {
		t.Fatalf("first broker: %v", err)
	}
	startBroker(t, Config{DataDir: dir}) // the lock went with the first broker
}

// /healthz names the broker's version.
func TestHealthzNamesVersion(t *testing.T) {
	dir := t.TempDir()
	addr, _ := startBroker(t, Config{DataDir: dir, Version: "1.2.3-test"})
	pem, err := os.ReadFile(filepath.Join(dir, "tls", "broker.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]string{"status": "ok", "version": "1.2.3-test"}, got); d != "" {
		t.Errorf("/healthz (-want +got):\n%s", d)
	}
}
