package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"
	"github.com/quic-go/quic-go"

	"github.com/edgetrust/edgetrust/broker/agentapi"
	"github.com/edgetrust/edgetrust/broker/store/postgres/postgrestest"
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
		{"a PostgreSQL store", []string{"--store", "postgres://bench@127.0.0.1:5432/edgetrust?sslmode=disable"},
			config{store: "postgres://bench@127.0.0.1:5432/edgetrust?sslmode=disable", agents: 2000, conc: 32, logins: 10000, trials: 200, bulk: 1000, fleet: 10000, refTime: 3 * time.Second}},
		{"fleet scale", []string{"--fleet-scale", "--scale-agents", "5000", "--storm-agents", "300", "--per-socket", "100"},
			config{fleetScale: true, scaleAgents: 5000, stormAgents: 300, perSocket: 100, agents: 2000, conc: 32, logins: 10000, trials: 200, bulk: 1000, fleet: 10000, refTime: 3 * time.Second}},
		{"fleet scale with the agent's keep-alive", []string{"--fleet-scale", "--scale-keep-alive", "0"},
			config{fleetScale: true, scaleKeepAlive: -1, agents: 2000, conc: 32, logins: 10000, trials: 200, bulk: 1000, fleet: 10000, refTime: 3 * time.Second}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseFlags(append(c.args, "--broker-bin", bin), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			c.want.brokerBin = bin
			if c.want.scaleAgents == 0 { // the --fleet-scale sizes, unless the case sets them
				c.want.scaleAgents, c.want.stormAgents, c.want.perSocket = 100000, 10000, 2000
			}
			switch c.want.scaleKeepAlive {
			case 0:
				c.want.scaleKeepAlive = 25 * time.Second
			case -1:
				c.want.scaleKeepAlive = 0
			}
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
		{"keep-alive past half the idle timeout", []string{"--broker-bin", bin, "--fleet-scale", "--scale-keep-alive", "45s"}, "--scale-keep-alive 45s"},
		{"quick is SQLite only", []string{"--broker-bin", bin, "--quick", "--store", "postgres://127.0.0.1/db"}, "--store with --quick"},
		{"fleet scale is never quick", []string{"--broker-bin", bin, "--quick", "--fleet-scale"}, "--fleet-scale measures the fleet at scale"},
		{"zero storm agents", []string{"--broker-bin", bin, "--fleet-scale", "--storm-agents", "0"}, "--storm-agents 0: want at least 1"},
		{"store not PostgreSQL", []string{"--broker-bin", bin, "--store", "mysql://u:secret@127.0.0.1/db"}, "--store mysql://u:xxxxx@127.0.0.1/db: want postgres://"},
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
			if strings.Contains(stderr.String(), "secret") {
				t.Errorf("stderr %q shows a password", stderr.String())
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

// tinyArgs is a run that takes seconds.
var tinyArgs = []string{"--agents", "20", "--fleet", "50", "--trials", "5", "--bulk", "20", "--logins", "60", "--concurrency", "8", "--ref-time", "100ms"}

// runTiny runs the bench at tinyArgs' size plus extra against a real
// broker and returns its standard output and error and its JSON report.
func runTiny(t *testing.T, extra ...string) (stdout, stderr string, report []byte) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts brokers and a bare echo server")
	}
	bin := brokerBin(t)
	jsonPath := filepath.Join(t.TempDir(), "bench.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	args := append([]string{"--broker-bin", bin, "--work-dir", t.TempDir(), "--json", jsonPath}, tinyArgs...)
	if code := run(ctx, append(args, extra...), &out, &errOut); code != 0 {
		t.Fatalf("edgetrust-bench exited %d\nstderr:\n%s", code, errOut.String())
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), data
}

// TestBenchTiny runs every phase end to end against a real broker process,
// at a size that takes seconds, and checks the table and the JSON contract.
// It checks that each phase measured something, never how fast it was.
// Without --store it says the PostgreSQL phases were not measured.
func TestBenchTiny(t *testing.T) {
	stdout, stderr, data := runTiny(t)
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
	for _, want := range []string{"registrations (new conn + HELLO + REGISTER)", "targets:", "TLS key exchange: agents ",
		"PostgreSQL store", "not measured (no --store)", "PostgreSQL: not measured: no --store"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	for _, want := range []string{"registration storm: 20 agents", "broker fleet: 50 idle agents"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("progress lacks %q:\n%s", want, stderr)
		}
	}
	var doc struct {
		Results map[string]any `json:"results"`
		Notes   struct {
			Postgres string `json:"postgres"`
		} `json:"notes"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range pgResults {
		if v, ok := doc.Results[k]; ok {
			t.Errorf("results.%s = %v without --store, want it absent", k, v)
		}
	}
	if !strings.HasPrefix(doc.Notes.Postgres, "not measured") {
		t.Errorf("notes.postgres = %q, want it to say not measured", doc.Notes.Postgres)
	}
}

// pgResults are the results of the PostgreSQL phases.
var pgResults = []string{
	"pg1_registrations_per_s", "pg1_register_p50_ms", "pg1_register_p99_ms", "pg1_logins_per_s", "pg1_login_p50_ms", "pg1_login_p99_ms",
	"pg3_registrations_per_s", "pg3_register_p50_ms", "pg3_register_p99_ms", "pg3_logins_per_s", "pg3_login_p50_ms", "pg3_login_p99_ms",
	"propagation_approve_p50_ms", "propagation_approve_p99_ms", "propagation_approve_max_ms", "propagation_approve_api_p50_ms",
	"propagation_untrust_p50_ms", "propagation_untrust_p99_ms", "propagation_untrust_max_ms", "propagation_untrust_api_p50_ms",
	"pg3_local_approve_p50_ms", "pg3_local_approve_p99_ms", "pg3_local_untrust_p50_ms", "pg3_local_untrust_p99_ms",
	"pg1_registration_cpu_ratio", "pg1_login_cpu_ratio", "pg3_registration_cpu_ratio", "pg3_login_cpu_ratio",
}

// TestBenchTinyPostgres runs the bench with --store on the test server
// (EDGETRUST_TEST_POSTGRES): one broker and then three on PostgreSQL, each
// phase measuring something, shown next to SQLite, the password kept out
// of the report, and the bench's schemas dropped at the end.
func TestBenchTinyPostgres(t *testing.T) {
	server := postgrestest.ServerURL(t)
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	// A password the server does not check (it trusts local connections):
	// the report must not show it.
	u.User = url.UserPassword(u.User.Username(), "bench-secret-pw")
	before := benchSchemas(t, server)
	stdout, stderr, data := runTiny(t, "--store", u.String())
	got := checkShape(t, data)
	var doc struct {
		Results map[string]float64 `json:"results"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range pgResults {
		if doc.Results[k] <= 0 {
			t.Errorf("results.%s = %v, want > 0 (the phase measured nothing)", k, doc.Results[k])
		}
	}
	if got["registrations_per_s"] <= 0 {
		t.Errorf("the SQLite phases did not run: registrations_per_s = %v", got["registrations_per_s"])
	}
	for _, want := range []string{"registrations, PostgreSQL, 1 broker", "session logins, PostgreSQL, 3 brokers",
		"approve on broker A -> agent on B knows", "untrust on broker A -> agent on B knows", "SQLite ", "PostgreSQL: PostgreSQL ", "fsync="} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	for _, want := range []string{"PostgreSQL broker 3 of 3", "registration storm: 20 agents, 8 at a time, automatic-trust key, spread over 3 brokers",
		"cross-broker pushes: 5 pending agents"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("progress lacks %q:\n%s", want, stderr)
		}
	}
	for name, out := range map[string]string{"table": stdout, "progress": stderr, "JSON": string(data)} {
		if strings.Contains(out, "bench-secret-pw") {
			t.Errorf("the %s shows the store's password", name)
		}
	}
	if diff := cmp.Diff(before, benchSchemas(t, server)); diff != "" {
		t.Errorf("schemas bench_* before and after the run differ; the bench left some (-before +after):\n%s", diff)
	}
}

// benchSchemas lists the schemas named like the bench's on server.
func benchSchemas(t *testing.T, server string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	rows, err := c.Query(ctx, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench\\_%' ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}
