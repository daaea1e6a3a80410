// Command edgetrust-broker runs the edgetrust trust broker.
//
//	edgetrust-broker serve [--config FILE] --data-dir DIR [--listen HOST:PORT] [--tls-san NAME]... [--store URL]
//	                       [--cluster-key-file FILE] [--tls-cert FILE --tls-key FILE] [--fail-closed-after D]
//	                       [--metrics-listen HOST:PORT] [--jwks-max-age D] [--signing-key-rotation D]
//	edgetrust-broker config example|check FILE|docs
//	edgetrust-broker backup --data-dir DIR --to FILE --passphrase-file P
//	edgetrust-broker restore --from FILE --data-dir NEWDIR --passphrase-file P
//
// serve's flags are in flags.go (serveFlags): each is also a config key
// and an environment variable.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" // served only with --pprof
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/edgetrust/edgetrust/broker/cluster"
	"github.com/edgetrust/edgetrust/internal/logtime"
)

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

const usage = `edgetrust-broker: the edgetrust trust broker

Usage:
  edgetrust-broker serve [--config FILE] --data-dir DIR [--listen HOST:PORT] [--tls-san NAME]... [--store URL]
  edgetrust-broker config example | check FILE | docs
  edgetrust-broker backup --data-dir DIR --to FILE --passphrase-file P
  edgetrust-broker restore --from FILE --data-dir NEWDIR --passphrase-file P
  edgetrust-broker --version

Commands:
  serve     start the broker: QUIC (agents) on UDP and HTTPS (API) on TCP, one port number
  config    print a documented config file (example), check one (check FILE), print its docs
  backup    copy a data directory (store, TLS identity, keys) into one file encrypted with a
            passphrase, while a broker serves it (SQLite store only; PostgreSQL: pg_dump)
  restore   make a new data directory from a backup: the restored broker has the same TLS
            fingerprint, accounts, keys and endpoints, and agents log in without re-approval

Run "edgetrust-broker COMMAND --help" for the flags of a command.
`

const serveHelp = `Start the broker.

The first start creates DIR (0700) with a TLS certificate (DIR/tls/broker.crt),
the token-signing key, the embedded SQLite store, a root vendor account, a
customer account "default" and the user "admin". The admin password comes from
--bootstrap-admin-password-file or EDGETRUST_BOOTSTRAP_ADMIN_PASSWORD, or is generated and written to
DIR/initial-admin-password (0600).

One broker serves a data directory at a time: serve locks DIR/lock before
it touches anything else, and a second broker on DIR exits 1 naming the
PID that holds it. The lock goes with the process, however it ends.

Every flag is also a key of the YAML file given with --config FILE and an
environment variable EDGETRUST_<FLAG_NAME> (EDGETRUST_DATA_DIR, …); the
command line wins over the environment, which wins over the file. See
"edgetrust-broker config example" and docs/configuration.md.

The store is the embedded SQLite database in DIR unless --store (or the
environment variable EDGETRUST_STORE) names a PostgreSQL database,
postgres://USER@HOST:PORT/DB?sslmode=verify-full, which several brokers may
share. Give its password through PGPASSWORD or a ~/.pgpass file rather than
in the URL, which other users of the machine can see in the process list.

It prints "fingerprint sha256:<hex>" (SHA-256 of the certificate's public key,
for agents' --broker-fingerprint) and "listening HOST:PORT" once it serves.

Several brokers may share one database (see README, "Running several
brokers"). They present one TLS identity: the operator's --tls-cert and
--tls-key, or a key the first broker creates and keeps in the database
sealed with the cluster key (--cluster-key-file, the same file on every
broker; write one with: openssl rand -base64 32 > FILE); each writes the
certificate to DIR/tls/broker.crt. Only the broker that bootstraps the
database writes DIR/initial-admin-password; the others say where it is. A
broker that cannot read fresh state for --fail-closed-after refuses
registrations and logins (unavailable) and /readyz answers 503.

--metrics-listen HOST:PORT serves Prometheus metrics at http://HOST:PORT/metrics
(plain HTTP, an operator's address; docs/metrics.md). Token-signing keys are
kept in the store, sealed, and rotated on demand (edgetrustctl signing-keys
rotate) or every --signing-key-rotation; the JWKS is cached for
--jwks-max-age, and rotations publish keys that long ahead (docs/tokens.md).

Example:
  edgetrust-broker serve --data-dir /var/lib/edgetrust-broker --listen 0.0.0.0:7443 \
      --metrics-listen 127.0.0.1:9464 --signing-key-rotation 720h

Flags:
`

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	err := dispatch(ctx, args, stdout, stderr, getenv)
	var ue usageError
	switch {
	case err == nil, errors.Is(err, pflag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "edgetrust-broker: %s (see edgetrust-broker --help)\n", ue.msg)
		return 2
	default:
		fmt.Fprintf(stderr, "edgetrust-broker: %s\n", oneLine(err.Error()))
		return 1
	}
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) > 0 {
		switch args[0] {
		case "backup":
			return runBackup(ctx, args[1:], stdout, stderr, getenv)
		case "restore":
			return runRestore(ctx, args[1:], stdout, stderr)
		case "config":
			return runConfig(args[1:], stdout, stderr)
		}
	}
	fs, o := newServeFlagSet()
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if o.version {
		fmt.Fprintf(stdout, "edgetrust-broker %s\n", version)
		return nil
	}
	rest := fs.Args()
	if len(rest) == 0 {
		if o.help {
			fmt.Fprint(stdout, usage)
			return nil
		}
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	switch rest[0] {
	case "serve":
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "backup", "restore", "config":
		return usageError{fmt.Sprintf("put the flags of %s after it: edgetrust-broker %s [flags]", rest[0], rest[0])}
	default:
		return usageError{fmt.Sprintf("unknown command %q", rest[0])}
	}
	if len(rest) > 1 {
		return usageError{fmt.Sprintf("serve takes no arguments, got %q", rest[1:])}
	}
	if o.help {
		fmt.Fprint(stdout, serveHelp)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return nil
	}
	cfgFile := o.configFile
	if !fs.Changed("config") {
		cfgFile = getenv(envConfig)
	}
	src, err := loadConfig(fs, cfgFile, getenv)
	if err != nil {
		return err
	}
	cl, err := o.check(src, getenv)
	if err != nil {
		return err
	}
	return serve(ctx, o, cl, stdout, stderr)
}

type clusterSettings struct{ key []byte }

// clusterFlags checks the flags of brokers sharing a database and reads
// the cluster key: --tls-cert and --tls-key go together; a PostgreSQL
// store (--store postgres://...) needs --cluster-key-file (keyFileFrom
// says where it was given) or the operator's certificate, since every broker
// must present the same TLS identity. Failures are usage errors naming the
// flag.
func clusterFlags(store, keyFile, keyFileFrom, tlsCert, tlsKey string, failClosedAfter time.Duration) (clusterSettings, error) {
	if (tlsCert == "") != (tlsKey == "") {
		return clusterSettings{}, usageError{"--tls-cert and --tls-key go together: give both, or neither"}
	}
	if failClosedAfter < 2*time.Second || failClosedAfter > time.Hour {
		return clusterSettings{}, usageError{fmt.Sprintf("--fail-closed-after %v: want between 2s and 1h", failClosedAfter)}
	}
	u := strings.ToLower(store)
	shared := strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
	if shared && keyFile == "" && tlsCert == "" {
		return clusterSettings{}, usageError{"--store postgres://... needs --cluster-key-file FILE (the same file on every broker; write one with: openssl rand -base64 32 > FILE) or --tls-cert and --tls-key"}
	}
	if keyFile == "" {
		return clusterSettings{}, nil
	}
	key, err := cluster.ReadClusterKey(keyFile)
	if err != nil {
		return clusterSettings{}, usageError{keyFileFrom + ": " + err.Error()}
	}
	return clusterSettings{key: key}, nil
}

// newLogger is zap's production logger (JSON, sampled, callers, stack
// traces of errors) writing to w, with the timestamps of every edgetrust
// log: RFC 3339 in UTC (internal/logtime).
func newLogger(lvl zapcore.Level, w io.Writer) *zap.Logger {
	ws := zapcore.Lock(zapcore.AddSync(w))
	core := zapcore.NewCore(zapcore.NewJSONEncoder(logtime.EncoderConfig()), ws, lvl)
	core = zapcore.NewSamplerWithOptions(core, time.Second, 100, 100)
	return zap.New(core, zap.ErrorOutput(ws), zap.AddCaller(), zap.AddStacktrace(zapcore.ErrorLevel))
}

// servePprof serves the profiles of net/http/pprof (registered on
// http.DefaultServeMux, which the broker's API does not use) on a loopback
// address until ctx ends.
func servePprof(ctx context.Context, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		return errors.New("want a loopback address")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	context.AfterFunc(ctx, func() { srv.Close() })
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
