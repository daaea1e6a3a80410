// Command edgetrust-bench measures how fast edgetrust is, against the
// limits of the machine it runs on, in the same run (issue 6).
//
//	edgetrust-bench [--quick] [--json FILE] [--agents N] [--fleet N] [--trials N] ...
//
// It starts a real edgetrust-broker (its own process, embedded SQLite with
// the shipped settings) and drives it with simulated agents that speak the
// real protocol (agent/brokerclient) over real QUIC on loopback, all sharing
// one UDP socket. The references are measured in the same run on the same
// cores: a bare quic-go echo server (a child process with the broker's TLS
// and QUIC settings), Ed25519 verify+sign, and fsync. It prints a table on
// standard output, progress on standard error, and writes JSON with --json.
//
// The command imports no broker package: it sees the broker as a user does.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

const usage = `edgetrust-bench: how fast is edgetrust on this machine

Usage:
  edgetrust-bench [--quick] [--json FILE] [flags]

Starts a broker (--broker-bin), measures reference limits (bare quic-go
handshakes and round trips, Ed25519, fsync), a registration storm, session
logins, approval and untrust pushes and the memory of an idle fleet, prints
a table and, with --json, writes the numbers. --quick finishes in under two
minutes. With --store postgres://…, it then measures the storm and logins
with one broker and with three on that PostgreSQL server, and decisions
made on one broker pushed to agents on another (not with --quick).

Flags:
`

// config is the size of a run.
type config struct {
	quick      bool
	jsonPath   string
	brokerBin  string
	store      string // postgres://…: also measure the PostgreSQL store
	workDir    string
	keep       bool
	agents     int
	conc       int
	logins     int
	trials     int
	bulk       int
	fleet      int
	refTime    time.Duration
	hold       time.Duration
	brokerArgs []string
	cpuProfile string

	// --fleet-scale (fleetscale.go): instead of the other phases, the idle
	// fleet at scale and the reconnect storm; never with --quick.
	fleetScale  bool
	scaleAgents int
	stormAgents int
	perSocket   int
	// scaleKeepAlive is the QUIC keep-alive of the idle fleet at scale
	// (bare and broker alike); 0 = the agent's (brokerclient's) defaults.
	scaleKeepAlive time.Duration
}

// Full and quick sizes: the numbers, and a run under two minutes.
var (
	fullSize  = config{agents: 2000, conc: 32, logins: 10000, trials: 200, bulk: 1000, fleet: 10000, refTime: 3 * time.Second}
	quickSize = config{agents: 500, conc: 32, logins: 2000, trials: 50, bulk: 1000, fleet: 2000, refTime: time.Second}
)

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	if os.Getenv(roleEnv) == roleEcho {
		if err := echoServerMain(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bare echo server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stdout)
	var ue usageError
	switch {
	case errors.Is(err, pflag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "edgetrust-bench: %s (see edgetrust-bench --help)\n", ue.msg)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "edgetrust-bench: %v\n", err)
		return 1
	}
	if err := runBench(ctx, cfg, args, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "edgetrust-bench: %v\n", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stdout io.Writer) (config, error) {
	var cfg config
	fs := pflag.NewFlagSet("edgetrust-bench", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&cfg.quick, "quick", false, "a smaller run that finishes in under two minutes")
	fs.StringVar(&cfg.jsonPath, "json", "", "write the results as JSON to FILE")
	fs.StringVar(&cfg.brokerBin, "broker-bin", "", "the edgetrust-broker binary (default: next to this binary)")
	fs.StringVar(&cfg.store, "store", "", "also measure the PostgreSQL store on this server, postgres://USER@HOST:PORT/DB?sslmode=… (fresh schemas, dropped at the end), with one broker and with three sharing it; the password goes in PGPASSWORD, not the URL")
	fs.StringVar(&cfg.workDir, "work-dir", "", "directory for the brokers' data (default: the system temp dir); its file system is the one fsync is measured on")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the brokers' data directories and logs")
	fs.IntVar(&cfg.agents, "agents", fullSize.agents, "agents in the registration storm (and bare handshakes)")
	fs.IntVar(&cfg.conc, "concurrency", fullSize.conc, "operations in flight at once in the throughput phases (32: quic-go's accept queue)")
	fs.IntVar(&cfg.logins, "logins", fullSize.logins, "session logins measured")
	fs.IntVar(&cfg.trials, "trials", fullSize.trials, "single approvals and untrusts measured")
	fs.IntVar(&cfg.bulk, "bulk", fullSize.bulk, "pending agents approved at once")
	fs.IntVar(&cfg.fleet, "fleet", fullSize.fleet, "idle agents connected for the memory measure")
	fs.DurationVar(&cfg.refTime, "ref-time", fullSize.refTime, "how long each timed reference (crypto, fsync, round trips) runs")
	fs.DurationVar(&cfg.hold, "hold", 0, "keep the broker's fleet connected this long after measuring (to profile it)")
	fs.StringArrayVar(&cfg.brokerArgs, "broker-arg", nil, "extra argument for the broker's serve command (repeatable)")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (the simulated agents) to FILE")
	fs.BoolVar(&cfg.fleetScale, "fleet-scale", false, "measure only the fleet at scale: --scale-agents idle agents against bare quic-go, then a broker restarted under --storm-agents connected agents (minutes; not with --quick)")
	fs.IntVar(&cfg.scaleAgents, "scale-agents", 100000, "idle agents of --fleet-scale")
	fs.IntVar(&cfg.stormAgents, "storm-agents", 10000, "connected agents of --fleet-scale's reconnect storm")
	fs.IntVar(&cfg.perSocket, "per-socket", 2000, "client connections per UDP socket in --fleet-scale")
	fs.DurationVar(&cfg.scaleKeepAlive, "scale-keep-alive", 25*time.Second,
		"QUIC keep-alive of --fleet-scale's idle fleet, bare and broker alike, with an idle timeout of twice that (at most the broker's 60s); 0 = the agent's defaults (5s, idle 15s: 20,000 keep-alives a second at 100,000 agents)")
	help := fs.BoolP("help", "h", false, "show help")
	fs.MarkHidden("cpuprofile")
	fs.MarkHidden("hold")
	fs.MarkHidden("broker-arg")
	if err := fs.Parse(args); err != nil {
		return cfg, usageError{err.Error()}
	}
	if *help {
		fmt.Fprint(stdout, usage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return cfg, pflag.ErrHelp
	}
	if fs.NArg() > 0 {
		return cfg, usageError{fmt.Sprintf("no arguments expected, got %q", fs.Args())}
	}
	if cfg.quick {
		set := func(name string, p *int, v int) {
			if !fs.Changed(name) {
				*p = v
			}
		}
		set("agents", &cfg.agents, quickSize.agents)
		set("logins", &cfg.logins, quickSize.logins)
		set("trials", &cfg.trials, quickSize.trials)
		set("bulk", &cfg.bulk, quickSize.bulk)
		set("fleet", &cfg.fleet, quickSize.fleet)
		if !fs.Changed("ref-time") {
			cfg.refTime = quickSize.refTime
		}
	}
	for name, v := range map[string]int{"agents": cfg.agents, "concurrency": cfg.conc, "logins": cfg.logins, "trials": cfg.trials, "bulk": cfg.bulk, "fleet": cfg.fleet} {
		if v < 1 {
			return cfg, usageError{fmt.Sprintf("--%s %d: want at least 1", name, v)}
		}
	}
	if cfg.fleetScale {
		if cfg.quick || cfg.store != "" {
			return cfg, usageError{"--fleet-scale measures the fleet at scale on SQLite alone, for minutes: not with --quick or --store"}
		}
		if cfg.scaleKeepAlive < 0 || cfg.scaleKeepAlive > 30*time.Second {
			return cfg, usageError{fmt.Sprintf("--scale-keep-alive %v: want 0 (the agent's defaults) to 30s (half the broker's idle timeout)", cfg.scaleKeepAlive)}
		}
		for name, v := range map[string]int{"scale-agents": cfg.scaleAgents, "storm-agents": cfg.stormAgents, "per-socket": cfg.perSocket} {
			if v < 1 {
				return cfg, usageError{fmt.Sprintf("--%s %d: want at least 1", name, v)}
			}
		}
	}
	if cfg.store != "" {
		if cfg.quick {
			return cfg, usageError{"--store with --quick: a quick run measures SQLite only (under two minutes); drop one of them"}
		}
		if err := checkStoreURL(cfg.store); err != nil {
			return cfg, usageError{err.Error()}
		}
	}
	if cfg.refTime < 10*time.Millisecond {
		return cfg, usageError{fmt.Sprintf("--ref-time %v: want at least 10ms", cfg.refTime)}
	}
	if cfg.brokerBin == "" {
		self, err := os.Executable()
		if err != nil {
			return cfg, err
		}
		cfg.brokerBin = filepath.Join(filepath.Dir(self), "edgetrust-broker")
	}
	if _, err := os.Stat(cfg.brokerBin); err != nil {
		return cfg, usageError{fmt.Sprintf("broker binary: %v (build it with make build, or give --broker-bin)", err)}
	}
	return cfg, nil
}

func runBench(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	work, err := os.MkdirTemp(cfg.workDir, "edgetrust-bench-")
	if err != nil {
		return err
	}
	keep := cfg.keep
	defer func() {
		if keep {
			fmt.Fprintf(stderr, "== data and logs kept in %s\n", work)
			return
		}
		os.RemoveAll(work)
	}()
	rep := &Report{
		Version:   1,
		StartedAt: time.Now().UTC().Truncate(time.Second),
		Command:   strings.TrimSpace("edgetrust-bench " + strings.Join(redactArgs(args), " ")),
		Machine:   machineInfo(),
		Config: Config{Quick: cfg.quick, Agents: cfg.agents, Concurrency: cfg.conc, Logins: cfg.logins, Trials: cfg.trials,
			Bulk: cfg.bulk, Fleet: cfg.fleet, RefTimeS: cfg.refTime.Seconds(), Postgres: cfg.store != ""},
	}
	b := &bench{cfg: cfg, stderr: stderr, tty: isTerminal(stderr), work: work, rep: rep}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	if err := b.run(ctx); err != nil {
		keep = true // the brokers' logs say why
		return err
	}
	rep.DurationS = round(time.Since(start).Seconds(), 1)
	rep.Machine.LoadAvg1End = loadAvg()
	if cfg.fleetScale {
		rep.Targets = evaluateScale(rep.Results)
		printScaleTable(stdout, rep)
	} else {
		rep.Targets = evaluate(rep.Results)
		printTable(stdout, rep)
	}
	if cfg.jsonPath != "" {
		if err := writeJSON(cfg.jsonPath, rep); err != nil {
			return fmt.Errorf("writing %s: %w", cfg.jsonPath, err)
		}
		fmt.Fprintf(stderr, "== wrote %s\n", cfg.jsonPath)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
