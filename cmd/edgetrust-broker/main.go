// Command edgetrust-broker runs the edgetrust trust broker.
//
//	edgetrust-broker serve --data-dir DIR [--listen HOST:PORT] [--tls-san NAME]... [--store URL]
//	                       [--cluster-key-file FILE] [--tls-cert FILE --tls-key FILE] [--fail-closed-after D]
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

	"github.com/edgetrust/edgetrust/broker"
	"github.com/edgetrust/edgetrust/broker/cluster"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/internal/logtime"
)

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

const usage = `edgetrust-broker: the edgetrust trust broker

Usage:
  edgetrust-broker serve --data-dir DIR [--listen HOST:PORT] [--tls-san NAME]... [--store URL]
  edgetrust-broker --version

Commands:
  serve     start the broker: QUIC (agents) on UDP and HTTPS (API) on TCP, one port number

Run "edgetrust-broker serve --help" for the flags.
`

const serveHelp = `Start the broker.

The first start creates DIR (0700) with a TLS certificate (DIR/tls/broker.crt),
the token-signing key, the embedded SQLite store, a root vendor account, a
customer account "default" and the user "admin". The admin password comes from
EDGETRUST_BOOTSTRAP_ADMIN_PASSWORD, or is generated and written to
DIR/initial-admin-password (0600).

One broker serves a data directory at a time: serve locks DIR/lock before
it touches anything else, and a second broker on DIR exits 1 naming the
PID that holds it. The lock goes with the process, however it ends.

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

Example:
  edgetrust-broker serve --data-dir /var/lib/edgetrust-broker --listen 0.0.0.0:7443

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
	fs := pflag.NewFlagSet("edgetrust-broker serve", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dataDir := fs.String("data-dir", "/var/lib/edgetrust-broker", "directory for the store, keys and certificate")
	listen := fs.String("listen", broker.DefaultListen, "HOST:PORT for QUIC (UDP) and HTTPS (TCP); port 0 picks a free one")
	sans := fs.StringArray("tls-san", nil, "extra name or address for the TLS certificate (repeatable)")
	storeURL := fs.String("store", "", "the store: sqlite (embedded, in --data-dir; the default) or postgres://USER@HOST:PORT/DB?sslmode=… (env EDGETRUST_STORE)")
	deviceTTL := fs.Duration("device-token-ttl", 15*time.Minute, "lifetime of device access tokens (agents refresh at half of it)")
	userTTL := fs.Duration("user-token-ttl", time.Hour, "lifetime of user access tokens")
	// Hidden: end-to-end tests of agents whose refresh token expired.
	refreshTTL := fs.Duration("refresh-token-ttl", 0, "lifetime of refresh tokens; 0 = 90 days")
	_ = fs.MarkHidden("refresh-token-ttl")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	clusterKeyFile := fs.String("cluster-key-file", "", "file with the cluster key (base64, from 'openssl rand -base64 32'), the same on every broker sharing a database: seals the TLS key they share in it (default $"+envClusterKeyFile+")")
	tlsCert := fs.String("tls-cert", "", "PEM certificate (chain) to present instead of the generated one, e.g. the load balancer's name; with --tls-key")
	tlsKey := fs.String("tls-key", "", "PEM private key of --tls-cert")
	failClosedAfter := fs.Duration("fail-closed-after", 30*time.Second, "on a shared database: refuse registrations and logins (unavailable, /readyz 503) after this long without fresh state")
	keyFailureLimit := fs.String("key-failure-limit", registry.DefaultKeyFailureLimits.String(), "failed API key presentations allowed per source address and per key public id before answers are limited (429, QUIC key_limited): PER_ADDRESS,PER_KEY, each N/s, N/min, N/h or N/DURATION")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this loopback HOST:PORT (profiling benchmarks)")
	_ = fs.MarkHidden("pprof")
	help := fs.BoolP("help", "h", false, "show help")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *showVersion {
		fmt.Fprintf(stdout, "edgetrust-broker %s\n", version)
		return nil
	}
	rest := fs.Args()
	if len(rest) == 0 {
		if *help {
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
	default:
		return usageError{fmt.Sprintf("unknown command %q", rest[0])}
	}
	if len(rest) > 1 {
		return usageError{fmt.Sprintf("serve takes no arguments, got %q", rest[1:])}
	}
	if *help {
		fmt.Fprint(stdout, serveHelp)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return nil
	}
	for name, d := range map[string]time.Duration{"--device-token-ttl": *deviceTTL, "--user-token-ttl": *userTTL} {
		if d < 10*time.Second || d > 24*time.Hour {
			return usageError{fmt.Sprintf("%s %v: want between 10s and 24h", name, d)}
		}
	}
	// Every flag is checked before anything is created (the data dir first).
	if *dataDir == "" {
		return usageError{"--data-dir is empty: name the broker's data directory (default /var/lib/edgetrust-broker)"}
	}
	if err := broker.CheckListen(*listen); err != nil {
		return usageError{"--listen " + err.Error()}
	}
	for _, san := range *sans {
		if err := broker.CheckSAN(san); err != nil {
			return usageError{"--tls-san " + err.Error()}
		}
	}
	storeFrom := "--store"
	if !fs.Changed("store") {
		*storeURL, storeFrom = getenv("EDGETRUST_STORE"), "EDGETRUST_STORE"
	}
	if err := broker.CheckStore(*storeURL); err != nil {
		return usageError{storeFrom + " " + err.Error()}
	}
	if *refreshTTL != 0 && *refreshTTL < time.Second {
		return usageError{fmt.Sprintf("--refresh-token-ttl %v: want at least 1s", *refreshTTL)}
	}
	cl, err := clusterFlags(*storeURL, *clusterKeyFile, getenv(envClusterKeyFile), *tlsCert, *tlsKey, *failClosedAfter)
	if err != nil {
		return err
	}
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", *logLevel)}
	}
	if *pprofAddr != "" {
		if err := servePprof(ctx, *pprofAddr); err != nil {
			return usageError{fmt.Sprintf("--pprof %q: %v", *pprofAddr, err)}
		}
	}
	log := newLogger(lvl, stderr)
	defer log.Sync()

	b, err := broker.New(broker.Config{
		DataDir:                *dataDir,
		Listen:                 *listen,
		TLSSANs:                *sans,
		StoreURL:               *storeURL,
		BootstrapAdminPassword: getenv("EDGETRUST_BOOTSTRAP_ADMIN_PASSWORD"),
		Logger:                 log,
		Version:                version,
		Stdout:                 stdout,
		ShowPassword:           isTerminal(stdout),
		DeviceTokenTTL:         *deviceTTL,
		UserTokenTTL:           *userTTL,
		RefreshTokenTTL:        *refreshTTL,
		ClusterKey:             cl.key,
		TLSCertFile:            *tlsCert,
		TLSKeyFile:             *tlsKey,
		FailClosedAfter:        *failClosedAfter,
		KeyFailureLimit:        *keyFailureLimit,
	})
	if err != nil {
		return err
	}
	return b.Run(ctx)
}

// envClusterKeyFile names the cluster key file when --cluster-key-file is
// not given.
const envClusterKeyFile = "EDGETRUST_CLUSTER_KEY_FILE"

type clusterSettings struct{ key []byte }

// clusterFlags checks the flags of brokers sharing a database and reads
// the cluster key: --tls-cert and --tls-key go together; a PostgreSQL
// store (--store postgres://...) needs --cluster-key-file (or its
// environment variable) or the operator's certificate, since every broker
// must present the same TLS identity. Failures are usage errors naming the
// flag.
func clusterFlags(store, keyFile, keyFileEnv, tlsCert, tlsKey string, failClosedAfter time.Duration) (clusterSettings, error) {
	if (tlsCert == "") != (tlsKey == "") {
		return clusterSettings{}, usageError{"--tls-cert and --tls-key go together: give both, or neither"}
	}
	if failClosedAfter < 2*time.Second || failClosedAfter > time.Hour {
		return clusterSettings{}, usageError{fmt.Sprintf("--fail-closed-after %v: want between 2s and 1h", failClosedAfter)}
	}
	flag := "--cluster-key-file"
	if keyFile == "" && keyFileEnv != "" {
		keyFile, flag = keyFileEnv, envClusterKeyFile
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
		return clusterSettings{}, usageError{flag + ": " + err.Error()}
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
