package main

import (
	"io"

	"time"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/broker"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/internal/flagconfig"
)

// serveOptions holds the flags of serve, the values serve reads.
type serveOptions struct {
	dataDir, listen, storeURL, logLevel string
	sans, trustedProxies, webhookAllow  []string
	webhookCA, metricsListen            string
	metricsPublic                       bool
	jwksMaxAge, keyRotation             time.Duration
	keyFailureLimit                     string
	deviceTTL, userTTL, refreshTTL      time.Duration
	clusterKeyFile, tlsCert, tlsKey     string
	failClosedAfter                     time.Duration
	pprofAddr                           string
	bootstrapPasswordFile               string
	configFile                          string
	help, version                       bool
}

// serveFlags defines every flag of serve on fs and returns where their
// values land.
//
// TO ADD A FLAG: one fs.X(...) line in this function (and a field above
// if serve reads it). Nothing else: every flag here except those in
// configOptions.CommandLineOnly is also a config file key of the same
// name and an environment variable EDGETRUST_<NAME_IN_CAPITALS>, and
// appears in 'config example' and docs/configuration.md; regenerate the
// latter with: go generate ./cmd/edgetrust-broker (TestConfigDocsUpToDate
// fails until then). A flag whose value is itself a secret is a mistake:
// take a FILE instead (name it "...-file"); if one must exist, mark it
// with flagconfig.MarkSecret so a config file cannot hold it.
func serveFlags(fs *pflag.FlagSet) *serveOptions {
	o := &serveOptions{}
	fs.SortFlags = false // help, 'config example' and the docs in this order
	fs.StringVar(&o.configFile, "config", "", "YAML config file whose keys are these flags' long names (default $"+envConfig+"); the command line and the environment override it")
	fs.StringVar(&o.dataDir, "data-dir", "/var/lib/edgetrust-broker", "directory for the store, keys and certificate")
	fs.StringVar(&o.listen, "listen", broker.DefaultListen, "HOST:PORT for QUIC (UDP) and HTTPS (TCP); port 0 picks a free one")
	fs.StringArrayVar(&o.sans, "tls-san", nil, "extra name or address for the TLS certificate (repeatable)")
	fs.StringVar(&o.storeURL, "store", "", "the store: sqlite (embedded, in --data-dir; the default) or postgres://USER@HOST:PORT/DB?sslmode=… (password through PGPASSWORD or ~/.pgpass, never in the URL)")
	fs.DurationVar(&o.deviceTTL, "device-token-ttl", 15*time.Minute, "lifetime of device access tokens (agents refresh at half of it)")
	fs.DurationVar(&o.userTTL, "user-token-ttl", time.Hour, "lifetime of user access tokens")
	// Hidden: end-to-end tests of agents whose refresh token expired.
	fs.DurationVar(&o.refreshTTL, "refresh-token-ttl", 0, "lifetime of refresh tokens; 0 = 90 days")
	_ = fs.MarkHidden("refresh-token-ttl")
	fs.StringArrayVar(&o.trustedProxies, "trusted-proxy", nil, "address or CIDR of a reverse proxy whose Forwarded / X-Forwarded-For headers name the client (repeatable; default none: the TCP peer is the client)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&o.clusterKeyFile, "cluster-key-file", "", "file with the cluster key (base64, from 'openssl rand -base64 32'), the same on every broker sharing a database: seals the TLS key, the token-signing keys and the webhook signing secrets they share in it")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate (chain) to present instead of the generated one, e.g. the load balancer's name; with --tls-key")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	fs.DurationVar(&o.failClosedAfter, "fail-closed-after", 30*time.Second, "on a shared database: refuse registrations and logins (unavailable, /readyz 503) after this long without fresh state")
	fs.StringArrayVar(&o.webhookAllow, "webhook-allow-cidr", nil, "let webhooks reach this internal prefix (loopback, private and link-local destinations are refused otherwise); repeatable")
	fs.StringVar(&o.webhookCA, "webhook-ca", "", "PEM file of roots webhook receivers' certificates may chain to (besides the system's)")
	fs.StringVar(&o.keyFailureLimit, "key-failure-limit", registry.DefaultKeyFailureLimits.String(), "failed API key presentations allowed per source address and per key public id before answers are limited (429, QUIC key_limited): PER_ADDRESS,PER_KEY, each N/s, N/min, N/h or N/DURATION")
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "serve Prometheus metrics at http://HOST:PORT/metrics (plain HTTP: an operator's address, not the public one; port 0 picks a free one)")
	fs.BoolVar(&o.metricsPublic, "metrics-public", false, "also serve /metrics on the public HTTPS port, without authentication")
	fs.DurationVar(&o.jwksMaxAge, "jwks-max-age", 10*time.Minute, "Cache-Control max-age of /.well-known/jwks.json: a new signing key is published this long before it signs, an old one stays this long after its last token expired")
	fs.DurationVar(&o.keyRotation, "signing-key-rotation", 0, "make a new token-signing key once the newest is this old, e.g. 720h (0 = only on demand: edgetrustctl signing-keys rotate)")
	fs.StringVar(&o.bootstrapPasswordFile, "bootstrap-admin-password-file", "", "file holding the password of the user \"admin\" created by the first start (instead of $EDGETRUST_BOOTSTRAP_ADMIN_PASSWORD or a generated one)")
	fs.StringVar(&o.pprofAddr, "pprof", "", "serve net/http/pprof on this loopback HOST:PORT (profiling benchmarks)")
	_ = fs.MarkHidden("pprof")
	fs.BoolVarP(&o.help, "help", "h", false, "show help")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	return o
}

// envConfig names the config file when --config is not given.
const envConfig = "EDGETRUST_CONFIG"

// configOptions maps serve's flags to config keys and environment
// variables: EDGETRUST_STORE, EDGETRUST_CLUSTER_KEY_FILE, … (the names
// existing before the config file follow the same rule).
var configOptions = flagconfig.Options{
	EnvPrefix:       "EDGETRUST_",
	CommandLineOnly: []string{"config", "help", "version"},
	UnknownHint:     "the keys are the long flag names of serve; see 'edgetrust-broker config example'",
}

// newServeFlagSet is a fresh flag set of serve with its options.
func newServeFlagSet() (*pflag.FlagSet, *serveOptions) {
	fs := pflag.NewFlagSet("edgetrust-broker serve", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs, serveFlags(fs)
}
