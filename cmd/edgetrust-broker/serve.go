package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"

	"github.com/edgetrust/edgetrust/broker"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/web"
	"github.com/edgetrust/edgetrust/internal/flagconfig"
)

// loadConfig gives the flags of fs that the command line left unset their
// value from the environment, else from the config file cfgFile (none when
// empty), and returns where each came from. Every problem of the file
// (unknown key, wrong type, secret; each with its line) is a usage error.
func loadConfig(fs *pflag.FlagSet, cfgFile string, getenv func(string) string) (flagconfig.Sources, error) {
	src, ps, err := applyConfig(fs, cfgFile, getenv)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	if len(ps) > 0 {
		return nil, usageError{ps.Error()}
	}
	return src, nil
}

// applyConfig reads cfgFile (none when empty) and applies it and the
// environment to fs; it returns every problem of both.
func applyConfig(fs *pflag.FlagSet, cfgFile string, getenv func(string) string) (flagconfig.Sources, flagconfig.Problems, error) {
	var file *flagconfig.File
	var ps flagconfig.Problems
	if cfgFile != "" {
		f, fps, err := flagconfig.ReadFile(cfgFile, fs, configOptions)
		if err != nil {
			return nil, nil, err
		}
		file, ps = f, fps
	}
	src, aps := flagconfig.Apply(fs, configOptions, file, getenv)
	ps = append(ps, aps...)
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line }) // the file's order
	return src, ps, nil
}

// settings are what check derives from the flags.
type settings struct {
	cluster       clusterSettings
	level         zapcore.Level
	adminPassword string
	proxies       []netip.Prefix
	webhookAllow  []netip.Prefix
}

// check checks every flag before anything is created (the data dir
// first); a failure is a usage error naming where the value came from
// (src: the flag, its environment variable or the config file's line).
func (o *serveOptions) check(src flagconfig.Sources, getenv func(string) string) (settings, error) {
	var s settings
	for name, d := range map[string]time.Duration{"device-token-ttl": o.deviceTTL, "user-token-ttl": o.userTTL} {
		if d < 10*time.Second || d > 24*time.Hour {
			return s, usageError{fmt.Sprintf("%s %v: want between 10s and 24h", src.Of(name), d)}
		}
	}
	if o.dataDir == "" {
		return s, usageError{src.Of("data-dir") + " is empty: name the broker's data directory (default /var/lib/edgetrust-broker)"}
	}
	if err := broker.CheckListen(o.listen); err != nil {
		return s, usageError{src.Of("listen") + " " + err.Error()}
	}
	for _, san := range o.sans {
		if err := broker.CheckSAN(san); err != nil {
			return s, usageError{src.Of("tls-san") + " " + err.Error()}
		}
	}
	for _, p := range o.trustedProxies {
		pr, err := web.ParseTrustedProxy(p)
		if err != nil {
			return s, usageError{src.Of("trusted-proxy") + " " + err.Error()}
		}
		s.proxies = append(s.proxies, pr)
	}
	for _, c := range o.webhookAllow {
		p, err := broker.CheckWebhookCIDR(c)
		if err != nil {
			return s, usageError{src.Of("webhook-allow-cidr") + " " + err.Error()}
		}
		s.webhookAllow = append(s.webhookAllow, p)
	}
	if o.webhookCA != "" {
		if err := broker.CheckWebhookCA(o.webhookCA); err != nil {
			return s, usageError{src.Of("webhook-ca") + " " + err.Error()}
		}
	}
	if err := broker.CheckStore(o.storeURL); err != nil {
		return s, usageError{src.Of("store") + " " + err.Error()}
	}
	if u, err := url.Parse(o.storeURL); err == nil && u.User != nil && strings.Contains(src.Of("store"), " line ") {
		if _, has := u.User.Password(); has {
			return s, usageError{src.Of("store") + ": a password is never written in the config file: give it through PGPASSWORD or ~/.pgpass"}
		}
	}
	if o.jwksMaxAge < 10*time.Second || o.jwksMaxAge > 24*time.Hour {
		return s, usageError{fmt.Sprintf("%s %v: want between 10s and 24h", src.Of("jwks-max-age"), o.jwksMaxAge)}
	}
	if o.keyRotation != 0 && o.keyRotation < time.Hour {
		return s, usageError{fmt.Sprintf("%s %v: want 0 (only on demand) or at least 1h", src.Of("signing-key-rotation"), o.keyRotation)}
	}
	if _, err := registry.ParseKeyFailureLimits(o.keyFailureLimit); err != nil {
		return s, usageError{src.Of("key-failure-limit") + " " + err.Error()}
	}
	if o.metricsListen != "" {
		if err := broker.CheckListen(o.metricsListen); err != nil {
			return s, usageError{src.Of("metrics-listen") + " " + err.Error()}
		}
	}
	if o.refreshTTL != 0 && o.refreshTTL < time.Second {
		return s, usageError{fmt.Sprintf("%s %v: want at least 1s", src.Of("refresh-token-ttl"), o.refreshTTL)}
	}
	var err error
	if s.cluster, err = clusterFlags(o.storeURL, o.clusterKeyFile, src.Of("cluster-key-file"), o.tlsCert, o.tlsKey, o.failClosedAfter); err != nil {
		return s, err
	}
	if err := s.level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return s, usageError{fmt.Sprintf("%s %q: want debug, info, warn or error", src.Of("log-level"), o.logLevel)}
	}
	s.adminPassword = getenv("EDGETRUST_BOOTSTRAP_ADMIN_PASSWORD")
	if o.bootstrapPasswordFile != "" {
		if s.adminPassword != "" {
			return s, usageError{src.Of("bootstrap-admin-password-file") + " and EDGETRUST_BOOTSTRAP_ADMIN_PASSWORD both give the admin password: keep one"}
		}
		if s.adminPassword, err = readSecretFile(o.bootstrapPasswordFile); err != nil {
			return s, usageError{src.Of("bootstrap-admin-password-file") + ": " + err.Error()}
		}
	}
	return s, nil
}

// readSecretFile reads a password or passphrase from a file: its first
// line without the line ending. It never repeats the content.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s, _, _ := strings.Cut(string(b), "\n")
	s = strings.TrimSuffix(s, "\r")
	if s == "" {
		return "", fmt.Errorf("%s is empty: write the secret on its first line", path)
	}
	return s, nil
}

// serve runs the broker with the checked options until ctx ends.
func serve(ctx context.Context, o *serveOptions, s settings, stdout, stderr io.Writer) error {
	if o.pprofAddr != "" {
		if err := servePprof(ctx, o.pprofAddr); err != nil {
			return usageError{fmt.Sprintf("--pprof %q: %v", o.pprofAddr, err)}
		}
	}
	log := newLogger(s.level, stderr)
	defer log.Sync()

	b, err := broker.New(broker.Config{
		DataDir:                o.dataDir,
		Listen:                 o.listen,
		TLSSANs:                o.sans,
		StoreURL:               o.storeURL,
		BootstrapAdminPassword: s.adminPassword,
		Logger:                 log,
		Version:                version,
		Stdout:                 stdout,
		ShowPassword:           isTerminal(stdout),
		DeviceTokenTTL:         o.deviceTTL,
		UserTokenTTL:           o.userTTL,
		RefreshTokenTTL:        o.refreshTTL,
		ClusterKey:             s.cluster.key,
		TLSCertFile:            o.tlsCert,
		TLSKeyFile:             o.tlsKey,
		FailClosedAfter:        o.failClosedAfter,
		TrustedProxies:         s.proxies,
		WebhookAllow:           s.webhookAllow,
		WebhookCAFile:          o.webhookCA,
		MetricsListen:          o.metricsListen,
		MetricsPublic:          o.metricsPublic,
		JWKSMaxAge:             o.jwksMaxAge,
		SigningKeyRotation:     o.keyRotation,
		KeyFailureLimit:        o.keyFailureLimit,
	})
	if err != nil {
		return err
	}
	return b.Run(ctx)
}
