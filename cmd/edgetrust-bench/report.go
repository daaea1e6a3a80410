package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgetrust/edgetrust/internal/atomicfile"
)

// Report is what a run measured; it is written as JSON with --json. Field
// names are a contract (scripts compare runs): add, never rename.
type Report struct {
	Version   int       `json:"version"`
	StartedAt time.Time `json:"started_at"`
	DurationS float64   `json:"duration_s"`
	Command   string    `json:"command"`
	Machine   Machine   `json:"machine"`
	Config    Config    `json:"config"`
	Results   Results   `json:"results"`
	Notes     Notes     `json:"notes"`
	Targets   []Target  `json:"targets"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs        int     `json:"cpus"`
	GOMAXPROCS  int     `json:"gomaxprocs"`
	Go          string  `json:"go"`
	OS          string  `json:"os"`
	Arch        string  `json:"arch"`
	Kernel      string  `json:"kernel"`
	CPUModel    string  `json:"cpu_model"`
	MemTotalMiB int     `json:"mem_total_mib"`
	LoadAvg1    float64 `json:"load_avg_1m"`     // at the start: other work on the machine
	LoadAvg1End float64 `json:"load_avg_1m_end"` // at the end
}

// Config is the size of the run.
type Config struct {
	Quick       bool    `json:"quick"`
	Agents      int     `json:"agents"`
	Concurrency int     `json:"concurrency"`
	Logins      int     `json:"logins"`
	Trials      int     `json:"trials"`
	Bulk        int     `json:"bulk"`
	Fleet       int     `json:"fleet"`
	RefTimeS    float64 `json:"ref_time_s"`
	// Postgres: the PostgreSQL phases ran (--store).
	Postgres bool `json:"postgres"`
}

// Results holds every measured number. Rates are per second, latencies in
// milliseconds, memory in KiB per connection.
type Results struct {
	// (1) Reference limits.
	HandshakesPerS float64 `json:"handshakes_per_s"` // bare quic-go: full handshake + first stream round trip
	HandshakeP50Ms float64 `json:"handshake_p50_ms"`
	HandshakeP99Ms float64 `json:"handshake_p99_ms"`
	RoundTripsPerS float64 `json:"round_trips_per_s"` // bare quic-go, on open streams
	CryptoPerS     float64 `json:"crypto_per_s"`      // Ed25519 verify + sign pairs, all cores
	FsyncPerS      float64 `json:"fsync_per_s"`       // 4 KiB write + fsync, data directory's file system

	// (2) Registration storm, (7) with synchronous=FULL as shipped.
	RegistrationsPerS     float64 `json:"registrations_per_s"`
	RegistrationRatio     float64 `json:"registration_ratio"` // to handshakes_per_s
	RegisterP50Ms         float64 `json:"register_p50_ms"`
	RegisterP99Ms         float64 `json:"register_p99_ms"`
	RegistrationsPerFsync float64 `json:"registrations_per_fsync"` // to fsync_per_s

	// (3) Session logins.
	LoginsPerS       float64 `json:"logins_per_s"`
	LoginCryptoRatio float64 `json:"login_crypto_ratio"` // to crypto_per_s
	LoginP50Ms       float64 `json:"login_p50_ms"`
	LoginP99Ms       float64 `json:"login_p99_ms"`

	// (4) Approval push.
	ApproveP50Ms  float64 `json:"approve_p50_ms"`
	ApproveP99Ms  float64 `json:"approve_p99_ms"`
	BulkApproveMs float64 `json:"bulk_approve_ms"` // API call until the last agent holds its token
	BulkAPIMs     float64 `json:"bulk_api_ms"`     // the API call(s) alone

	// (5) Untrust push.
	UntrustP50Ms float64 `json:"untrust_p50_ms"`
	UntrustP99Ms float64 `json:"untrust_p99_ms"`

	// (9) Live events: a registration until its event arrives on an open
	// event stream (GET /api/v1/events), from the start of the agent's
	// connection; the same registrations' answer alone, for reference.
	EventP50Ms         float64 `json:"event_p50_ms"`
	EventP99Ms         float64 `json:"event_p99_ms"`
	EventRegisterP50Ms float64 `json:"event_register_p50_ms"`

	// (10) The PostgreSQL store (--store), measured after the SQLite
	// phases with their sizes: the storm and the logins with one broker
	// (pg1_) and spread over three brokers on one database (pg3_; broker
	// CPU is the three brokers' together); decisions made through one
	// broker's API, timed from the request until an agent connected to
	// another knows (propagation_; _api_ is the API call alone), and the
	// same decisions through the agent's own broker (pg3_local_). Absent
	// when not measured: notes.postgres says why.
	PG1RegistrationsPerS      float64 `json:"pg1_registrations_per_s,omitempty"`
	PG1RegisterP50Ms          float64 `json:"pg1_register_p50_ms,omitempty"`
	PG1RegisterP99Ms          float64 `json:"pg1_register_p99_ms,omitempty"`
	PG1BrokerCPUPerRegisterMs float64 `json:"pg1_broker_cpu_per_registration_ms,omitempty"`
	PG1LoginsPerS             float64 `json:"pg1_logins_per_s,omitempty"`
	PG1LoginP50Ms             float64 `json:"pg1_login_p50_ms,omitempty"`
	PG1LoginP99Ms             float64 `json:"pg1_login_p99_ms,omitempty"`
	PG1BrokerCPUPerLoginMs    float64 `json:"pg1_broker_cpu_per_login_ms,omitempty"`
	PG3RegistrationsPerS      float64 `json:"pg3_registrations_per_s,omitempty"`
	PG3RegisterP50Ms          float64 `json:"pg3_register_p50_ms,omitempty"`
	PG3RegisterP99Ms          float64 `json:"pg3_register_p99_ms,omitempty"`
	PG3BrokerCPUPerRegisterMs float64 `json:"pg3_broker_cpu_per_registration_ms,omitempty"`
	PG3LoginsPerS             float64 `json:"pg3_logins_per_s,omitempty"`
	PG3LoginP50Ms             float64 `json:"pg3_login_p50_ms,omitempty"`
	PG3LoginP99Ms             float64 `json:"pg3_login_p99_ms,omitempty"`
	PG3BrokerCPUPerLoginMs    float64 `json:"pg3_broker_cpu_per_login_ms,omitempty"`
	// The CPU ratios of the targets, on PostgreSQL (issue 17, point 5):
	// the same references as registration_cpu_ratio and login_cpu_ratio,
	// divided by the brokers' CPU per operation together.
	PG1RegistrationCPURatio    float64 `json:"pg1_registration_cpu_ratio,omitempty"`
	PG1LoginCPURatio           float64 `json:"pg1_login_cpu_ratio,omitempty"`
	PG3RegistrationCPURatio    float64 `json:"pg3_registration_cpu_ratio,omitempty"`
	PG3LoginCPURatio           float64 `json:"pg3_login_cpu_ratio,omitempty"`
	PropagationApproveP50Ms    float64 `json:"propagation_approve_p50_ms,omitempty"`
	PropagationApproveP99Ms    float64 `json:"propagation_approve_p99_ms,omitempty"`
	PropagationApproveMaxMs    float64 `json:"propagation_approve_max_ms,omitempty"`
	PropagationApproveAPIP50Ms float64 `json:"propagation_approve_api_p50_ms,omitempty"`
	PropagationUntrustP50Ms    float64 `json:"propagation_untrust_p50_ms,omitempty"`
	PropagationUntrustP99Ms    float64 `json:"propagation_untrust_p99_ms,omitempty"`
	PropagationUntrustMaxMs    float64 `json:"propagation_untrust_max_ms,omitempty"`
	PropagationUntrustAPIP50Ms float64 `json:"propagation_untrust_api_p50_ms,omitempty"`
	PG3LocalApproveP50Ms       float64 `json:"pg3_local_approve_p50_ms,omitempty"`
	PG3LocalApproveP99Ms       float64 `json:"pg3_local_approve_p99_ms,omitempty"`
	PG3LocalUntrustP50Ms       float64 `json:"pg3_local_untrust_p50_ms,omitempty"`
	PG3LocalUntrustP99Ms       float64 `json:"pg3_local_untrust_p99_ms,omitempty"`

	// (6) Connected fleet.
	MemPerAgentKiB    float64 `json:"mem_per_agent_kib"`
	BareMemPerConnKiB float64 `json:"bare_mem_per_conn_kib"`
	MemRatio          float64 `json:"mem_ratio"` // broker per agent / bare per connection
	BrokerRSSIdleMiB  float64 `json:"broker_rss_idle_mib"`
	BrokerRSSFleetMiB float64 `json:"broker_rss_fleet_mib"`
	BareRSSIdleMiB    float64 `json:"bare_rss_idle_mib"`
	BareRSSFleetMiB   float64 `json:"bare_rss_fleet_mib"`
	// The bare server's Go runtime with the fleet connected, after a GC
	// (whole heap and all stacks, divided by the connections).
	BareHeapPerConnKiB  float64 `json:"bare_heap_per_conn_kib"`
	BareStackPerConnKiB float64 `json:"bare_stack_per_conn_kib"`

	// CPU milliseconds per operation, of the server process and of this
	// process (the simulated agents), from /proc and getrusage: unlike
	// rates they barely change with other work on the machine.
	BareCPUPerHandshakeMs  float64 `json:"bare_cpu_per_handshake_ms"`
	BrokerCPUPerRegisterMs float64 `json:"broker_cpu_per_registration_ms"`
	BrokerCPUPerLoginMs    float64 `json:"broker_cpu_per_login_ms"`
	BrokerCPUPerBulkMs     float64 `json:"broker_cpu_per_bulk_approval_ms"` // per agent approved
	CryptoCPUMs            float64 `json:"crypto_cpu_ms"`                   // one verify+sign: median of the thread-CPU samples
	// The reference's spread over the run (cryptoref.go): thread CPU per
	// verify+sign of each sample, and the process-CPU figure of the
	// all-cores rate that was the reference before issue 17.
	CryptoCPUMsMin          float64 `json:"crypto_cpu_ms_min"`
	CryptoCPUMsMedian       float64 `json:"crypto_cpu_ms_median"`
	CryptoCPUMsMax          float64 `json:"crypto_cpu_ms_max"`
	CryptoCPUSamples        float64 `json:"crypto_cpu_samples"`
	CryptoCPUMsAllCores     float64 `json:"crypto_cpu_ms_all_cores"`
	AgentsCPUPerHandshakeMs float64 `json:"agents_cpu_per_handshake_ms"`
	AgentsCPUPerRegisterMs  float64 `json:"agents_cpu_per_registration_ms"`
	AgentsCPUPerLoginMs     float64 `json:"agents_cpu_per_login_ms"`
	RegistrationCPURatio    float64 `json:"registration_cpu_ratio"` // bare per handshake / broker per registration
	LoginCPURatio           float64 `json:"login_cpu_ratio"`        // crypto / broker per login

	// Handshakes the server refused (CONNECTION_REFUSED: quic-go's accept
	// queue was full) and the bench retried, in the whole run.
	BareRefused   float64 `json:"bare_refused"`
	BrokerRefused float64 `json:"broker_refused"`
	// Operations that failed (at most 1% of a phase, else the run fails);
	// rates and latencies count successes only.
	Failures float64 `json:"failures"`

	Scale // --fleet-scale only (fleetscale.go)
}

// Scale holds the figures of --fleet-scale (issue 17, points 3 and 4); a
// run without it has none of these keys.
type Scale struct {
	ScaleAgents            float64 `json:"scale_agents,omitempty"`
	ScaleSockets           float64 `json:"scale_sockets,omitempty"`      // client UDP sockets (quic.Transports)
	ScaleKeepAliveS        float64 `json:"scale_keep_alive_s,omitempty"` // the idle fleet's QUIC keep-alive (--scale-keep-alive)
	ScaleRetried           float64 `json:"scale_retried,omitempty"`      // connections of both idle phases tried again after a failure (timeout)
	ScaleBareRSSIdleMiB    float64 `json:"scale_bare_rss_idle_mib,omitempty"`
	ScaleBareRSSFleetMiB   float64 `json:"scale_bare_rss_fleet_mib,omitempty"`
	ScaleBarePeakMiB       float64 `json:"scale_bare_rss_peak_mib,omitempty"` // VmHWM
	ScaleBareMemPerConnKiB float64 `json:"scale_bare_mem_per_conn_kib,omitempty"`
	ScaleBrokerRSSIdleMiB  float64 `json:"scale_broker_rss_idle_mib,omitempty"`
	ScaleBrokerRSSFleetMiB float64 `json:"scale_broker_rss_fleet_mib,omitempty"`
	ScaleBrokerPeakMiB     float64 `json:"scale_broker_rss_peak_mib,omitempty"` // VmHWM
	ScaleMemPerAgentKiB    float64 `json:"scale_mem_per_agent_kib,omitempty"`
	ScaleMemRatio          float64 `json:"scale_mem_ratio,omitempty"` // broker per agent / bare per connection
	ScaleBrokerAgents      float64 `json:"scale_broker_agents,omitempty"`
	ScaleRegistrationsPerS float64 `json:"scale_registrations_per_s,omitempty"`

	StormAgents      float64 `json:"storm_agents,omitempty"`
	StormRestartS    float64 `json:"storm_restart_s,omitempty"`   // stop + start until the new broker listens
	StormStopS       float64 `json:"storm_stop_s,omitempty"`      // until the old broker process had ended
	StormStopKilled  float64 `json:"storm_stop_killed,omitempty"` // 1: it did not stop within 15 s of SIGTERM and was killed
	StormTrusted99S  float64 `json:"storm_trusted_99_s,omitempty"`
	StormTrusted100S float64 `json:"storm_trusted_100_s,omitempty"`
	StormLogin99S    float64 `json:"storm_login_99_s,omitempty"`
	StormLogin100S   float64 `json:"storm_login_100_s,omitempty"`
	StormBack        float64 `json:"storm_back,omitempty"`         // agents trusted and logged in again
	StormMaxSessions float64 `json:"storm_max_sessions,omitempty"` // most session attempts of one agent after the restart
	// The broker process's CPU seconds in each second after the restart
	// began (the old process until it exits, then the new one).
	StormBrokerCPUPerS []float64 `json:"storm_broker_cpu_per_s,omitempty"`
	StormBrokerCPUS    float64   `json:"storm_broker_cpu_s,omitempty"`
}

// Notes says how numbers were obtained where it matters for reading them.
type Notes struct {
	// FleetScale says why a --fleet-scale phase did not complete; the
	// figures of the others stand.
	FleetScale      string `json:"fleet_scale,omitempty"`
	TLSKeyExchange  string `json:"tls_key_exchange"` // agents <-> broker
	BareKeyExchange string `json:"bare_key_exchange"`
	ApprovalMethod  string `json:"approval_method"`
	Synchronous     string `json:"sqlite_synchronous"`
	MemoryMethod    string `json:"memory_method"`
	BareServer      string `json:"bare_server"`
	// Postgres is the server the PostgreSQL phases ran on and its
	// durability settings, or why they were not measured.
	Postgres string `json:"postgres"`
}

// Target is one of the goals of issue 6 and whether this run met it.
type Target struct {
	Name     string  `json:"name"`
	Goal     string  `json:"goal"`
	Measured float64 `json:"measured"`
	Limit    float64 `json:"limit"`
	Met      bool    `json:"met"`
}

// evaluate returns the targets for r.
func evaluate(r Results) []Target {
	atLeast := func(name, goal string, v, limit float64) Target {
		return Target{Name: name, Goal: goal, Measured: v, Limit: limit, Met: v >= limit}
	}
	atMost := func(name, goal string, v, limit float64) Target {
		return Target{Name: name, Goal: goal, Measured: v, Limit: limit, Met: v <= limit}
	}
	return []Target{
		atLeast("registration_ratio", "registrations >= 80% of bare handshakes/s", r.RegistrationRatio, 0.80),
		atLeast("login_crypto_ratio", "logins >= 60% of Ed25519 verify+sign/s", r.LoginCryptoRatio, 0.60),
		atLeast("login_cpu_ratio", "broker CPU per login <= 2x one Ed25519 verify+sign", r.LoginCPURatio, 0.50),
		atLeast("registration_cpu_ratio", "broker CPU per registration <= 1.25x a bare handshake", r.RegistrationCPURatio, 0.80),
		atMost("approve_p99_ms", "single approval pushed in <= 25 ms p99", r.ApproveP99Ms, 25),
		atMost("bulk_approve_ms", "bulk-approved agents all hold tokens within 2 s", r.BulkApproveMs, 2000),
		atMost("untrust_p99_ms", "untrust known in <= 50 ms p99", r.UntrustP99Ms, 50),
		atMost("mem_ratio", "broker memory per idle agent <= 1.25x bare quic-go", r.MemRatio, 1.25),
	}
}

// writeJSON writes the report to path atomically.
func writeJSON(path string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o644)
}

// printTable writes the human-readable result.
func printTable(w io.Writer, rep *Report) {
	r, m, c := rep.Results, rep.Machine, rep.Config
	fmt.Fprintf(w, "edgetrust-bench  %s  %s\n", rep.StartedAt.Format(time.RFC3339), rep.Command)
	fmt.Fprintf(w, "machine: %d CPUs (GOMAXPROCS %d), %s, %s/%s %s, %d MiB RAM, load %.2f at start, %.2f at end; %s\n",
		m.CPUs, m.GOMAXPROCS, m.CPUModel, m.OS, m.Arch, m.Kernel, m.MemTotalMiB, m.LoadAvg1, m.LoadAvg1End, m.Go)
	fmt.Fprintf(w, "size: agents %d, concurrency %d, logins %d, trials %d, bulk %d, fleet %d, reference time %gs; took %.0fs\n\n",
		c.Agents, c.Concurrency, c.Logins, c.Trials, c.Bulk, c.Fleet, c.RefTimeS, rep.DurationS)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tmeasure\tvalue\treference\tratio")
	row := func(n, name, value, ref, ratio string) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n, name, value, ref, ratio)
	}
	f := func(v float64, unit string) string { return strconv.FormatFloat(v, 'f', -1, 64) + " " + unit }
	row("1", "bare quic-go handshakes (+1st stream RTT)", f(r.HandshakesPerS, "/s"), fmt.Sprintf("p50 %s, p99 %s", f(r.HandshakeP50Ms, "ms"), f(r.HandshakeP99Ms, "ms")), "")
	row("1", "  CPU per handshake: bare server / agents", fmt.Sprintf("%s / %s", f(r.BareCPUPerHandshakeMs, "ms"), f(r.AgentsCPUPerHandshakeMs, "ms")), "", "")
	row("1", "bare quic-go round trips on open streams", f(r.RoundTripsPerS, "/s"), "", "")
	row("1", "Ed25519 verify+sign (all cores)", f(r.CryptoPerS, "/s"), f(r.CryptoCPUMsAllCores, "ms process CPU each"), "")
	row("1", "  thread CPU per verify+sign", fmt.Sprintf("median %s", f(r.CryptoCPUMsMedian, "ms")),
		fmt.Sprintf("min %s, max %s, %d samples", f(r.CryptoCPUMsMin, "ms"), f(r.CryptoCPUMsMax, "ms"), int(r.CryptoCPUSamples)), "")
	row("1", "fsync (4 KiB, data dir)", f(r.FsyncPerS, "/s"), "", "")
	row("2", "registrations (new conn + HELLO + REGISTER)", f(r.RegistrationsPerS, "/s"), f(r.HandshakesPerS, "handshakes/s"), f(r.RegistrationRatio, ""))
	row("2", "  CPU per registration: broker / agents", fmt.Sprintf("%s / %s", f(r.BrokerCPUPerRegisterMs, "ms"), f(r.AgentsCPUPerRegisterMs, "ms")), f(r.BareCPUPerHandshakeMs, "ms bare/handshake"), f(r.RegistrationCPURatio, ""))
	row("2", "  registration latency", fmt.Sprintf("p50 %s, p99 %s", f(r.RegisterP50Ms, "ms"), f(r.RegisterP99Ms, "ms")), "", "")
	row("3", "session logins", f(r.LoginsPerS, "/s"), f(r.CryptoPerS, "crypto/s"), f(r.LoginCryptoRatio, ""))
	row("3", "  CPU per login: broker / agents", fmt.Sprintf("%s / %s", f(r.BrokerCPUPerLoginMs, "ms"), f(r.AgentsCPUPerLoginMs, "ms")), f(r.CryptoCPUMs, "ms crypto"), f(r.LoginCPURatio, ""))
	row("3", "  login latency", fmt.Sprintf("p50 %s, p99 %s", f(r.LoginP50Ms, "ms"), f(r.LoginP99Ms, "ms")), "", "")
	row("4", "single approval -> agent holds token", fmt.Sprintf("p50 %s, p99 %s", f(r.ApproveP50Ms, "ms"), f(r.ApproveP99Ms, "ms")), "", "")
	row("4", fmt.Sprintf("bulk approval of %d -> last token", c.Bulk), f(r.BulkApproveMs, "ms"), "API call "+f(r.BulkAPIMs, "ms"), rep.Notes.ApprovalMethod)
	row("4", "  broker CPU per bulk-approved agent", f(r.BrokerCPUPerBulkMs, "ms"), "", "")
	row("5", "untrust -> agent knows", fmt.Sprintf("p50 %s, p99 %s", f(r.UntrustP50Ms, "ms"), f(r.UntrustP99Ms, "ms")), "", "")
	row("6", fmt.Sprintf("broker memory per idle agent (%d)", c.Fleet), f(r.MemPerAgentKiB, "KiB"), f(r.BareMemPerConnKiB, "KiB bare/conn"), f(r.MemRatio, ""))
	row("6", "  RSS idle -> fleet", fmt.Sprintf("broker %s -> %s", f(r.BrokerRSSIdleMiB, "MiB"), f(r.BrokerRSSFleetMiB, "MiB")), fmt.Sprintf("bare %s -> %s", f(r.BareRSSIdleMiB, "MiB"), f(r.BareRSSFleetMiB, "MiB")), "")
	row("7", "registrations, synchronous="+rep.Notes.Synchronous+" (shipped)", f(r.RegistrationsPerS, "/s"), f(r.FsyncPerS, "fsync/s"), f(r.RegistrationsPerFsync, ""))
	row("9", "registration -> its event on an open stream", fmt.Sprintf("p50 %s, p99 %s", f(r.EventP50Ms, "ms"), f(r.EventP99Ms, "ms")), "registration alone p50 "+f(r.EventRegisterP50Ms, "ms"), "")
	postgresRows(row, f, rep)
	tw.Flush()

	fmt.Fprintf(w, "\nTLS key exchange: agents %s, bare %s; handshakes refused and retried: broker %v, bare %v; failed operations: %v\n",
		rep.Notes.TLSKeyExchange, rep.Notes.BareKeyExchange, r.BrokerRefused, r.BareRefused, r.Failures)
	fmt.Fprintf(w, "PostgreSQL: %s\n\ntargets:\n", rep.Notes.Postgres)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range rep.Targets {
		verdict := "MISSED"
		if t.Met {
			verdict = "met"
		}
		fmt.Fprintf(tw, "  %s\t%s\tmeasured %s\t%s\n", verdict, t.Goal, strconv.FormatFloat(t.Measured, 'f', -1, 64), t.Name)
	}
	tw.Flush()
}

// postgresRows writes the rows of the PostgreSQL phases (10), each next to
// the SQLite figure of the same run.
func postgresRows(row func(n, name, value, ref, ratio string), f func(v float64, unit string) string, rep *Report) {
	r := rep.Results
	if !rep.Config.Postgres {
		row("10", "PostgreSQL store", "not measured (no --store)", "", "")
		return
	}
	lat := func(p50, p99 float64) string { return fmt.Sprintf("p50 %s, p99 %s", f(p50, "ms"), f(p99, "ms")) }
	for _, c := range []struct {
		brokers                      string
		regS, regCPU, regP50, regP99 float64
		logS, logCPU, logP50, logP99 float64
		regRatio, logRatio           float64
	}{
		{"1 broker", r.PG1RegistrationsPerS, r.PG1BrokerCPUPerRegisterMs, r.PG1RegisterP50Ms, r.PG1RegisterP99Ms,
			r.PG1LoginsPerS, r.PG1BrokerCPUPerLoginMs, r.PG1LoginP50Ms, r.PG1LoginP99Ms, r.PG1RegistrationCPURatio, r.PG1LoginCPURatio},
		{"3 brokers", r.PG3RegistrationsPerS, r.PG3BrokerCPUPerRegisterMs, r.PG3RegisterP50Ms, r.PG3RegisterP99Ms,
			r.PG3LoginsPerS, r.PG3BrokerCPUPerLoginMs, r.PG3LoginP50Ms, r.PG3LoginP99Ms, r.PG3RegistrationCPURatio, r.PG3LoginCPURatio},
	} {
		row("10", "registrations, PostgreSQL, "+c.brokers, f(c.regS, "/s"), "SQLite "+f(r.RegistrationsPerS, "/s"), f(ratio(c.regS, r.RegistrationsPerS), ""))
		row("10", "  broker CPU per registration, latency", fmt.Sprintf("%s; %s", f(c.regCPU, "ms"), lat(c.regP50, c.regP99)), fmt.Sprintf("SQLite %s; %s", f(r.BrokerCPUPerRegisterMs, "ms"), lat(r.RegisterP50Ms, r.RegisterP99Ms)), "CPU "+f(c.regRatio, ""))
		row("10", "session logins, PostgreSQL, "+c.brokers, f(c.logS, "/s"), "SQLite "+f(r.LoginsPerS, "/s"), f(ratio(c.logS, r.LoginsPerS), ""))
		row("10", "  broker CPU per login, latency", fmt.Sprintf("%s; %s", f(c.logCPU, "ms"), lat(c.logP50, c.logP99)), fmt.Sprintf("SQLite %s; %s", f(r.BrokerCPUPerLoginMs, "ms"), lat(r.LoginP50Ms, r.LoginP99Ms)), "CPU "+f(c.logRatio, ""))
	}
	worst := func(p50, p99, max float64) string { return lat(p50, p99) + ", worst " + f(max, "ms") }
	row("10", "approve on broker A -> agent on B knows", worst(r.PropagationApproveP50Ms, r.PropagationApproveP99Ms, r.PropagationApproveMaxMs),
		fmt.Sprintf("API call p50 %s; on B itself %s", f(r.PropagationApproveAPIP50Ms, "ms"), lat(r.PG3LocalApproveP50Ms, r.PG3LocalApproveP99Ms)), "")
	row("10", "  the same on SQLite, one broker (row 4)", lat(r.ApproveP50Ms, r.ApproveP99Ms), "", "")
	row("10", "untrust on broker A -> agent on B knows", worst(r.PropagationUntrustP50Ms, r.PropagationUntrustP99Ms, r.PropagationUntrustMaxMs),
		fmt.Sprintf("API call p50 %s; on B itself %s", f(r.PropagationUntrustAPIP50Ms, "ms"), lat(r.PG3LocalUntrustP50Ms, r.PG3LocalUntrustP99Ms)), "")
	row("10", "  the same on SQLite, one broker (row 5)", lat(r.UntrustP50Ms, r.UntrustP99Ms), "", "")
}

// machineInfo describes this machine; fields it cannot read stay empty.
func machineInfo() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.CPUModel = procField("/proc/cpuinfo", "model name", ":")
	if v := procField("/proc/meminfo", "MemTotal", ":"); v != "" {
		kb, _ := strconv.Atoi(strings.Fields(v)[0])
		m.MemTotalMiB = kb / 1024
	}
	m.LoadAvg1 = loadAvg()
	return m
}

// loadAvg returns the one-minute load average, 0 if unknown.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// procField returns the value of the first "name<sep> value" line of file.
func procField(file, name, sep string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
