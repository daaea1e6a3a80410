package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/postgres"
	"github.com/edgetrust/edgetrust/broker/store/postgres/postgrestest"
)

func TestUsage(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string // substring
		stderr string // substring
	}{
		{"no command", nil, 2, "", "no command given"},
		{"unknown command", []string{"launch"}, 2, "", `unknown command "launch"`},
		{"unknown flag", []string{"serve", "--colour"}, 2, "", "unknown flag: --colour"},
		{"flag before the command", []string{"--nope", "serve"}, 2, "", "unknown flag: --nope"},
		{"extra argument", []string{"serve", "now"}, 2, "", "serve takes no arguments"},
		{"bad log level", []string{"serve", "--log-level", "loud"}, 2, "", "--log-level"},
		{"ttl too short", []string{"serve", "--device-token-ttl", "1s"}, 2, "", "--device-token-ttl"},
		{"help", []string{"--help"}, 0, "Usage:", ""},
		{"version", []string{"--version"}, 0, "edgetrust-broker dev\n", ""},
		{"version after the command", []string{"serve", "--version"}, 0, "edgetrust-broker dev\n", ""},
		{"serve help after the command", []string{"serve", "--help"}, 0, "--data-dir", ""},
		{"serve help before the command", []string{"-h", "serve"}, 0, "initial-admin-password", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), c.args, &out, &errb, func(string) string { return "" })
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, c.code, errb.String())
			}
			if !strings.Contains(out.String(), c.stdout) || !strings.Contains(errb.String(), c.stderr) {
				t.Fatalf("stdout %q, stderr %q; want %q / %q", out.String(), errb.String(), c.stdout, c.stderr)
			}
			if c.code == 2 {
				lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
				if last := lines[len(lines)-1]; !strings.HasPrefix(last, "edgetrust-broker: ") {
					t.Fatalf("error line %q", last)
				}
			}
		})
	}
}

// A rejected command line is a usage error (exit 2) that creates nothing:
// every flag is checked before the data directory is touched.
func TestRejectedCommandCreatesNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"listen without a port", []string{"--listen", "nope"}, "--listen"},
		{"listen with a bad port", []string{"--listen", "127.0.0.1:99999"}, "--listen"},
		{"listen with a service name", []string{"--listen", "127.0.0.1:https"}, "--listen"},
		{"bad certificate name", []string{"--tls-san", "bad name"}, "--tls-san"},
		{"bad trusted proxy", []string{"--trusted-proxy", "10.0.0.0/99"}, "--trusted-proxy"},
		{"empty data dir", []string{"--data-dir="}, "--data-dir"},
		{"bad log level", []string{"--log-level", "loud"}, "--log-level"},
		{"store of another kind", []string{"--store", "mysql://db.example/edgetrust"}, "--store"},
		{"store without a host", []string{"--store", "postgres:///edgetrust"}, "--store"},
		{"webhook prefix without a length", []string{"--webhook-allow-cidr", "10.0.0.0"}, "--webhook-allow-cidr"},
		{"webhook CA missing", []string{"--webhook-ca", "/nonexistent/receivers.pem"}, "--webhook-ca"},
		{"metrics address without a port", []string{"--metrics-listen", "127.0.0.1"}, "--metrics-listen"},
		{"JWKS max-age too short", []string{"--jwks-max-age", "1s"}, "--jwks-max-age"},
		{"key rotation too often", []string{"--signing-key-rotation", "5m"}, "--signing-key-rotation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			args := append([]string{"serve", "--data-dir", dir}, tc.args...)
			var out, errb bytes.Buffer
			code := run(context.Background(), args, &out, &errb, func(string) string { return "" })
			if code != 2 || !strings.Contains(errb.String(), tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want 2 naming %s", code, errb.String(), tc.stderr)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("the rejected command created %s: %v", dir, err)
			}
		})
	}
}

// A failure to start is one line on stderr and exit status 1.
func TestStartFailureIsOneLine(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"serve", "--data-dir", filepath.Join(file, "sub"), "--listen", "127.0.0.1:0"}, &out, &errb, func(string) string { return "" })
	if code != 1 || strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 || !strings.HasPrefix(errb.String(), "edgetrust-broker: ") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

// serve with global flags after the command starts, prints its two lines,
// and stops cleanly (exit 0) when its context ends.
func TestServeFlagsAfterCommandAndCleanStop(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	var errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dir, "--log-level", "warn"}, out, &errb,
			func(k string) string {
				if k == "EDGETRUST_BOOTSTRAP_ADMIN_PASSWORD" {
					return "broker-main-test-pw"
				}
				return ""
			})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "listening ") {
		if time.Now().After(deadline) {
			t.Fatalf("no listening line; stdout %q stderr %q", out.String(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !regexp.MustCompile(`(?m)^fingerprint sha256:[0-9a-f]{64}$`).MatchString(out.String()) {
		t.Fatalf("stdout %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "initial-admin-password")); !os.IsNotExist(err) {
		t.Fatalf("a password from the environment was written to disk: %v", err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after cancel; stderr %q", code, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

// The broker's log lines carry RFC 3339 UTC timestamps, as the agent's do
// (not zap's epoch floats), whatever the host's time zone.
func TestLogTimestampsAreRFC3339UTC(t *testing.T) {
	var buf syncBuffer
	log := newLogger(zapcore.InfoLevel, &buf)
	at := time.Date(2026, 5, 1, 14, 0, 0, 123e6, time.FixedZone("UTC+2", 2*60*60))
	if err := log.Core().Write(zapcore.Entry{Level: zapcore.InfoLevel, Time: at, Message: "hello"}, nil); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &line); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	if line["ts"] != "2026-05-01T12:00:00.123Z" {
		t.Fatalf("ts = %v, want 2026-05-01T12:00:00.123Z (line %s)", line["ts"], buf.String())
	}
}

// A bad EDGETRUST_STORE is a usage error that names the variable and never
// repeats its value (a URL may hold a password); --store overrides it.
func TestStoreFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"bad value", nil, "EDGETRUST_STORE"},
		{"flag wins", []string{"--store", "ftp://u:s3cret@host/"}, "--store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"serve", "--data-dir", dir}, tc.args...), &out, &errb, func(k string) string {
				if k == "EDGETRUST_STORE" {
					return "mysql://user:s3cret@db.example/edgetrust"
				}
				return ""
			})
			if code != 2 || !strings.Contains(errb.String(), tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want 2 naming %s", code, errb.String(), tc.stderr)
			}
			if strings.Contains(errb.String(), "s3cret") {
				t.Errorf("stderr repeats the store's password: %q", errb.String())
			}
		})
	}
}

// serve --store postgres://… (or EDGETRUST_STORE) keeps the registry in
// PostgreSQL: it serves, and the data directory holds no SQLite database.
func TestServeOnPostgres(t *testing.T) {
	for _, how := range []string{"flag", "env"} {
		t.Run(how, func(t *testing.T) {
			url := postgrestest.URL(t)
			dir := t.TempDir()
			keyFile := filepath.Join(t.TempDir(), "cluster.key")
			if err := os.WriteFile(keyFile, []byte("q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dir, "--log-level", "warn"}
			if how == "flag" {
				args = append(args, "--store", url)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := &syncBuffer{}
			var errb syncBuffer
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, args, out, &errb, func(k string) string {
					switch {
					case k == "EDGETRUST_BOOTSTRAP_ADMIN_PASSWORD":
						return "broker-main-test-pw"
					case k == "EDGETRUST_STORE" && how == "env":
						return url
					case k == "EDGETRUST_CLUSTER_KEY_FILE":
						return keyFile
					}
					return ""
				})
			}()
			addr := ""
			deadline := time.Now().Add(60 * time.Second)
			for addr == "" {
				if m := regexp.MustCompile(`(?m)^listening (\S+)$`).FindStringSubmatch(out.String()); m != nil {
					addr = m[1]
					break
				}
				select {
				case code := <-done:
					t.Fatalf("serve exited %d before listening; stderr %q", code, errb.String())
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("no listening line; stdout %q stderr %q", out.String(), errb.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a throwaway broker's own certificate
			resp, err := client.Get("https://" + addr + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET /readyz = %d", resp.StatusCode)
			}
			if _, err := os.Stat(filepath.Join(dir, "edgetrust.db")); !os.IsNotExist(err) {
				t.Errorf("the data directory holds an SQLite database: %v", err)
			}
			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Fatalf("exit %d after cancel; stderr %q", code, errb.String())
				}
			case <-time.After(15 * time.Second):
				t.Fatal("serve did not stop")
			}
			s, err := postgres.Open(context.Background(), postgres.Config{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var accounts []registry.Account
			if err := s.View(context.Background(), func(tx registry.Tx) error {
				accounts, err = tx.ListAccounts()
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if len(accounts) == 0 {
				t.Error("the broker bootstrapped no account in PostgreSQL")
			}
		})
	}
}

// With a PostgreSQL store, serve needs a way to share one TLS identity: a
// cluster key file (flag or environment) or the operator's certificate;
// the key file must hold a key (issue 14, point 2).
func TestClusterFlags(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "cluster.key")
	if err := os.WriteFile(good, []byte("q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte("c2hvcnQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                  string
		store, key, env, cert string
		wantErr               string // "" = accepted
		wantKey               bool
	}{
		{"sqlite, nothing", "", "", "", "", "", false},
		{"postgres, nothing", "postgres://u@h:5432/db?sslmode=disable", "", "", "", "--store postgres://... needs --cluster-key-file FILE", false},
		{"postgresql, nothing", "postgresql://u@h/db", "", "", "", "needs --cluster-key-file", false},
		{"postgres, key file", "postgres://u@h/db", good, "", "", "", true},
		{"postgres, key file from the environment", "postgres://u@h/db", "", good, "", "", true},
		{"postgres, operator's certificate", "postgres://u@h/db", "", "", "c.pem", "", false},
		{"short key", "postgres://u@h/db", short, "", "", "--cluster-key-file: the cluster key in " + short + " holds 5 bytes", false},
		{"short key from the environment", "", "", short, "", "EDGETRUST_CLUSTER_KEY_FILE: ", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tlsKey := ""
			if tc.cert != "" {
				tlsKey = "k.pem"
			}
			key, from := tc.key, "--cluster-key-file"
			if tc.env != "" { // as loadConfig leaves it: the value, and where it came from
				key, from = tc.env, "EDGETRUST_CLUSTER_KEY_FILE"
			}
			cl, err := clusterFlags(tc.store, key, from, tc.cert, tlsKey, 30*time.Second)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
			} else {
				var ue usageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want a usage error with %q", err, tc.wantErr)
				}
			}
			if (len(cl.key) >= 32) != tc.wantKey {
				t.Errorf("key read: %d bytes", len(cl.key))
			}
		})
	}
}
