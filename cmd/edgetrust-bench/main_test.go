package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/quic-go/quic-go"

	"github.com/edgetrust/edgetrust/broker/agentapi"
)

// TestMain lets the test binary stand in for the bench binary as the bare
// echo server child, which the bench starts by re-running itself.
func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == roleEcho {
		if err := echoServerMain(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bare echo server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// brokerBin returns a built edgetrust-broker: EDGETRUST_BIN_DIR's (make
// test builds it there) or one built now.
func brokerBin(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("EDGETRUST_BIN_DIR"); dir != "" {
		return filepath.Join(dir, "edgetrust-broker")
	}
	out := t.TempDir()
	cmd := exec.Command("go", "build", "-o", out+"/", "../edgetrust-broker")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building edgetrust-broker: %v\n%s", err, b)
	}
	return filepath.Join(out, "edgetrust-broker")
}

func TestParseFlags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "edgetrust-broker")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want config
	}{
		{"defaults are the issue's sizes", nil,
			config{agents: 2000, conc: 32, logins: 10000, trials: 200, bulk: 1000, fleet: 10000, refTime: 3 * time.Second}},
		{"quick is smaller", []string{"--quick"},
			config{quick: true, agents: 500, conc: 32, logins: 2000, trials: 50, bulk: 1000, fleet: 2000, refTime: time.Second}},
		{"explicit sizes win over quick", []string{"--quick", "--agents", "20", "--fleet", "50", "--trials", "5", "--ref-time", "200ms"},
			config{quick: true, agents: 20, conc: 32, logins: 2000, trials: 5, bulk: 1000, fleet: 50, refTime: 200 * time.Millisecond}},
		{"json file", []string{"--json", "out.json", "--logins", "7"},
			config{jsonPath: "out.json", agents: 2000, conc: 32, logins: 7, trials: 200, bulk: 1000, fleet: 10000, refTime: 3 * time.Second}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseFlags(append(c.args, "--broker-bin", bin), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			c.want.brokerBin = bin
			if diff := cmp.Diff(c.want, got, cmp.AllowUnexported(config{})); diff != "" {
				t.Errorf("parseFlags(%q) (-want +got):\n%s", c.args, diff)
			}
		})
	}
	bad := []struct {
		name string
		args []string
		want string
	}{
		{"zero agents", []string{"--agents", "0", "--broker-bin", bin}, "--agents 0: want at least 1"},
		{"missing broker", []string{"--broker-bin", filepath.Join(t.TempDir(), "nope")}, "broker binary"},
		{"stray argument", []string{"--broker-bin", bin, "extra"}, "no arguments expected"},
		{"unknown flag", []string{"--bogus"}, "unknown flag"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(context.Background(), c.args, &bytes.Buffer{}, &stderr); code != 2 {
				t.Errorf("exit status %d, want 2; stderr: %s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), c.want) {
				t.Errorf("stderr %q does not say %q", stderr.String(), c.want)
			}
		})
	}
}

// TestQUICConfigMatchesBroker keeps the bare reference's QUIC settings equal
// to the broker's.
func TestQUICConfigMatchesBroker(t *testing.T) {
	if diff := cmp.Diff(agentapi.QUICConfig(), serverQUICConfig(), cmpopts.IgnoreUnexported(quic.Config{})); diff != "" {
		t.Errorf("bare server QUIC config differs from the broker's (-broker +bare):\n%s", diff)
	}
}

// TestImportsNoBrokerPackage: the bench sees the broker as a user does.
func TestImportsNoBrokerPackage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/edgetrust/edgetrust/broker") {
			t.Errorf("edgetrust-bench imports %s", pkg)
		}
	}
}

// TestBenchTiny runs every phase end to end against a real broker process,
// at a size that takes seconds, and checks the table and the JSON contract.
// It checks that each phase measured something, never how fast it was.
func TestBenchTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts brokers and a bare echo server")
	}
	bin := brokerBin(t)
	jsonPath := filepath.Join(t.TempDir(), "bench.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	args := []string{"--broker-bin", bin, "--work-dir", t.TempDir(), "--json", jsonPath,
		"--agents", "20", "--fleet", "50", "--trials", "5", "--bulk", "20", "--logins", "60", "--concurrency", "8", "--ref-time", "100ms"}
	if code := run(ctx, args, &stdout, &stderr); code != 0 {
		t.Fatalf("edgetrust-bench exited %d\nstderr:\n%s", code, stderr.String())
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	got := checkShape(t, data)
	for _, k := range []string{"handshakes_per_s", "registrations_per_s", "registration_ratio", "logins_per_s",
		"login_crypto_ratio", "approve_p50_ms", "approve_p99_ms", "bulk_approve_ms", "untrust_p99_ms"} {
		if got[k] <= 0 {
			t.Errorf("results.%s = %v, want > 0 (the phase measured nothing)", k, got[k])
		}
	}
	if got["approve_p50_ms"] > got["approve_p99_ms"] {
		t.Errorf("approve p50 %v > p99 %v", got["approve_p50_ms"], got["approve_p99_ms"])
	}
	for _, want := range []string{"registrations (new conn + HELLO + REGISTER)", "targets:", "TLS key exchange: agents "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
	for _, want := range []string{"registration storm: 20 agents", "broker fleet: 50 idle agents"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, stderr.String())
		}
	}
}
