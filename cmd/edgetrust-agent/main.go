// Command edgetrust-agent registers this device with an edgetrust broker,
// keeps its device token fresh and serves secure session logins on a local
// socket. It runs as a system service that 'install' sets up.
//
//	edgetrust-agent install --broker HOST:PORT [--api-key-file FILE | env EDGETRUST_API_KEY | --api-key KEY]
//	                        [--type T] [--account A] [--description D]
//	                        [--broker-ca FILE | --broker-fingerprint sha256:HEX] [--no-wait] [--wait-timeout D]
//	edgetrust-agent uninstall [--purge]
//	edgetrust-agent start | stop | restart
//	edgetrust-agent status [-o json]
//	edgetrust-agent run [--config FILE] [--broker HOST:PORT --state-dir DIR ...]
//	edgetrust-agent login [--socket PATH] [--type session_user|session_user_domain|upn]
//
// 'install' writes /etc/edgetrust-agent/agent.conf (0600) and registers a
// service that runs 'edgetrust-agent run --config' with it: a systemd unit
// (the one the packages ship), a SysV init script where systemd does not
// run, a launchd daemon or a Windows service. 'status' shows the service's
// state, the endpoint's trust state and the token expiry.
//
// Global flags (--state-dir, --socket, --log-level, --log-format, --help)
// are accepted before or after the subcommand. Exit status: 0 success, 1
// failure, 2 usage error.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/edgetrust/edgetrust/agent"
	"github.com/edgetrust/edgetrust/agent/brokerclient"
	"github.com/edgetrust/edgetrust/agent/config"
	"github.com/edgetrust/edgetrust/agent/daemon"
	"github.com/edgetrust/edgetrust/agent/localapi"
	"github.com/edgetrust/edgetrust/agent/state"
	"github.com/edgetrust/edgetrust/internal/logtime"
	"github.com/edgetrust/edgetrust/protocol"
)

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

const (
	prog            = "edgetrust-agent"
	defaultStateDir = "/var/lib/edgetrust-agent"
	envAPIKey       = "EDGETRUST_API_KEY"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// options holds every flag value.
type options struct {
	// global
	stateDir, socket, logLevel, logFormat string
	version                               bool
	// run
	broker, apiKey, clientType, description, brokerCA, brokerFP, account string
	minBackoff, maxBackoff                                               time.Duration
	config                                                               string
	// install, uninstall, start, stop, restart (and status)
	apiKeyFile, configDir, serviceName string
	noWait, purge                      bool
	waitTimeout                        time.Duration
	// status
	output string
	// login
	loginType string
}

type command struct {
	name    string
	summary string
	help    string
	flags   func(fs *pflag.FlagSet, o *options)
	run     func(ctx context.Context, o *options, env env) int
}

type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	fs             *pflag.FlagSet
}

var commands = []*command{
	{
		name:    "run",
		summary: "run the agent in the foreground",
		help: `Runs the agent in the foreground: registers this device with the broker
(or re-registers it, signed with its key), waits for an administrator's
decision when the API key does not trust endpoints automatically, keeps the
device token fresh, and serves secure session logins on the local socket.
Failures are retried forever with backoff; 'status' shows the last error.
SIGINT or SIGTERM stops it (exit 0).

--broker may list several brokers sharing one database (a:7443,b:7443):
the agent uses one at a time and, when its connection is lost, moves to the
next with the same jittered backoff, as the same endpoint (no new approval).
One --broker-ca or --broker-fingerprint applies to all of them.

The installed service runs 'run --config CONFIG_DIR/agent.conf'; without
--config and --broker, run reads that file too. Flags override the file.
The API key is read from --api-key or, better (it is then not visible in
the process list), from the EDGETRUST_API_KEY environment variable.`,
		flags: func(fs *pflag.FlagSet, o *options) {
			fs.StringVar(&o.config, "config", "", "configuration file written by 'install' (default CONFIG_DIR/agent.conf when --broker is not given)")
			fs.StringVar(&o.broker, "broker", "", "broker address HOST:PORT, or several brokers of one cluster HOST:PORT,HOST:PORT (required unless in the configuration)")
			fs.StringVar(&o.apiKey, "api-key", "", "API key (default $"+envAPIKey+")")
			fs.StringVar(&o.clientType, "type", agent.DefaultType, "client type: "+strings.Join(protocol.ClientTypes(), ", "))
			fs.StringVar(&o.description, "description", "", "description of this endpoint shown to administrators")
			fs.StringVar(&o.brokerCA, "broker-ca", "", "PEM file with the broker's certificate (instead of system roots)")
			fs.StringVar(&o.brokerFP, "broker-fingerprint", "", "pin the broker's key: sha256:HEX as the broker prints it")
			fs.StringVar(&o.account, "account", "", "target account id when the key belongs to a parent account")
			fs.DurationVar(&o.minBackoff, "min-backoff", 0, "first retry delay (tests)")
			fs.DurationVar(&o.maxBackoff, "max-backoff", 0, "largest retry delay (tests)")
			_ = fs.MarkHidden("min-backoff")
			_ = fs.MarkHidden("max-backoff")
			serviceFlags(fs, o)
		},
		run: cmdRun,
	},
	{
		name:    "install",
		summary: "install and start the agent as a system service",
		help:    installHelp,
		flags:   installFlags,
		run:     cmdInstall,
	},
	{
		name:    "uninstall",
		summary: "stop and remove the service (--purge: also its configuration and state)",
		help: `Stops the service and removes it from the host's service manager (for SysV
init scripts, the /etc/rc?.d links too). The configuration and the device's
identity and state are kept, so that install can bring the same endpoint
back; --purge removes them as well, with the service's log file. Must run
as root.`,
		flags: func(fs *pflag.FlagSet, o *options) {
			fs.BoolVar(&o.purge, "purge", false, "also remove the configuration, the state (the device identity) and the log")
			serviceFlags(fs, o)
		},
		run: cmdUninstall,
	},
	{
		name:    "start",
		summary: "start the installed service",
		help:    "Starts the installed service. Must run as root.",
		flags:   serviceFlags,
		run:     cmdControl("start"),
	},
	{
		name:    "stop",
		summary: "stop the service",
		help:    "Stops the service; it starts again at boot. Must run as root.",
		flags:   serviceFlags,
		run:     cmdControl("stop"),
	},
	{
		name:    "restart",
		summary: "restart the service",
		help:    "Stops the service if it runs and starts it. Must run as root.",
		flags:   serviceFlags,
		run:     cmdControl("restart"),
	},
	{
		name:    "status",
		summary: "show the service state, trust state and token expiry",
		help: `Shows whether the service runs, and this endpoint's registration state as
recorded by the agent in STATE_DIR/state.json: unregistered, pending,
trusted, rejected, untrusted or deleted, with the last error and token
expiry. It does not contact the broker and exits 0 whatever the state;
it exits 1 where no agent keeps its state (the directory does not exist,
or holds no identity and no installed agent uses it: a mistyped
--state-dir).
Tokens are never shown. The state directory is taken from the installed
configuration unless --state-dir is given.`,
		flags: func(fs *pflag.FlagSet, o *options) {
			fs.StringVarP(&o.output, "output", "o", "", "output format: json (default: a table)")
			serviceFlags(fs, o)
		},
		run: cmdStatus,
	},
	{
		name:    "login",
		summary: "get a user token for the calling user (secure session login)",
		help: `Asks the running agent for a user token for the user running this command.
The agent learns who you are from the operating system (the local socket's
peer credentials), never from arguments, and vouches for you with this
device's trust. On a terminal it says who is logged in and until when; the
token itself is printed only when asked: with -o json, or when standard
output is not a terminal (a pipe or a file), as JSON with access_token,
token_type, expires_in, refresh_token, username, domain and upn. Exits 1
with the reason when the agent or the broker refuses.`,
		flags: func(fs *pflag.FlagSet, o *options) {
			fs.StringVar(&o.loginType, "type", protocol.LoginSessionUser, "login type: session_user, session_user_domain or upn")
			fs.StringVarP(&o.output, "output", "o", "", "output format: json (the token; default on a terminal: who and until when)")
		},
		run: cmdLogin,
	},
}

func globalFlags(fs *pflag.FlagSet, o *options) {
	fs.StringVar(&o.stateDir, "state-dir", defaultStateDir, "directory of the agent's identity and state")
	fs.StringVar(&o.socket, "socket", localapi.DefaultSocket, "path of the agent's local socket")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&o.logFormat, "log-format", "json", "log format: json or console")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	// -h/--help is left undefined so that pflag answers ErrHelp.
}

func newFlagSet(c *command, o *options) *pflag.FlagSet {
	name := prog
	if c != nil {
		name += " " + c.name
	}
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetInterspersed(true)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	if c != nil {
		c.flags(fs, o)
	}
	globalFlags(fs, o)
	return fs
}

// usageError is a command-line mistake: exit 2.
type usageError struct {
	cmd string
	msg string
}

func (e *usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	idx, err := findCommand(args)
	if err != nil {
		return usage(stderr, "", err.Error())
	}
	if idx < 0 {
		// No subcommand: only --help makes sense.
		var o options
		fs := newFlagSet(nil, &o)
		err := fs.Parse(args)
		switch {
		case errors.Is(err, pflag.ErrHelp):
			printMainHelp(stdout)
			return 0
		case err == nil && o.version:
			printVersion(stdout)
			return 0
		}
		return usage(stderr, "", "missing command (install, status, run, login, ...)")
	}
	name := args[idx]
	var c *command
	for _, cc := range commands {
		if cc.name == name {
			c = cc
		}
	}
	if name == "help" {
		printMainHelp(stdout)
		return 0
	}
	if c == nil {
		return usage(stderr, "", fmt.Sprintf("unknown command %q (see '%s --help')", name, prog))
	}
	rest := append(append([]string{}, args[:idx]...), args[idx+1:]...)
	var o options
	fs := newFlagSet(c, &o)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			printHelp(stdout, c, fs)
			return 0
		}
		return usage(stderr, c.name, err.Error())
	}
	if o.version {
		printVersion(stdout)
		return 0
	}
	if fs.NArg() > 0 {
		return usage(stderr, c.name, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	return c.run(ctx, &o, env{stdin: os.Stdin, stdout: stdout, stderr: stderr, getenv: getenv, fs: fs})
}

// findCommand returns the index of the subcommand in args (-1 if none),
// skipping global and subcommand flags and their values.
func findCommand(args []string) (int, error) {
	var o options
	var sets []*pflag.FlagSet
	for _, c := range commands {
		sets = append(sets, newFlagSet(c, &o))
	}
	lookup := func(name string, short bool) *pflag.Flag {
		for _, fs := range sets {
			var f *pflag.Flag
			if short {
				f = fs.ShorthandLookup(name)
			} else {
				f = fs.Lookup(name)
			}
			if f != nil {
				return f
			}
		}
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if i+1 < len(args) {
				return i + 1, nil
			}
			return -1, nil
		case a == "--help" || a == "-h":
			continue
		case strings.HasPrefix(a, "--"):
			name := a[2:]
			if strings.Contains(name, "=") {
				continue
			}
			f := lookup(name, false)
			if f == nil {
				return -1, fmt.Errorf("unknown flag --%s", name)
			}
			if f.NoOptDefVal == "" {
				i++ // the flag's value
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			// Shorthands: -o json, -ojson, -h.
			f := lookup(a[1:2], true)
			if f == nil {
				return -1, fmt.Errorf("unknown shorthand flag -%s", a[1:2])
			}
			if f.NoOptDefVal == "" && len(a) == 2 {
				i++
			}
		default:
			return i, nil
		}
	}
	return -1, nil
}

// checkBrokerOptions checks the options run and install take alike:
// --broker is HOST:PORT (or several, comma-separated), --type is known, and at most one way to trust the
// broker is given, well-formed. It returns the (first) broker's host, or the
// problem to show as a usage error.
func checkBrokerOptions(o *options) (host, problem string) {
	brokers, err := config.ParseBrokers(o.broker)
	if err != nil {
		return "", "--broker " + err.Error()
	}
	host, _, _ = net.SplitHostPort(brokers[0])
	if !protocol.ValidClientType(o.clientType) {
		return "", fmt.Sprintf("unknown --type %q (valid: %s)", o.clientType, strings.Join(protocol.ClientTypes(), ", "))
	}
	if o.brokerCA != "" && o.brokerFP != "" {
		return "", "use either --broker-ca or --broker-fingerprint, not both"
	}
	if o.brokerFP != "" {
		if _, err := brokerclient.ParseFingerprint(o.brokerFP); err != nil {
			return "", "--broker-fingerprint: " + err.Error()
		}
	}
	return host, ""
}

func usage(stderr io.Writer, cmd, msg string) int {
	hint := prog + " --help"
	if cmd != "" {
		hint = prog + " " + cmd + " --help"
	}
	fmt.Fprintf(stderr, "%s: %s; see '%s'\n", prog, msg, hint)
	return 2
}

func fail(stderr io.Writer, format string, a ...any) int {
	msg := strings.Join(strings.Fields(fmt.Sprintf(format, a...)), " ")
	fmt.Fprintf(stderr, "%s: %s\n", prog, msg)
	return 1
}

func printVersion(w io.Writer) { fmt.Fprintf(w, "%s %s\n", prog, version) }

func printMainHelp(w io.Writer) {
	fmt.Fprintf(w, "%s registers this device with an edgetrust broker and serves secure session logins.\n\n", prog)
	fmt.Fprintf(w, "Usage:\n  %s COMMAND [flags]\n\nCommands:\n", prog)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	var o options
	fs := newFlagSet(nil, &o)
	fmt.Fprintf(w, "\nGlobal flags (before or after the command):\n%s  -h, --help                show help\n\n", fs.FlagUsages())
	fmt.Fprintf(w, "Run '%s COMMAND --help' for a command's flags. Exit status: 0 success, 1 failure, 2 usage error.\n", prog)
}

func printHelp(w io.Writer, c *command, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s %s [flags]\n\n%s\n\nFlags:\n%s  -h, --help   show this help\n", prog, c.name, c.help, fs.FlagUsages())
}

func cmdRun(ctx context.Context, o *options, e env) int {
	applyEnvDefaults(o, e)
	var file config.File
	cfgPath := o.config
	if cfgPath == "" && !e.fs.Changed("broker") {
		if _, err := os.Stat(configPath(o)); err == nil {
			cfgPath = configPath(o)
		}
	}
	if cfgPath != "" {
		f, err := config.Load(cfgPath)
		if errors.Is(err, os.ErrNotExist) {
			return fail(e.stderr, "no configuration at %s; run '%s install' or pass --broker", cfgPath, prog)
		}
		if err != nil {
			return fail(e.stderr, "reading the configuration: %v", err)
		}
		file = f
		fromFile := func(flag string, dst *string, v string) {
			if !e.fs.Changed(flag) && v != "" {
				*dst = v
			}
		}
		fromFile("broker", &o.broker, f.Broker)
		fromFile("type", &o.clientType, f.Type)
		fromFile("account", &o.account, f.AccountID)
		fromFile("description", &o.description, f.Description)
		fromFile("state-dir", &o.stateDir, f.StateDir)
		fromFile("socket", &o.socket, f.Socket)
		if !e.fs.Changed("broker-ca") && !e.fs.Changed("broker-fingerprint") {
			o.brokerCA, o.brokerFP = f.BrokerCA, f.BrokerFingerprint
		}
	}
	if o.broker == "" {
		return usage(e.stderr, "run", "missing --broker HOST:PORT (or a configuration: run 'install' or pass --config)")
	}
	if _, problem := checkBrokerOptions(o); problem != "" {
		return usage(e.stderr, "run", problem)
	}
	key := o.apiKey
	if !e.fs.Changed("api-key") {
		key = e.getenv(envAPIKey)
	}
	if key == "" {
		key = file.APIKey
	}
	if key == "" {
		return usage(e.stderr, "run", "missing API key: pass --api-key or set "+envAPIKey)
	}
	if o.minBackoff < 0 || o.maxBackoff < 0 {
		return usage(e.stderr, "run", "--min-backoff and --max-backoff must not be negative")
	}
	log, err := newLogger(o.logLevel, o.logFormat, e.stderr)
	if err != nil {
		return usage(e.stderr, "run", err.Error())
	}
	defer log.Sync() //nolint:errcheck
	a, err := agent.New(agent.Config{
		Broker:            o.broker,
		StateDir:          o.stateDir,
		APIKey:            key,
		AccountID:         o.account,
		Type:              o.clientType,
		Description:       o.description,
		BrokerCA:          o.brokerCA,
		BrokerFingerprint: o.brokerFP,
		Socket:            o.socket,
		Logger:            log,
		MinBackoff:        o.minBackoff,
		MaxBackoff:        o.maxBackoff,
		Version:           version,
	})
	if err != nil {
		return fail(e.stderr, "%v; check the flags of 'run'", strings.TrimPrefix(err.Error(), "agent.New: "))
	}
	if err := daemon.Run(ctx, o.serviceName, a.Run); err != nil {
		if errors.Is(err, os.ErrPermission) {
			return fail(e.stderr, "%v; run as root, or pass --state-dir and --socket paths you can write", err)
		}
		return fail(e.stderr, "%v", err)
	}
	return 0
}

func newLogger(level, format string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	ec := logtime.EncoderConfig() // RFC 3339 UTC, as the broker's log
	var enc zapcore.Encoder
	switch format {
	case "json":
		enc = zapcore.NewJSONEncoder(ec)
	case "console":
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	default:
		return nil, fmt.Errorf("--log-format %q: use json or console", format)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), lvl)), nil
}

// statusJSON is 'status -o json': the service's state next to the agent's.
type statusJSON struct {
	Service        daemon.Status `json:"service"`
	ServiceManager string        `json:"service_manager,omitempty"`
	state.Status
}

func cmdStatus(_ context.Context, o *options, e env) int {
	switch o.output {
	case "", "json", "table":
	default:
		return usage(e.stderr, "status", fmt.Sprintf("unknown output format %q (use json)", o.output))
	}
	applyEnvDefaults(o, e)
	cfg, installed := loadInstalled(o, e)
	// The installed agent uses this directory: it is about to make its state.
	installedHere := installed && filepath.Clean(cmp.Or(cfg.StateDir, defaultStateDir)) == filepath.Clean(o.stateDir)
	if problem := noState(o.stateDir, installedHere); problem != "" {
		return fail(e.stderr, "no agent state in %s: %s; pass the agent's --state-dir (its configuration names it), or set this device up with '%s install'",
			o.stateDir, problem, prog)
	}
	svcState, manager := serviceState(o)
	st, err := state.Load(o.stateDir)
	if errors.Is(err, state.ErrCorrupt) {
		return fail(e.stderr, "%v; restore it, or move it away and restart the agent to register again", err)
	}
	if errors.Is(err, os.ErrPermission) {
		return fail(e.stderr, "cannot read the agent state in %s: permission denied; run as root (or the agent's user)", o.stateDir)
	}
	if err != nil {
		return fail(e.stderr, "reading the agent state in %s: %v", o.stateDir, err)
	}
	s := st.Status()
	if o.output == "json" {
		b, _ := json.MarshalIndent(statusJSON{Service: svcState, ServiceManager: manager, Status: s}, "", "  ")
		fmt.Fprintf(e.stdout, "%s\n", b)
		return 0
	}
	now := time.Now()
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "%s:\t%s\n", k, v)
	}
	service := string(svcState)
	if manager != "" {
		service += " (" + manager + ")"
	}
	row("service", service)
	row("state", s.State)
	row("endpoint id", s.EndpointID)
	row("broker", s.Broker)
	row("account", s.AccountID)
	row("device token", expiry(s.HasAccessToken, s.AccessExpiresAt, now))
	row("refresh token", expiry(s.HasAccessToken && !s.RefreshExpiresAt.IsZero(), s.RefreshExpiresAt, now))
	if !s.UnreachableSince.IsZero() {
		// S3c: logins are then served from cached user tokens only.
		row("connection", "broker unreachable since "+s.UnreachableSince.Local().Format(time.RFC3339)+
			" ("+now.Sub(s.UnreachableSince).Round(time.Second).String()+")")
	}
	row("last error", s.LastError)
	if !s.UpdatedAt.IsZero() {
		row("updated", s.UpdatedAt.Local().Format(time.RFC3339))
	}
	tw.Flush()
	return 0
}

// noState says why dir holds no agent's state ("" when it may): it does
// not exist, is no directory, or holds neither the identity nor the state
// while no installed configuration says an agent is about to use it. A
// fresh agent is told apart from a typo: the agent makes its identity as
// it starts, and 'install' writes the configuration before it starts the
// service, so either is there before the first registration.
func noState(dir string, installed bool) string {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "the directory does not exist"
	case err != nil:
		return "" // state.Load reports it (permission denied, ...)
	case !fi.IsDir():
		return "it is not a directory"
	case installed:
		return ""
	}
	for _, f := range []string{state.IdentityFile, state.StateFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, fs.ErrNotExist) {
			return ""
		}
	}
	return fmt.Sprintf("neither %s nor %s is there, and no agent is installed", state.IdentityFile, state.StateFile)
}

func expiry(has bool, at time.Time, now time.Time) string {
	switch {
	case !has:
		return "none"
	case at.IsZero():
		return "present"
	case !at.After(now):
		return "expired " + at.Local().Format(time.RFC3339)
	}
	return fmt.Sprintf("expires %s (in %s)", at.Local().Format(time.RFC3339), at.Sub(now).Round(time.Second))
}

func cmdLogin(ctx context.Context, o *options, e env) int {
	if !localapi.ValidLoginType(o.loginType) {
		return usage(e.stderr, "login", fmt.Sprintf("unknown --type %q (use session_user, session_user_domain or upn)", o.loginType))
	}
	switch o.output {
	case "", "json", "table":
	default:
		return usage(e.stderr, "login", fmt.Sprintf("unknown output format %q (use json)", o.output))
	}
	client := agentClient(o.socket, 60*time.Second)
	body, _ := json.Marshal(map[string]string{"type": o.loginType})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://agent/v1/login", strings.NewReader(string(body)))
	if err != nil {
		return fail(e.stderr, "%v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fail(e.stderr, "cannot reach the agent at %s (%v); is 'edgetrust-agent run' running? use --socket if it listens elsewhere", o.socket, unwrapURLError(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fail(e.stderr, "reading the agent's answer: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(raw, &eb) != nil || eb.Error == "" {
			return fail(e.stderr, "the agent answered HTTP %d", resp.StatusCode)
		}
		return fail(e.stderr, "login refused (%s): %s", eb.Error, eb.Description)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return fail(e.stderr, "the agent's answer is not JSON: %v", err)
	}
	if o.output == "json" || !isTerminal(e.stdout) {
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintf(e.stdout, "%s\n", b)
		return 0
	}
	// A terminal: the token would end up on screen and in scrollback.
	var who struct {
		Username, Domain, UPN string
		ExpiresIn             int64 `json:"expires_in"`
	}
	_ = json.Unmarshal(raw, &who)
	name := who.Username
	if who.Domain != "" {
		name = who.Domain + `\` + who.Username
	}
	if who.UPN != "" {
		name += " (" + who.UPN + ")"
	}
	until := time.Now().Add(time.Duration(who.ExpiresIn) * time.Second)
	fmt.Fprintf(e.stdout, "logged in as %s until %s (in %s); the token is not shown: add -o json to print it\n",
		name, until.Local().Format(time.RFC3339), (time.Duration(who.ExpiresIn) * time.Second).String())
	return 0
}

// isTerminal reports whether w is a terminal (a variable: tests set it).
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func unwrapURLError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}
