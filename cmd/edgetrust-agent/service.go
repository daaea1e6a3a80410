package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/agent"
	"github.com/edgetrust/edgetrust/agent/brokerclient"
	"github.com/edgetrust/edgetrust/agent/config"
	"github.com/edgetrust/edgetrust/agent/daemon"
	"github.com/edgetrust/edgetrust/agent/localapi"
	"github.com/edgetrust/edgetrust/agent/state"
	"github.com/edgetrust/edgetrust/internal/atomicfile"
	"github.com/edgetrust/edgetrust/packaging"
	"github.com/edgetrust/edgetrust/protocol"
)

const (
	defaultServiceName = "edgetrust-agent"
	envConfigDir       = "EDGETRUST_AGENT_CONFIG_DIR"
	serviceDescription = "edgetrust agent: device trust and secure session logins"
	defaultWaitTimeout = 30 * time.Second
)

// defaultConfigDir is where 'install' writes agent.conf.
func defaultConfigDir() string {
	if runtime.GOOS == "windows" {
		if pd := os.Getenv("ProgramData"); pd != "" {
			return filepath.Join(pd, "edgetrust-agent")
		}
		return `C:\ProgramData\edgetrust-agent`
	}
	return packaging.AgentConfigDir
}

// serviceFlags are hidden: they let tests install side by side with a real
// agent. The service runs 'run --config CONFIG_DIR/agent.conf'.
func serviceFlags(fs *pflag.FlagSet, o *options) {
	fs.StringVar(&o.configDir, "config-dir", defaultConfigDir(), "directory of agent.conf and the broker CA copy (default $"+envConfigDir+")")
	fs.StringVar(&o.serviceName, "service-name", defaultServiceName, "name of the system service")
	_ = fs.MarkHidden("config-dir")
	_ = fs.MarkHidden("service-name")
}

var installHelp = `Installs the agent as a system service that starts at boot, and starts it:
writes its configuration (CONFIG_DIR/agent.conf, mode 0600, API key
included; the key is never printed), copies the --broker-ca file next to
it, registers the service with the host's service manager (systemd, SysV
init scripts where systemd does not run, launchd, Windows services) and
waits until the agent has registered with the broker: trusted, or pending
an administrator's approval.

It exits 1 with the reason when the broker cannot be reached or refuses the
API key; the service then stays installed and keeps retrying. --no-wait
returns as soon as the service has started. Running install again
reconfigures the agent in place; its identity and state are kept.

Give the key with --api-key-file FILE ('-' reads standard input) or the
EDGETRUST_API_KEY environment variable rather than --api-key: that keeps it
out of the process list. Must run as root (Administrator on Windows).

Example:
  edgetrust-agent install --broker broker.example.com:7443 \
      --api-key-file /root/edgetrust.key --broker-fingerprint sha256:...`

func installFlags(fs *pflag.FlagSet, o *options) {
	fs.StringVar(&o.broker, "broker", "", "broker address HOST:PORT, or several brokers of one cluster HOST:PORT,HOST:PORT (required)")
	fs.StringVar(&o.apiKey, "api-key", "", "API key (default $"+envAPIKey+")")
	fs.StringVar(&o.apiKeyFile, "api-key-file", "", "file holding the API key; - reads standard input")
	fs.StringVar(&o.clientType, "type", agent.DefaultType, "client type: "+strings.Join(protocol.ClientTypes(), ", "))
	fs.StringVar(&o.account, "account", "", "target account id when the key belongs to a parent account")
	fs.StringVar(&o.description, "description", "", "description of this endpoint shown to administrators")
	fs.StringVar(&o.brokerCA, "broker-ca", "", "PEM file with the broker's certificate; copied into the config directory")
	fs.StringVar(&o.brokerFP, "broker-fingerprint", "", "pin the broker's key: sha256:HEX as the broker prints it")
	fs.BoolVar(&o.noWait, "no-wait", false, "do not wait for the agent to register")
	fs.DurationVar(&o.waitTimeout, "wait-timeout", defaultWaitTimeout, "how long to wait for the agent to register")
	serviceFlags(fs, o)
}

// applyEnvDefaults fills hidden defaults from the environment.
func applyEnvDefaults(o *options, e env) {
	if !e.fs.Changed("config-dir") {
		if d := e.getenv(envConfigDir); d != "" {
			o.configDir = d
		}
	}
}

func configPath(o *options) string { return filepath.Join(o.configDir, config.Name) }

// needRoot fails unless this process may change system services.
func needRoot(e env, cmd string) (int, bool) {
	if runtime.GOOS != "windows" && os.Geteuid() != 0 {
		return fail(e.stderr, "%s changes a system service: run it as root (sudo %s %s ...)", cmd, prog, cmd), false
	}
	return 0, true
}

// serviceConfig is the service 'install' registers: on systemd hosts the
// packaged unit, elsewhere 'run --config CONFIG_DIR/agent.conf'.
func serviceConfig(o *options) daemon.Config {
	return daemon.Config{
		Name:              o.serviceName,
		Description:       serviceDescription,
		Arguments:         []string{"run", "--config", configPath(o)},
		SystemdUnit:       packaging.AgentUnit,
		SystemdExecutable: packaging.AgentBinary,
		User:              packaging.AgentUser,
	}
}

func newService(o *options) (*daemon.Service, error) { return daemon.New(serviceConfig(o)) }

// loadInstalled reads the installed configuration, if any, and takes the
// state directory and socket from it unless flags set them.
func loadInstalled(o *options, e env) (config.File, bool) {
	f, err := config.Load(configPath(o))
	if err != nil {
		return config.File{}, false
	}
	if !e.fs.Changed("state-dir") && f.StateDir != "" {
		o.stateDir = f.StateDir
	}
	if !e.fs.Changed("socket") && f.Socket != "" {
		o.socket = f.Socket
	}
	return f, true
}

// readKey returns the API key from --api-key, --api-key-file or the
// environment, in that order; at most one of the flags may be given.
func readKey(o *options, e env, stdin io.Reader) (string, error) {
	if e.fs.Changed("api-key") && e.fs.Changed("api-key-file") {
		return "", &usageError{msg: "use either --api-key or --api-key-file, not both"}
	}
	if e.fs.Changed("api-key") {
		return o.apiKey, nil
	}
	if o.apiKeyFile != "" {
		var data []byte
		var err error
		if o.apiKeyFile == "-" {
			data, err = io.ReadAll(io.LimitReader(stdin, 4096))
		} else {
			data, err = os.ReadFile(o.apiKeyFile)
		}
		if err != nil {
			return "", fmt.Errorf("reading --api-key-file: %w", err)
		}
		key := strings.TrimSpace(string(data))
		if key == "" || strings.ContainsAny(key, " \t\r\n") {
			return "", fmt.Errorf("--api-key-file %s must hold the API key alone on one line", o.apiKeyFile)
		}
		return key, nil
	}
	return e.getenv(envAPIKey), nil
}

func cmdInstall(ctx context.Context, o *options, e env) int {
	applyEnvDefaults(o, e)
	if o.broker == "" {
		return usage(e.stderr, "install", "missing --broker HOST:PORT")
	}
	host, problem := checkBrokerOptions(o)
	if problem != "" {
		return usage(e.stderr, "install", problem)
	}
	if o.waitTimeout <= 0 {
		return usage(e.stderr, "install", "--wait-timeout must be positive")
	}
	key, err := readKey(o, e, e.stdin)
	var ue *usageError
	if errors.As(err, &ue) {
		return usage(e.stderr, "install", ue.msg)
	}
	if err != nil {
		return fail(e.stderr, "%v", err)
	}
	if key == "" {
		return usage(e.stderr, "install", "missing API key: pass --api-key-file FILE, set "+envAPIKey+" or pass --api-key")
	}
	if o.brokerCA != "" {
		// The same check the agent makes at start, made now while the admin
		// is here to read the answer.
		if _, err := brokerclient.TLSConfig(host, o.brokerCA, ""); err != nil {
			return fail(e.stderr, "--broker-ca %s: %v", o.brokerCA, err)
		}
	}
	if code, ok := needRoot(e, "install"); !ok {
		return code
	}
	svc, err := newService(o)
	if err != nil {
		return fail(e.stderr, "%v", err)
	}
	if svc.Platform() == daemon.PlatformSystemd {
		// The unit is fixed: it names these paths.
		if o.configDir != packaging.AgentConfigDir || o.stateDir != packaging.AgentStateDir ||
			o.socket != packaging.AgentSocket || o.serviceName != defaultServiceName {
			return usage(e.stderr, "install", "under systemd the agent's directories, socket and service name are fixed by its unit; do not change them")
		}
	}
	// A corrupt state would stop the agent at once: say so now.
	if _, err := state.Load(o.stateDir); errors.Is(err, state.ErrCorrupt) {
		return fail(e.stderr, "%v; restore it, or move it away to register as a new endpoint, then run install again", err)
	}

	if err := os.MkdirAll(o.configDir, 0o755); err != nil {
		return fail(e.stderr, "creating %s: %v", o.configDir, err)
	}
	caCopy := filepath.Join(o.configDir, config.CAName)
	f := config.File{
		Broker: o.broker, APIKey: key, Type: o.clientType, AccountID: o.account, Description: o.description,
		BrokerFingerprint: o.brokerFP, StateDir: o.stateDir, Socket: o.socket,
	}
	if o.brokerCA != "" {
		pem, err := os.ReadFile(o.brokerCA)
		if err != nil {
			return fail(e.stderr, "reading --broker-ca: %v", err)
		}
		// A certificate is public; the service user must be able to read it.
		if err := atomicfile.Write(caCopy, pem, 0o644); err != nil {
			return fail(e.stderr, "copying the broker CA: %v", err)
		}
		f.BrokerCA = caCopy
	} else if err := os.Remove(caCopy); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fail(e.stderr, "removing the old broker CA copy: %v", err)
	}
	if err := config.Save(configPath(o), f); err != nil {
		return fail(e.stderr, "writing the configuration: %v", err)
	}
	if err := svc.Install(); err != nil {
		return fail(e.stderr, "%v", err)
	}
	// The agent reports errors in its state; one left from an earlier run
	// must not be taken for this run's.
	if st, err := state.Load(o.stateDir); err == nil && st.LastError != "" {
		st.LastError = ""
		if err := state.Save(o.stateDir, st); err != nil {
			return fail(e.stderr, "updating the agent state: %v", err)
		}
		if err := chownLike(filepath.Join(o.stateDir, state.StateFile), o.stateDir); err != nil {
			return fail(e.stderr, "updating the agent state: %v", err)
		}
	}
	if err := svc.Start(); err != nil {
		return fail(e.stderr, "installed, but starting failed: %v", err)
	}
	fmt.Fprintf(e.stdout, "%s: installed as %s (configuration %s)\n", prog, svc.Describe(), configPath(o))
	if o.noWait {
		fmt.Fprintf(e.stdout, "%s: started; not waiting for it to register (--no-wait); see '%s status'\n", prog, prog)
		return 0
	}
	return waitRegistered(ctx, o, e, svc)
}

// waitRegistered polls the running agent until it has registered (pending
// or trusted), reports an error, or the service stops.
func waitRegistered(ctx context.Context, o *options, e env, svc *daemon.Service) int {
	ctx, cancel := context.WithTimeout(ctx, o.waitTimeout)
	defer cancel()
	const keeps = "the service stays installed and keeps retrying; fix this and run install again, or remove it with 'edgetrust-agent uninstall --purge'"
	var lastErr string
	nextServiceCheck := time.Now().Add(time.Second)
	for {
		s, err := agentStatus(ctx, o.socket)
		if err == nil {
			connected := s.Connected != nil && *s.Connected
			switch {
			case connected && s.State == state.Trusted:
				fmt.Fprintf(e.stdout, "%s: registered with %s: endpoint %s is trusted\n", prog, o.broker, s.EndpointID)
				return 0
			case connected && s.State == state.Pending:
				fmt.Fprintf(e.stdout, "%s: registered with %s: endpoint %s is pending: an administrator must approve it\n", prog, o.broker, s.EndpointID)
				return 0
			case connected && s.State != state.Unregistered:
				return fail(e.stderr, "registered with %s, but the broker has endpoint %s as %s; ask an administrator to approve it", o.broker, s.EndpointID, s.State)
			case !connected && s.LastError != "":
				return fail(e.stderr, "the agent could not register with %s: %s; %s", o.broker, s.LastError, keeps)
			}
			lastErr = ""
		} else {
			lastErr = err.Error()
		}
		if time.Now().After(nextServiceCheck) {
			nextServiceCheck = time.Now().Add(time.Second)
			if st, err := svc.Status(); err == nil && st != daemon.StatusRunning {
				return fail(e.stderr, "the agent service is %s instead of running; see %s", st, svc.LogHint())
			}
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("the agent did not register with %s within %v", o.broker, o.waitTimeout)
			if lastErr != "" {
				msg += " (its local socket " + o.socket + ": " + lastErr + ")"
			}
			return fail(e.stderr, "%s; %s", msg, keeps)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// agentClient talks HTTP to the running agent over its local socket.
func agentClient(socket string, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return localapi.Dial(ctx, socket) // a Unix socket, or a named pipe on Windows
		}},
	}
}

// agentStatus asks the running agent for its status (GET /v1/status).
func agentStatus(ctx context.Context, socket string) (state.Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent/v1/status", nil)
	if err != nil {
		return state.Status{}, err
	}
	resp, err := agentClient(socket, 2*time.Second).Do(req)
	if err != nil {
		return state.Status{}, unwrapURLError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return state.Status{}, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var s state.Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&s); err != nil {
		return state.Status{}, err
	}
	return s, nil
}

func cmdUninstall(_ context.Context, o *options, e env) int {
	applyEnvDefaults(o, e)
	if code, ok := needRoot(e, "uninstall"); !ok {
		return code
	}
	loadInstalled(o, e)
	svc, err := newService(o)
	if err != nil {
		return fail(e.stderr, "%v", err)
	}
	before, _ := svc.Status()
	if err := svc.Uninstall(); err != nil {
		return fail(e.stderr, "%v", err)
	}
	if before == daemon.StatusNotInstalled {
		fmt.Fprintf(e.stdout, "%s: the service was not installed\n", prog)
	} else {
		fmt.Fprintf(e.stdout, "%s: stopped and removed the %s\n", prog, svc.Describe())
	}
	if !o.purge {
		fmt.Fprintf(e.stdout, "%s: kept the configuration (%s) and the device's identity and state (%s); --purge removes them\n", prog, o.configDir, o.stateDir)
		return 0
	}
	var removed []string
	for _, dir := range []string{o.configDir, o.stateDir} {
		ok, err := purgeDir(dir)
		if err != nil {
			return fail(e.stderr, "%v", err)
		}
		if ok {
			removed = append(removed, dir)
		}
	}
	if fi, err := os.Lstat(o.socket); err == nil && fi.Mode()&os.ModeSocket != 0 {
		if err := os.Remove(o.socket); err != nil {
			return fail(e.stderr, "removing %s: %v", o.socket, err)
		}
	}
	if filepath.Dir(o.socket) == filepath.Dir(packaging.AgentSocket) {
		os.Remove(filepath.Dir(o.socket)) // only if empty
	}
	if err := svc.PurgeLogs(); err != nil {
		return fail(e.stderr, "removing the service log: %v", err)
	}
	if len(removed) > 0 {
		fmt.Fprintf(e.stdout, "%s: removed %s\n", prog, strings.Join(removed, " and "))
	}
	return 0
}

// purgeDir removes dir, the agent's configuration or state directory, and
// reports whether it existed. The path comes from flags or a file, so it
// is removed only when it looks like what the agent writes: an absolute,
// non-root directory holding nothing but regular files.
func purgeDir(dir string) (bool, error) {
	c := filepath.Clean(dir)
	if !filepath.IsAbs(c) || c == filepath.Dir(c) {
		return false, fmt.Errorf("not removing %q: not an absolute directory below /", dir)
	}
	entries, err := os.ReadDir(c)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("not removing %s: %v", c, err)
	}
	for _, en := range entries {
		if !en.Type().IsRegular() {
			return false, fmt.Errorf("not removing %s: it holds %s, which the agent does not write; remove it by hand", c, en.Name())
		}
	}
	if err := os.RemoveAll(c); err != nil {
		return false, fmt.Errorf("removing %s: %v", c, err)
	}
	return true, nil
}

func cmdControl(action string) func(context.Context, *options, env) int {
	return func(_ context.Context, o *options, e env) int {
		applyEnvDefaults(o, e)
		if code, ok := needRoot(e, action); !ok {
			return code
		}
		svc, err := newService(o)
		if err != nil {
			return fail(e.stderr, "%v", err)
		}
		switch action {
		case "start":
			err = svc.Start()
		case "stop":
			err = svc.Stop()
		case "restart":
			err = svc.Restart()
		}
		if errors.Is(err, daemon.ErrNotInstalled) {
			return fail(e.stderr, "the service is not installed; run '%s install' first", prog)
		}
		if err != nil {
			return fail(e.stderr, "%v", err)
		}
		done := map[string]string{"start": "started", "stop": "stopped", "restart": "restarted"}[action]
		fmt.Fprintf(e.stdout, "%s: %s the %s\n", prog, done, svc.Describe())
		return 0
	}
}

// serviceState is the service part of 'status'.
func serviceState(o *options) (daemon.Status, string) {
	svc, err := newService(o)
	if err != nil {
		return daemon.StatusUnknown, ""
	}
	st, err := svc.Status()
	if err != nil {
		return daemon.StatusUnknown, svc.Platform()
	}
	return st, svc.Platform()
}
