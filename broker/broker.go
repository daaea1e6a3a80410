// Package broker is the composition root of the trust broker: it prepares
// the data directory (TLS certificate, token-signing key, store), bootstraps
// the first admin, and runs its long-lived parts — the QUIC agent API, the
// HTTPS front (the API and the web console on a parent mux, web), the
// sweep and, on a shared store, the cluster's follower — as one task list
// until its context ends or one of them fails.
package broker

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/quic-go/quic-go"
	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/agentapi"
	"github.com/edgetrust/edgetrust/broker/console"
	"github.com/edgetrust/edgetrust/broker/httpapi"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/signing"
	"github.com/edgetrust/edgetrust/broker/token"
	"github.com/edgetrust/edgetrust/broker/web"
	"github.com/edgetrust/edgetrust/broker/webhook"
	"github.com/edgetrust/edgetrust/internal/atomicfile"
	"github.com/edgetrust/edgetrust/internal/logfield"
	"github.com/edgetrust/edgetrust/protocol"
)

// DefaultListen is the default address: QUIC on UDP and HTTPS on TCP.
const DefaultListen = ":7443"

// InitialPasswordFile is where the first start leaves a generated admin password.
const InitialPasswordFile = "initial-admin-password"

// Config configures a Broker. DataDir is required.
type Config struct {
	DataDir string
	Listen  string   // host:port; "" = DefaultListen; port 0 picks one free for UDP and TCP
	TLSSANs []string // extra certificate names
	// Store overrides the store StoreURL names (tests).
	Store registry.Store
	// StoreURL names the store: "" or "sqlite" for the embedded SQLite
	// store in DataDir, or a PostgreSQL URL
	// (postgres://USER@HOST:PORT/DB?sslmode=…) shared by brokers.
	StoreURL string
	// BootstrapAdminPassword is the admin's password on the first start;
	// "" generates one and writes it to DataDir/initial-admin-password.
	BootstrapAdminPassword string
	Logger                 *zap.Logger // nil = no logging
	// Version is the broker's version, shown by /healthz and logged at
	// the start ("" = "dev").
	Version string
	// Stdout receives the plain lines "fingerprint sha256:<hex>" and
	// "listening HOST:PORT" (nil = discard).
	Stdout io.Writer
	// ShowPassword prints a generated admin password on Stdout (set when
	// standard output is a terminal).
	ShowPassword bool
	// Bus carries events between the registry, agents and watchers (nil =
	// the in-process bus; a shared bus carries them between brokers).
	Bus registry.Bus
	// Registry settings (zero = defaults).
	DeviceTokenTTL, UserTokenTTL, RefreshTokenTTL time.Duration
	PendingTTL                                    time.Duration // 0 = 72 hours (SPEC E3)
	// SignInLimits limit failed password sign-ins and logins (zero
	// fields = registry.DefaultSignInLimits).
	SignInLimits registry.SignInLimits
	// Agent API bounds (zero = defaults, see agentapi.Config).
	AgentHelloTimeout, AgentRequestTimeout time.Duration
	// TrustedProxies are the proxies whose Forwarded / X-Forwarded-For
	// headers name the client of an HTTPS request (serve --trusted-proxy;
	// nil = none: the TCP peer is the client, SPEC R14).
	TrustedProxies []netip.Prefix
	// SweepInterval is how often stale endpoints and expired codes are
	// cleaned up (0 = 1 minute, SPEC E8).
	SweepInterval time.Duration
	// ConsoleIdleTimeout ends a web console session unused for this long
	// (0 = 30 minutes).
	ConsoleIdleTimeout time.Duration
	// ShutdownGrace is how long in-flight HTTP requests may finish once
	// the broker is asked to stop (0 = 1 s); agent connections are closed
	// at once. The whole stop stays within about twice this.
	ShutdownGrace time.Duration

	// Brokers sharing one store (a Store that is a cluster.Waker; see
	// cluster.go). ClusterKey (cluster.ReadClusterKey) seals the TLS key
	// they share in the store; TLSCertFile and TLSKeyFile (PEM) are the
	// operator's certificate instead, on any store. One of the two is
	// required on a shared store. FailClosedAfter bounds how long a broker
	// on a shared store answers without fresh state (0 = 30 s).
	ClusterKey              []byte
	TLSCertFile, TLSKeyFile string
	FailClosedAfter         time.Duration

	// Webhooks (SPEC E7). WebhookAllow lists internal prefixes deliveries
	// may reach (none by default: loopback, private and link-local
	// destinations are refused); WebhookCAFile adds PEM roots receivers'
	// certificates may chain to; WebhookObserve, when set, is told each
	// attempt's outcome (webhook.OutcomeSuccess or OutcomeFailure), for a
	// metric.
	WebhookAllow   []netip.Prefix
	WebhookCAFile  string
	WebhookObserve func(outcome string)

	// MetricsListen is the HOST:PORT where /metrics is served in plain
	// HTTP ("" = nowhere; port 0 picks one, printed as "metrics listening
	// HOST:PORT"). MetricsPublic also serves it on the public HTTPS port.
	MetricsListen string
	MetricsPublic bool

	// JWKSMaxAge is the JWKS's Cache-Control max-age (0 = 10 minutes): a
	// new signing key is published at least this long before it signs,
	// and an old one stays published this long after its last token
	// expired. SigningKeyRotation rotates the key once it is this old (0 =
	// only on demand: edgetrustctl signing-keys rotate).
	JWKSMaxAge         time.Duration
	SigningKeyRotation time.Duration

	// KeyFailureLimit limits failed API key presentations per source
	// address and per key public id (registry.ParseKeyFailureLimits:
	// "20/min,10/min"; "" = registry.DefaultKeyFailureLimits). The counts
	// are merged through the store once a second.
	KeyFailureLimit string
}

// Broker is a configured, not yet running broker.
type Broker struct {
	cfg Config
	log *zap.Logger
	out io.Writer
}

// New checks cfg and returns a Broker.
func New(cfg Config) (*Broker, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("broker.New: Config.DataDir is empty")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if err := CheckListen(cfg.Listen); err != nil {
		return nil, fmt.Errorf("broker.New: Config.Listen %w", err)
	}
	if err := CheckStore(cfg.StoreURL); err != nil {
		return nil, fmt.Errorf("broker.New: Config.StoreURL %w", err)
	}
	if cfg.MetricsListen != "" {
		if err := CheckListen(cfg.MetricsListen); err != nil {
			return nil, fmt.Errorf("broker.New: Config.MetricsListen %w", err)
		}
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = time.Minute
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = time.Second
	}
	if cfg.JWKSMaxAge <= 0 {
		cfg.JWKSMaxAge = signing.DefaultCacheMaxAge
	}
	if _, err := registry.ParseKeyFailureLimits(cfg.KeyFailureLimit); err != nil {
		return nil, fmt.Errorf("broker.New: Config.KeyFailureLimit (--key-failure-limit) %w", err)
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return nil, errors.New("broker.New: give both Config.TLSCertFile and Config.TLSKeyFile, or neither")
	}
	b := &Broker{cfg: cfg, log: cfg.Logger, out: cfg.Stdout}
	if b.log == nil {
		b.log = zap.NewNop()
	}
	if b.out == nil {
		b.out = io.Discard
	}
	return b, nil
}

// Run prepares everything, serves until ctx ends, and shuts down cleanly.
// It first takes the data directory's lock (DataDir/lock): while one
// broker runs on a directory, another fails with ErrDataDirInUse before it
// changes anything there.
func (b *Broker) Run(ctx context.Context) error {
	dir := b.cfg.DataDir
	host, port, err := net.SplitHostPort(b.cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", b.cfg.Listen, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating data dir: %w", err)
	}
	unlock, err := lockDataDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		return err
	}
	signKey, _, err := token.LoadOrCreateKey(filepath.Join(dir, "keys", "token-signing.pem"))
	if err != nil {
		return fmt.Errorf("preparing token-signing key: %w", err)
	}
	resetKey, err := loadOrCreateResetKey(filepath.Join(dir, "keys", "quic-stateless-reset.key"))
	if err != nil {
		return fmt.Errorf("preparing QUIC reset key: %w", err)
	}

	store := b.cfg.Store
	if store == nil {
		st, closeStore, err := b.openStore(ctx, dir)
		if err != nil {
			return err
		}
		defer closeStore()
		store = st
	}
	_, shared := sharedStore(store)
	cert, fingerprint, err := b.tlsIdentity(ctx, store, shared, certNames(host, b.cfg.TLSSANs))
	if err != nil {
		return fmt.Errorf("preparing TLS certificate: %w", err)
	}
	cl := b.newClusterParts(store)
	var ring *signing.Ring // set before anything verifies a token
	tokenCfg := token.Config{Key: signKey, OnUnknownKey: func(kid string) {
		if ring != nil {
			ring.Unknown(kid)
		} else if cl != nil {
			cl.keys.Unknown(kid)
		}
	}}
	bus, fresh := b.cfg.Bus, func() error { return nil }
	if cl != nil {
		fresh = cl.bus.Fresh
		if bus == nil {
			bus = cl.bus
		}
	}
	issuer, err := token.New(tokenCfg)
	if err != nil {
		return err
	}
	if ring, err = b.newSigningRing(ctx, store, shared, issuer, signKey); err != nil {
		return fmt.Errorf("preparing token-signing keys: %w", err)
	}
	if cl != nil && ring == nil {
		cl.legacyKeys = true
		if err := cl.publishKey(ctx, store, issuer, signKey); err != nil {
			return err
		}
	}
	keyLimits, _ := registry.ParseKeyFailureLimits(b.cfg.KeyFailureLimit) // checked by New
	sealer, err := b.webhookSealer(shared)
	if err != nil {
		return err
	}
	var signingKeys registry.SigningKeys
	if ring != nil {
		signingKeys = ring
	}
	mtr := b.newMetrics()
	var obs registry.Observer
	if mtr != nil {
		obs = mtr
	}
	reg, err := registry.New(registry.Config{Store: store, Signer: issuer, Bus: bus, Fresh: fresh, Observer: obs, SigningKeys: signingKeys,
		DeviceTokenTTL: b.cfg.DeviceTokenTTL, UserTokenTTL: b.cfg.UserTokenTTL, RefreshTTL: b.cfg.RefreshTokenTTL,
		PendingTTL: b.cfg.PendingTTL, SignInLimits: b.cfg.SignInLimits,
		KeyFailureLimits: keyLimits,
		WebhookSealer:    sealer, CheckWebhookURL: webhook.Guard{Allow: b.cfg.WebhookAllow}.CheckURL})
	if err != nil {
		return err
	}
	var observeWebhook func(string)
	if mtr != nil {
		observeWebhook = mtr.WebhookDelivery
	}
	hooks, err := b.newWebhookWorker(reg, observeWebhook)
	if err != nil {
		return err
	}
	if err := b.bootstrap(ctx, reg, shared); err != nil {
		return err
	}
	if mtr != nil {
		mtr.Attach(reg)
	}
	metricsLn, err := b.listenMetrics()
	if err != nil {
		return err
	}
	if metricsLn != nil {
		defer metricsLn.Close() // the task's server closes it too; this is for an early return
	}
	tasks := []task{}
	if metricsLn != nil {
		tasks = append(tasks, b.metricsTask(mtr, metricsLn))
	}

	udp, tcp, err := listenPair(host, port)
	if err != nil {
		return err
	}
	defer udp.Close() // after tr.Close: a Transport never closes a conn it was given
	tr := &quic.Transport{Conn: udp, StatelessResetKey: resetKey}
	agentapi.NewHandshakeGate(0).Install(tr) // Retry under a flood of handshakes
	defer tr.Close()
	certs := newLiveCert(cert, fingerprint, func(ctx context.Context) (tls.Certificate, string, error) {
		return b.tlsIdentity(ctx, store, shared, certNames(host, b.cfg.TLSSANs))
	}, b.cfg.TLSCertFile != "", b.log.Named("tls"))
	qtls := &tls.Config{GetCertificate: certs.get, NextProtos: []string{protocol.ALPN}, MinVersion: tls.VersionTLS13}
	ln, err := tr.Listen(qtls, agentapi.QUICConfig())
	if err != nil {
		tcp.Close()
		return fmt.Errorf("listening for QUIC: %w", err)
	}
	agents, err := agentapi.New(agentapi.Config{Registry: reg, Logger: b.log.Named("agentapi"),
		HelloTimeout: b.cfg.AgentHelloTimeout, RequestTimeout: b.cfg.AgentRequestTimeout})
	if err != nil {
		tcp.Close()
		return err
	}
	con, err := console.New(console.Config{Registry: reg, Logger: b.log.Named("console"), IdleTimeout: b.cfg.ConsoleIdleTimeout})
	if err != nil {
		tcp.Close()
		return err
	}
	api, err := httpapi.New(httpapi.Config{Registry: reg, JWKSFunc: issuer.JWKS, JWKSMaxAge: b.cfg.JWKSMaxAge, Logger: b.log.Named("httpapi"), Version: b.cfg.Version,
		SessionAuth: con.SessionAuth})
	if err != nil {
		tcp.Close()
		return err
	}
	front := web.New(web.Config{Logger: b.log.Named("http"), TrustedProxies: b.cfg.TrustedProxies})
	if mtr != nil && b.cfg.MetricsPublic {
		front.Handle("/metrics", mtr.Handler())
	}
	mountFront(front, api.Handler(), con.Handler())
	httpsCfg := web.ServerConfig{
		TLS:     &tls.Config{GetCertificate: certs.get, MinVersion: tls.VersionTLS12},
		Handler: front, Logger: b.log.Named("http"), Grace: b.cfg.ShutdownGrace,
	}

	fmt.Fprintf(b.out, "fingerprint sha256:%s\n", fingerprint)
	fmt.Fprintf(b.out, "listening %s\n", tcp.Addr())
	if metricsLn != nil {
		fmt.Fprintf(b.out, "metrics listening %s\n", metricsLn.Addr())
	}
	b.log.Info("broker serving", zap.String(logfield.Addr, tcp.Addr().String()), zap.String("fingerprint", "sha256:"+fingerprint),
		zap.String("version", cmp.Or(b.cfg.Version, "dev")))
	tasks = append(tasks,
		task{"agentapi", func(ctx context.Context) error { return agents.Serve(ctx, ln) }},
		task{"https", func(ctx context.Context) error { return web.Serve(ctx, tcp, httpsCfg) }},
		task{"sweep", func(ctx context.Context) error { return b.sweep(ctx, reg) }},
		task{"webhooks", hooks.Run},
		task{"failure-merge", func(ctx context.Context) error { return b.mergeFailures(ctx, reg) }})
	tasks = append(tasks, signingTask(ring, reg)...)
	tasks = append(tasks, task{"tls renewal", func(ctx context.Context) error { return certs.run(ctx, certCheckEvery) }})
	return runTasks(ctx, b.log, append(tasks, cl.tasks(reg)...)...)
}

// mountFront mounts the API on its prefixes and the web console on every
// other path of the HTTPS front.
func mountFront(front *web.Mux, api, console http.Handler) {
	for _, p := range []string{"/api/", "/oauth/", "/.well-known/", "/healthz", "/readyz"} {
		front.Handle(p, api)
	}
	front.Handle("/", console)
}

// mergeFailures merges the counts of failed key presentations with the
// other brokers' through the store once a second (registry.MergeFailures);
// a failed merge is logged at debug level (the store's own health is
// reported elsewhere) and the counts wait for the next.
func (b *Broker) mergeFailures(ctx context.Context, reg *registry.Registry) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := reg.MergeFailures(ctx); err != nil && ctx.Err() == nil {
			b.log.Debug("merging failure counts", zap.Error(err))
		}
	}
}

// sweep runs the registry's clean-up every Config.SweepInterval until ctx
// ends; a failed sweep is logged and retried at the next tick.
func (b *Broker) sweep(ctx context.Context, reg *registry.Registry) error {
	t := time.NewTicker(b.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// Folded key refusals still counted in memory are written
			// before the store closes.
			if err := reg.FlushRefusals(context.WithoutCancel(ctx)); err != nil {
				b.log.Warn("writing folded key refusals", zap.Error(err))
			}
			return nil
		case <-t.C:
		}
		res, err := reg.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			b.log.Warn("sweep failed", zap.Error(err))
		}
		if res != (registry.SweepResult{}) {
			b.log.Info("swept", zap.Int("stale_deleted", res.StaleDeleted), zap.Int("pending_expired", res.PendingExpired),
				zap.Int("refresh_purged", res.RefreshPurged), zap.Int("webhook_deliveries_purged", res.WebhookDeliveriesPurged),
				zap.Int("expiry_warnings", res.ExpiryWarnings))
		}
	}
}

// bootstrap bootstraps the store once. On a shared store the broker that
// does records where it leaves the password, and every other one says so.
func (b *Broker) bootstrap(ctx context.Context, reg *registry.Registry, shared bool) error {
	res, err := reg.BootstrapAt(ctx, b.cfg.BootstrapAdminPassword, b.bootstrapWhere())
	if err != nil {
		return fmt.Errorf("bootstrapping: %w", err)
	}
	if !res.Created {
		if shared && res.Where != "" {
			fmt.Fprintf(b.out, "the database was bootstrapped by another broker: initial admin password in %s\n", res.Where)
		}
		return nil
	}
	b.log.Info("bootstrapped a new broker", zap.String("root_account_id", res.RootAccountID))
	if res.AdminPassword == "" {
		fmt.Fprintln(b.out, "admin password taken from EDGETRUST_BOOTSTRAP_ADMIN_PASSWORD")
		return nil
	}
	path := filepath.Join(b.cfg.DataDir, InitialPasswordFile)
	if err := atomicfile.Write(path, []byte(res.AdminPassword+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing initial admin password: %w", err)
	}
	fmt.Fprintf(b.out, "initial admin password written to %s\n", path)
	if b.cfg.ShowPassword {
		fmt.Fprintf(b.out, "initial admin password: %s\n", res.AdminPassword)
	}
	return nil
}

func loadOrCreateResetKey(path string) (*quic.StatelessResetKey, error) {
	var key quic.StatelessResetKey
	data, err := os.ReadFile(path)
	switch {
	case err == nil && len(data) == len(key):
		copy(key[:], data)
		return &key, nil
	case err == nil:
		return nil, fmt.Errorf("%s: want %d bytes, found %d", path, len(key), len(data))
	case errors.Is(err, os.ErrNotExist):
		if _, err := rand.Read(key[:]); err != nil {
			return nil, err
		}
		return &key, atomicfile.Write(path, key[:], 0o600)
	default:
		return nil, err
	}
}

// listenPair binds UDP and TCP on the same port. Port "0" picks a port that
// is free for both.
func listenPair(host, port string) (net.PacketConn, net.Listener, error) {
	if port != "0" {
		udp, err := net.ListenPacket("udp", net.JoinHostPort(host, port))
		if err != nil {
			return nil, nil, fmt.Errorf("listening on UDP: %w", err)
		}
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, port))
		if err != nil {
			udp.Close()
			return nil, nil, fmt.Errorf("listening on TCP: %w", err)
		}
		return udp, tcp, nil
	}
	var lastErr error
	for i := 0; i < 50; i++ {
		udp, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, nil, fmt.Errorf("listening on UDP: %w", err)
		}
		p := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return udp, tcp, nil
		}
		lastErr = err
		udp.Close()
	}
	return nil, nil, fmt.Errorf("no port free for both UDP and TCP: %w", lastErr)
}
