// Command edgetrustctl drives the public API of an edgetrust broker: sign in,
// accounts, users, roles, API keys and their values, edge devices, endpoints
// (one or in bulk) and the audit log (SPEC §6).
//
// Global flags are accepted before or after the command. The exit status is
// 0 on success, 1 on failure and 2 on a usage error; errors go to standard
// error as one line that says what to do; with -o json only JSON goes to
// standard output.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

const prog = "edgetrustctl"

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// globals are the flags every command accepts.
type globals struct {
	server  string
	caFile  string
	output  string
	account string
}

func (g *globals) register(fs *pflag.FlagSet) {
	fs.StringVar(&g.server, "server", "", "broker URL, https://HOST:PORT (env EDGETRUST_SERVER; default: the signed-in session's, else "+defaultServer+")")
	fs.StringVar(&g.caFile, "ca-file", "", "PEM file of the broker's certificate (DATA_DIR/tls/broker.crt), trusted as the only root (env EDGETRUST_CA_FILE; default: the session's, else the system roots)")
	fs.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	fs.StringVar(&g.account, "account", "", "account id to act on (default: your own account)")
}

// cli is one invocation's environment.
type cli struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	env    func(string) string
	now    func() time.Time
	g      globals
	cmd    *command
}

// command is a leaf command. setup registers the command's flags on fs and
// returns the function that runs it with the positional arguments.
type command struct {
	path    string // "keys create"
	args    string // synopsis after the path
	summary string
	help    string // description and examples
	setup   func(fs *pflag.FlagSet) func(c *cli, args []string) error
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// groups maps a first word to the commands under it; a command with a
// single word is its own group.
func groups() map[string][]*command {
	m := map[string][]*command{}
	for _, c := range commands() {
		first, _, _ := strings.Cut(c.path, " ")
		m[first] = append(m[first], c)
	}
	return m
}

// run is the whole program; main only wires it to the process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	c := &cli{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, env: env, now: time.Now}
	cmd, rest, err := resolve(args)
	if err != nil {
		var h *helpRequest
		if errors.As(err, &h) {
			if h.toStderr {
				fmt.Fprint(stderr, h.text)
				return exitUsage
			}
			fmt.Fprint(stdout, h.text)
			return exitOK
		}
		return c.fail(err)
	}
	c.cmd = cmd
	fs := pflag.NewFlagSet(prog+" "+cmd.path, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SetInterspersed(true)
	fs.SortFlags = false
	c.g.register(fs)
	runFn := cmd.setup(fs)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stdout, commandHelp(cmd))
			return exitOK
		}
		return c.fail(&usageError{err.Error()})
	}
	if c.g.output != "table" && c.g.output != "json" {
		return c.fail(usagef("-o must be table or json, not %q", c.g.output))
	}
	if err := runFn(c, fs.Args()); err != nil {
		return c.fail(err)
	}
	return exitOK
}

// fail prints err as one line on stderr and returns its exit status.
func (c *cli) fail(err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		hint := prog + " --help"
		if c.cmd != nil {
			hint = prog + " " + c.cmd.path + " --help"
		}
		fmt.Fprintf(c.stderr, "%s: %s; run %q\n", prog, oneLine(ue.msg), hint)
		return exitUsage
	}
	var se *silentError
	if errors.As(err, &se) {
		return exitFail
	}
	fmt.Fprintf(c.stderr, "%s: %s\n", prog, oneLine(err.Error()))
	return exitFail
}

// silentError fails with status 1 after the command already said why.
type silentError struct{}

func (*silentError) Error() string { return "failed" }

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// helpRequest asks run to print help text instead of running a command.
type helpRequest struct {
	text     string
	toStderr bool // printed because the command line was incomplete: exit 2
}

func (h *helpRequest) Error() string { return "help" }

// resolve finds the command named by the words of args, wherever the flags
// are, and returns args without those words. Flag values are skipped using
// the union of every command's flags, so "--server X keys list" and
// "keys --server X list" both name "keys list".
func resolve(args []string) (*command, []string, error) {
	valueLong, valueShort := valueFlags()
	var words []int
	help := false
scan:
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			for j := i + 1; j < len(args); j++ {
				words = append(words, j)
			}
			break scan
		case a == "--help" || a == "-h":
			help = true
		case a == "--version":
			return nil, nil, &helpRequest{text: prog + " " + version + "\n"}
		case strings.HasPrefix(a, "--"):
			if !strings.Contains(a, "=") && valueLong[a[2:]] {
				i++
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			if len(a) == 2 && valueShort[a[1:]] {
				i++
			}
		default:
			words = append(words, i)
		}
	}
	if len(words) == 0 {
		return nil, nil, &helpRequest{text: mainUsage(), toStderr: !help}
	}
	first := args[words[0]]
	if first == "help" {
		return nil, nil, helpFor(args, words[1:])
	}
	gs := groups()
	cmds, ok := gs[first]
	if !ok {
		return nil, nil, usagef("unknown command %q", first)
	}
	used := 1
	var cmd *command
	if len(cmds) == 1 && cmds[0].path == first {
		cmd = cmds[0]
	} else {
		if len(words) < 2 {
			return nil, nil, &helpRequest{text: groupUsage(first, cmds), toStderr: !help}
		}
		sub := args[words[1]]
		for _, c := range cmds {
			if c.path == first+" "+sub {
				cmd = c
			}
		}
		if cmd == nil {
			return nil, nil, usagef("unknown command %q", first+" "+sub)
		}
		used = 2
	}
	drop := words[:used]
	rest := make([]string, 0, len(args))
	for i, a := range args {
		if !slices.Contains(drop, i) {
			rest = append(rest, a)
		}
	}
	return cmd, rest, nil
}

func helpFor(args []string, words []int) error {
	if len(words) == 0 {
		return &helpRequest{text: mainUsage()}
	}
	path := make([]string, 0, 2)
	for _, w := range words {
		path = append(path, args[w])
	}
	for n := len(path); n > 0; n-- {
		p := strings.Join(path[:n], " ")
		for _, c := range commands() {
			if c.path == p {
				return &helpRequest{text: commandHelp(c)}
			}
		}
		if cmds, ok := groups()[p]; ok && n == 1 {
			return &helpRequest{text: groupUsage(p, cmds)}
		}
	}
	return usagef("unknown command %q", strings.Join(path, " "))
}

// valueFlags returns the names of every flag (of any command, and the
// globals) that takes a value.
func valueFlags() (long, short map[string]bool) {
	long, short = map[string]bool{}, map[string]bool{}
	add := func(fs *pflag.FlagSet) {
		fs.VisitAll(func(f *pflag.Flag) {
			if f.NoOptDefVal != "" {
				return
			}
			long[f.Name] = true
			if f.Shorthand != "" {
				short[f.Shorthand] = true
			}
		})
	}
	var g globals
	fs := pflag.NewFlagSet("globals", pflag.ContinueOnError)
	g.register(fs)
	add(fs)
	for _, c := range commands() {
		fs := pflag.NewFlagSet(c.path, pflag.ContinueOnError)
		c.setup(fs)
		add(fs)
	}
	return long, short
}

func globalFlagUsages() string {
	var g globals
	fs := pflag.NewFlagSet("globals", pflag.ContinueOnError)
	g.register(fs)
	fs.SortFlags = false
	return fs.FlagUsages()
}

func mainUsage() string {
	var b strings.Builder
	fmt.Fprintf(&b, `%[1]s drives the admin API of an edgetrust broker.

Usage:
  %[1]s [global flags] COMMAND [flags] [args]

Commands:
`, prog)
	cmds := commands()
	width := 0
	for _, c := range cmds {
		width = max(width, len(c.path))
	}
	for _, c := range cmds {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, c.path, c.summary)
	}
	fmt.Fprintf(&b, `
Global flags (accepted before or after the command):
%s
Environment:
  EDGETRUST_SERVER      broker URL (like --server)
  EDGETRUST_CA_FILE     broker certificate (like --ca-file)
  EDGETRUST_CONFIG_DIR  where login keeps its session (default $XDG_CONFIG_HOME/edgetrust
                        or ~/.config/edgetrust)

Example:
  %[2]s login --server https://127.0.0.1:7443 --ca-file /var/lib/edgetrust-broker/tls/broker.crt \
      --username admin
  %[2]s endpoints list --state pending
  %[2]s endpoints approve 0b6f7c1e-3f9c-4d61-9a57-2f2d8c0e4b7a

Exit status: 0 success, 1 failure, 2 usage error.
Run "%[2]s COMMAND --help" for the details of a command, "%[2]s --version" for the version.
`, globalFlagUsages(), prog)
	return b.String()
}

func groupUsage(group string, cmds []*command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage:\n")
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].path < cmds[j].path })
	for _, c := range cmds {
		fmt.Fprintf(&b, "  %s %s %s\n      %s\n", prog, c.path, c.args, c.summary)
	}
	fmt.Fprintf(&b, "\nRun \"%s %s COMMAND --help\" for details.\n", prog, group)
	return b.String()
}

func commandHelp(c *command) string {
	fs := pflag.NewFlagSet(c.path, pflag.ContinueOnError)
	fs.SortFlags = false
	c.setup(fs)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nUsage:\n  %s %s %s\n\n%s\n", c.summary, prog, c.path, c.args, strings.TrimSpace(c.help))
	if u := fs.FlagUsages(); u != "" {
		fmt.Fprintf(&b, "\nFlags:\n%s", u)
	}
	fmt.Fprintf(&b, "\nGlobal flags:\n%s", globalFlagUsages())
	return b.String()
}
