// Package daemon installs, removes, starts, stops and queries the agent as a
// system service. It adapts github.com/kardianos/service, which picks the
// host's service manager: systemd, SysV init scripts where no systemd runs,
// launchd on macOS, the Windows service manager.
//
// Two things are added to what kardianos/service does:
//
//   - On systemd hosts the unit written is Config.SystemdUnit byte for byte
//     (the unit the packages ship), the binary is put where that unit runs
//     it, and the service user is created when missing.
//   - Where SysV init scripts are used, the script is this package's own (it
//     stops the agent reliably even where init does not reap exited
//     processes, and logs to one file), and Uninstall also removes the
//     /etc/rc?.d links that kardianos/service leaves behind.
//
// Install is idempotent: on a host where the service exists it is stopped
// and its definition replaced, which is how 'install' reconfigures in place.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/kardianos/service"
)

// Platform names as kardianos/service reports them.
const (
	PlatformSystemd = "linux-systemd"
	PlatformSysV    = "unix-systemv"
	PlatformLaunchd = "darwin-launchd"
	PlatformWindows = "windows-service"
)

// Status is a service's state as the service manager reports it.
type Status string

// Statuses.
const (
	StatusRunning      Status = "running"
	StatusStopped      Status = "stopped"
	StatusNotInstalled Status = "not installed"
	StatusUnknown      Status = "unknown"
)

// ErrNotInstalled is returned by Start, Stop and Restart when the service is
// not installed.
var ErrNotInstalled = errors.New("the service is not installed")

// Config describes the service. Zero optional fields mean their defaults.
type Config struct {
	Name        string   // service name; required
	Description string   // one line shown by the service manager
	Executable  string   // program the service runs; "" = this executable
	Arguments   []string // its arguments

	// SystemdUnit is the unit written on systemd hosts, verbatim; required
	// there. It must not contain "{{" (kardianos/service renders it as a
	// template: without actions it is written unchanged).
	SystemdUnit string
	// SystemdExecutable is the path SystemdUnit's ExecStart names. On
	// systemd hosts Install copies Executable there when it is another file.
	SystemdExecutable string
	// User is the service user SystemdUnit names; on systemd hosts Install
	// creates it (a system user without a shell) when it does not exist.
	User string

	// LogDir is where the SysV script appends the service's output, to
	// LogDir/Name.log; "" = /var/log.
	LogDir string
}

// Where kardianos/service puts SysV scripts and systemd units, and where
// the SysV script keeps its pid file.
const (
	etcDir = "/etc"
	runDir = "/var/run"
)

// Service is one configured service.
type Service struct {
	cfg      Config
	svc      service.Service
	platform string
}

// noop satisfies service.Interface for the control operations, which never
// run the program.
type noop struct{}

func (noop) Start(service.Service) error { return nil }
func (noop) Stop(service.Service) error  { return nil }

// New checks cfg and returns the service as the host's service manager sees
// it. It does not touch the system.
func New(cfg Config) (*Service, error) {
	if cfg.Name == "" || strings.ContainsAny(cfg.Name, "/\\ \t\n'\"{}") {
		return nil, fmt.Errorf("daemon.New: invalid service name %q", cfg.Name)
	}
	if cfg.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("daemon.New: finding this executable: %w", err)
		}
		cfg.Executable = exe
	}
	if cfg.LogDir == "" {
		cfg.LogDir = "/var/log"
	}
	if exe, err := filepath.EvalSymlinks(cfg.Executable); err == nil {
		// The SysV script recognises the process by its command line.
		cfg.Executable = exe
	}
	for _, s := range append([]string{cfg.Description, cfg.Executable, cfg.SystemdUnit, cfg.LogDir}, cfg.Arguments...) {
		if strings.Contains(s, "{{") {
			return nil, fmt.Errorf("daemon.New: %q contains \"{{\"", s)
		}
	}
	sc := &service.Config{
		Name:        cfg.Name,
		DisplayName: cfg.Name,
		Description: cfg.Description,
		Executable:  cfg.Executable,
		Arguments:   cfg.Arguments,
		Option: service.KeyValue{
			"SysvScript": sysvScript(cfg),
		},
	}
	if cfg.SystemdUnit != "" {
		sc.Option["SystemdScript"] = cfg.SystemdUnit
	}
	if runtime.GOOS == "windows" {
		sc.Option["OnFailure"] = "restart"
		sc.Option["OnFailureDelayDuration"] = "5s"
	}
	svc, err := service.New(noop{}, sc)
	if err != nil {
		return nil, fmt.Errorf("daemon.New: %w", err)
	}
	return &Service{cfg: cfg, svc: svc, platform: svc.Platform()}, nil
}

// Platform names the service manager in use, e.g. PlatformSysV.
func (s *Service) Platform() string { return s.platform }

// Describe says in a few words how the service is run here.
func (s *Service) Describe() string {
	switch s.platform {
	case PlatformSystemd:
		return "systemd unit " + s.cfg.Name + ".service"
	case PlatformSysV:
		return "SysV init script " + s.initScript()
	case PlatformLaunchd:
		return "launchd daemon " + s.cfg.Name
	case PlatformWindows:
		return "Windows service " + s.cfg.Name
	}
	return s.platform + " service " + s.cfg.Name
}

// LogHint tells an admin where the service's output goes.
func (s *Service) LogHint() string {
	switch s.platform {
	case PlatformSystemd:
		return "journalctl -u " + s.cfg.Name
	case PlatformSysV:
		return s.logFile()
	case PlatformWindows:
		return "the Windows event log"
	}
	return "the system log"
}

func (s *Service) initScript() string {
	return filepath.Join(etcDir, "init.d", s.cfg.Name)
}

func (s *Service) logFile() string { return filepath.Join(s.cfg.LogDir, s.cfg.Name+".log") }

func (s *Service) pidFile() string { return filepath.Join(runDir, s.cfg.Name+".pid") }

func (s *Service) systemdEtcUnit() string {
	return filepath.Join(etcDir, "systemd", "system", s.cfg.Name+".service")
}

// Status asks the service manager whether the service runs.
func (s *Service) Status() (Status, error) {
	if s.platform == PlatformSysV {
		return s.sysvStatus()
	}
	st, err := s.svc.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		return StatusNotInstalled, nil
	case err != nil:
		return StatusUnknown, err
	case st == service.StatusRunning:
		return StatusRunning, nil
	case st == service.StatusStopped:
		return StatusStopped, nil
	}
	return StatusUnknown, nil
}

// Install installs the service so that it starts at boot, replacing an
// existing definition (the service is stopped first). It does not start it.
func (s *Service) Install() error {
	st, err := s.Status()
	if err != nil {
		st = StatusUnknown
	}
	if st != StatusNotInstalled {
		if err := s.Stop(); err != nil && !errors.Is(err, ErrNotInstalled) {
			return fmt.Errorf("stopping the installed service: %w", err)
		}
		if err := s.removeDefinition(); err != nil {
			return fmt.Errorf("removing the old service definition: %w", err)
		}
	}
	if s.platform == PlatformSystemd {
		if err := s.prepareSystemd(); err != nil {
			return err
		}
	}
	if s.platform == PlatformSysV {
		// Links left by an earlier install would keep pointing at the script.
		if err := removeRCLinks(etcDir, s.cfg.Name); err != nil {
			return err
		}
	}
	if err := s.svc.Install(); err != nil {
		return fmt.Errorf("installing the %s: %w", s.Describe(), err)
	}
	return nil
}

// Uninstall stops the service and removes its definition. For SysV it also
// removes the /etc/rc?.d links and the pid file. A service that is not
// installed is not an error.
func (s *Service) Uninstall() error {
	if err := s.Stop(); err != nil && !errors.Is(err, ErrNotInstalled) {
		return fmt.Errorf("stopping the service: %w", err)
	}
	if err := s.removeDefinition(); err != nil {
		return err
	}
	if s.platform == PlatformSysV {
		if err := removeRCLinks(etcDir, s.cfg.Name); err != nil {
			return err
		}
		if err := os.Remove(s.pidFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// PurgeLogs removes the log file the SysV script wrote (elsewhere the
// system's log keeps the output). Call it after Uninstall.
func (s *Service) PurgeLogs() error {
	if s.platform != PlatformSysV {
		return nil
	}
	if err := os.Remove(s.logFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (s *Service) removeDefinition() error {
	switch s.platform {
	case PlatformSysV:
		if _, err := os.Lstat(s.initScript()); errors.Is(err, os.ErrNotExist) {
			return nil
		}
	case PlatformSystemd:
		if _, err := os.Stat(s.systemdEtcUnit()); errors.Is(err, os.ErrNotExist) {
			// Only the packaged unit (under /usr/lib) is there: disable it.
			_, _ = output("systemctl", "disable", s.cfg.Name+".service")
			return nil
		}
	default:
		if st, err := s.Status(); err == nil && st == StatusNotInstalled {
			return nil
		}
	}
	if err := s.svc.Uninstall(); err != nil {
		return fmt.Errorf("removing the %s: %w", s.Describe(), err)
	}
	return nil
}

// Start starts the installed service; one already running is left alone.
func (s *Service) Start() error {
	return s.control("start")
}

// Stop stops the service; one already stopped is not an error.
func (s *Service) Stop() error {
	st, err := s.Status()
	if err == nil && st == StatusStopped {
		return nil
	}
	return s.control("stop")
}

// Restart stops the service if it runs and starts it.
func (s *Service) Restart() error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.Start()
}

func (s *Service) control(action string) error {
	st, err := s.Status()
	if err == nil && st == StatusNotInstalled {
		return ErrNotInstalled
	}
	if s.platform == PlatformSysV {
		return s.sysvControl(action)
	}
	switch action {
	case "start":
		err = s.svc.Start()
	case "stop":
		err = s.svc.Stop()
	}
	if err != nil {
		return fmt.Errorf("%s the %s: %w", action, s.Describe(), err)
	}
	return nil
}

// prepareSystemd puts the binary where the unit runs it and creates the
// service user.
func (s *Service) prepareSystemd() error {
	if s.cfg.SystemdUnit == "" {
		return errors.New("daemon: no systemd unit configured")
	}
	if dst := s.cfg.SystemdExecutable; dst != "" && !sameFile(s.cfg.Executable, dst) {
		if err := copyExecutable(s.cfg.Executable, dst); err != nil {
			return fmt.Errorf("copying the agent to %s, where its unit runs it: %w", dst, err)
		}
	}
	if u := s.cfg.User; u != "" {
		if _, err := output("getent", "passwd", u); err != nil {
			shell := "/usr/sbin/nologin"
			if _, err := os.Stat(shell); err != nil {
				shell = "/bin/false"
			}
			if out, err := output("useradd", "--system", "--user-group", "--no-create-home",
				"--home-dir", "/nonexistent", "--shell", shell, u); err != nil {
				return fmt.Errorf("creating the service user %s: %v: %s", u, err, out)
			}
		}
	}
	return nil
}

func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// copyExecutable copies src to dst (0755) through a temporary file and a
// rename, so that a running copy of dst is never overwritten in place.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// output runs a command with a bounded time, a minimal environment and /
// as its directory, and returns its combined output.
func output(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, name, args...)
	c.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	c.Dir = "/"
	out, err := c.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// Run runs fn until ctx ends. When the Windows service manager started this
// process, it also answers it: a stop request cancels fn's context, and fn's
// end stops the service. Everywhere else it is fn(ctx): the signals that stop
// a service there (SIGTERM) already cancel ctx.
func Run(ctx context.Context, name string, fn func(context.Context) error) error {
	if runtime.GOOS != "windows" || service.Interactive() {
		return fn(ctx)
	}
	p := &program{parent: ctx, fn: fn, done: make(chan struct{})}
	svc, err := service.New(p, &service.Config{Name: name})
	if err != nil {
		return err
	}
	p.svc = svc
	if err := svc.Run(); err != nil {
		return err
	}
	return p.err
}

// program runs fn under the Windows service manager.
type program struct {
	parent context.Context
	fn     func(context.Context) error
	svc    service.Service
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func (p *program) Start(service.Service) error {
	ctx, cancel := context.WithCancel(p.parent)
	p.cancel = cancel
	go func() {
		p.err = p.fn(ctx)
		close(p.done)
		if ctx.Err() == nil {
			// fn ended on its own: let the service manager see it stop.
			_ = p.svc.Stop()
		}
	}()
	return nil
}

func (p *program) Stop(service.Service) error {
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
	}
	return nil
}
