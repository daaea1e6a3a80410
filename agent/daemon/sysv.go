package daemon

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// sysvScript renders the init script for cfg. Values are shell-quoted here,
// in Go; the result has no template actions, so kardianos/service writes it
// unchanged.
//
// Unlike kardianos/service's own script it recognises the process by its
// command line in /proc, so an exited process that init never reaped (a zombie
// keeps its /proc entry) or a reused PID is not taken for the agent; it
// ignores SIGHUP, so the agent outlives the terminal that installed it; and
// it answers "status" with the LSB exit codes (0 running, 3 stopped).
func sysvScript(cfg Config) string {
	var args strings.Builder
	args.WriteString(shellQuote(cfg.Executable))
	for _, a := range cfg.Arguments {
		args.WriteString(" " + shellQuote(a))
	}
	desc := strings.Join(strings.Fields(cfg.Description), " ")
	if desc == "" {
		desc = cfg.Name
	}
	r := strings.NewReplacer(
		"@NAME@", cfg.Name,
		"@DESC@", desc,
		"@EXE@", shellQuote(cfg.Executable),
		"@CMD@", args.String(),
		"@PIDFILE@", shellQuote(filepath.Join(runDir, cfg.Name+".pid")),
		"@LOGFILE@", shellQuote(filepath.Join(cfg.LogDir, cfg.Name+".log")),
	)
	return r.Replace(sysvTemplate)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

const sysvTemplate = `#!/bin/sh
# @NAME@: @DESC@
# Written by the service's 'install' command; its 'uninstall' removes it.
# chkconfig: 2345 90 10
# description: @DESC@
### BEGIN INIT INFO
# Provides:          @NAME@
# Required-Start:    $network $remote_fs $syslog
# Required-Stop:     $network $remote_fs $syslog
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: @DESC@
### END INIT INFO

exe=@EXE@
pid_file=@PIDFILE@
log_file=@LOGFILE@

# is_running sets pid and succeeds when the recorded process is this
# service's program and has not exited.
is_running() {
	[ -r "$pid_file" ] || return 1
	pid=$(cat "$pid_file" 2>/dev/null)
	case "$pid" in '' | *[!0-9]*) return 1 ;; esac
	# The program's path is the first word of its command line; a process
	# that exited has an empty one, even while it waits to be reaped.
	[ -r "/proc/$pid/cmdline" ] || return 1
	first=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n 1)
	[ "$first" = "$exe" ] || return 1
	state=$(sed -e 's/^.*) //' -e 's/ .*//' "/proc/$pid/stat" 2>/dev/null)
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

pause() {
	sleep 0.1 2>/dev/null || sleep 1
}

do_start() {
	if is_running; then
		echo "Already running"
		return 0
	fi
	cd / || return 1
	umask 077
	trap '' HUP
	@CMD@ >>"$log_file" 2>&1 </dev/null &
	pid=$!
	trap - HUP
	umask 022 # the pid is no secret: status works for every user
	echo "$pid" >"$pid_file"
	pause
	if ! is_running; then
		echo "Unable to start; see $log_file"
		rm -f "$pid_file"
		return 1
	fi
	echo "Started"
}

do_stop() {
	if ! is_running; then
		rm -f "$pid_file"
		echo "Not running"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null
	i=0
	while is_running && [ "$i" -lt 150 ]; do
		pause
		i=$((i + 1))
	done
	if is_running; then
		kill -KILL "$pid" 2>/dev/null
		echo "Killed: still running 15s after SIGTERM"
	fi
	rm -f "$pid_file"
	echo "Stopped"
}

case "$1" in
start) do_start ;;
stop) do_stop ;;
restart | force-reload)
	do_stop && do_start
	;;
status)
	if is_running; then
		echo "Running"
		exit 0
	fi
	echo "Stopped"
	exit 3
	;;
*)
	echo "Usage: $0 {start|stop|restart|force-reload|status}" >&2
	exit 3
	;;
esac
`

func (s *Service) sysvStatus() (Status, error) {
	script := s.initScript()
	if _, err := os.Stat(script); errors.Is(err, os.ErrNotExist) {
		return StatusNotInstalled, nil
	}
	out, err := output(script, "status")
	var ee *exec.ExitError
	switch {
	case err == nil:
		return StatusRunning, nil
	case errors.As(err, &ee) && ee.ExitCode() == 3:
		return StatusStopped, nil
	}
	return StatusUnknown, fmt.Errorf("%s status: %v: %s", script, err, out)
}

// sysvControl runs the init script as 'service' would: from /, with a
// minimal environment (the installer's, API key included, stays out).
func (s *Service) sysvControl(action string) error {
	script := s.initScript()
	if out, err := output(script, action); err != nil {
		if out == "" {
			out = "no output"
		}
		return fmt.Errorf("%s %s: %v (%s); see %s", script, action, err, out, s.logFile())
	}
	return nil
}

// removeRCLinks removes the runlevel links etc/rc?.d/[SK]NNname that point
// at etc/init.d/name (or dangle). kardianos/service creates them on install
// and leaves them on uninstall.
func removeRCLinks(etc, name string) error {
	links, err := filepath.Glob(filepath.Join(etc, "rc?.d", "[SK][0-9][0-9]"+name))
	if err != nil {
		return err
	}
	script := filepath.Join(etc, "init.d", name)
	for _, l := range links {
		fi, err := os.Lstat(l)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			continue
		}
		target, err := os.Readlink(l)
		if err != nil {
			continue
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(l), target)
		}
		if filepath.Clean(target) != script {
			continue
		}
		if err := os.Remove(l); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing %s: %w", l, err)
		}
	}
	return nil
}
