// Package broker is the composition root of the trust broker: it prepares
// the data directory (TLS certificate, token-signing key, store), bootstraps
// the first admin, and runs the QUIC agent API and the HTTPS API on one port
// number until its context ends.
package broker

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/quic-go/quic-go"
	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/agentapi"
	"github.com/edgetrust/edgetrust/broker/httpapi"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/sqlite"
	"github.com/edgetrust/edgetrust/broker/token"
	"github.com/edgetrust/edgetrust/internal/atomicfile"
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
	// Store overrides the embedded SQLite store in DataDir (tests, PostgreSQL).
	Store registry.Store
	// BootstrapAdminPassword is the admin's password on the first start;
	// "" generates one and writes it to DataDir/initial-admin-password.
	BootstrapAdminPassword string
	Logger                 *zap.Logger // nil = no logging
	// Stdout receives the plain lines "fingerprint sha256:<hex>" and
	// "listening HOST:PORT" (nil = discard).
	Stdout io.Writer
	// ShowPassword prints a generated admin password on Stdout (set when
	// standard output is a terminal).
	ShowPassword bool
	// Registry settings (zero = defaults).
	DeviceTokenTTL, UserTokenTTL, RefreshTokenTTL time.Duration
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
func (b *Broker) Run(ctx context.Context) error {
	dir := b.cfg.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating data dir: %w", err)
	}
	host, port, err := net.SplitHostPort(b.cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", b.cfg.Listen, err)
	}
	cert, fingerprint, err := loadOrCreateCert(filepath.Join(dir, "tls"), certNames(host, b.cfg.TLSSANs), time.Now())
	if err != nil {
		return fmt.Errorf("preparing TLS certificate: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		return err
	}
	signKey, _, err := token.LoadOrCreateKey(filepath.Join(dir, "keys", "token-signing.pem"))
	if err != nil {
		return fmt.Errorf("preparing token-signing key: %w", err)
	}
	issuer, err := token.New(token.Config{Key: signKey})
	if err != nil {
		return err
	}
	resetKey, err := loadOrCreateResetKey(filepath.Join(dir, "keys", "quic-stateless-reset.key"))
	if err != nil {
		return fmt.Errorf("preparing QUIC reset key: %w", err)
	}

	store := b.cfg.Store
	if store == nil {
		st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "edgetrust.db"), Logger: b.log})
		if err != nil {
			return fmt.Errorf("opening store: %w", err)
		}
		defer st.Close()
		store = st
	}
	reg, err := registry.New(registry.Config{Store: store, Signer: issuer, DeviceTokenTTL: b.cfg.DeviceTokenTTL, UserTokenTTL: b.cfg.UserTokenTTL, RefreshTTL: b.cfg.RefreshTokenTTL})
	if err != nil {
		return err
	}
	if err := b.bootstrap(ctx, reg); err != nil {
		return err
	}

	udp, tcp, err := listenPair(host, port)
	if err != nil {
		return err
	}
	tr := &quic.Transport{Conn: udp, StatelessResetKey: resetKey}
	defer tr.Close()
	qtls := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{protocol.ALPN}, MinVersion: tls.VersionTLS13}
	ln, err := tr.Listen(qtls, agentapi.QUICConfig())
	if err != nil {
		tcp.Close()
		return fmt.Errorf("listening for QUIC: %w", err)
	}
	agents, err := agentapi.New(agentapi.Config{Registry: reg, Logger: b.log.Named("agentapi")})
	if err != nil {
		return err
	}
	api, err := httpapi.New(httpapi.Config{Registry: reg, JWKS: issuer.JWKS(), Logger: b.log.Named("httpapi")})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           api.Handler(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          zap.NewStdLog(b.log.Named("http")),
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	go func() { errc <- agents.Serve(ctx, ln) }()
	go func() { errc <- b.sweep(ctx, reg) }()
	go func() {
		if err := srv.ServeTLS(tcp, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("https: %w", err)
			return
		}
		errc <- nil
	}()
	fmt.Fprintf(b.out, "fingerprint sha256:%s\n", fingerprint)
	fmt.Fprintf(b.out, "listening %s\n", tcp.Addr())
	b.log.Info("broker serving", zap.String("addr", tcp.Addr().String()), zap.String("fingerprint", "sha256:"+fingerprint))

	var first error
	running := 3
	select {
	case <-ctx.Done():
	case first = <-errc:
		running--
	}
	cancel()
	shutCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	srv.Shutdown(shutCtx)
	ln.Close()
	for ; running > 0; running-- {
		select {
		case err := <-errc:
			if first == nil {
				first = err
			}
		case <-shutCtx.Done():
			return first
		}
	}
	return first
}

// sweepInterval is how often the broker cleans up (SPEC E8).
const sweepInterval = time.Minute

// sweep runs the registry's clean-up every sweepInterval until ctx ends;
// a failed sweep is logged and retried at the next tick.
func (b *Broker) sweep(ctx context.Context, reg *registry.Registry) error {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		res, err := reg.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			b.log.Warn("sweep failed", zap.Error(err))
		}
		if res != (registry.SweepResult{}) {
			b.log.Info("swept", zap.Int("stale_deleted", res.StaleDeleted), zap.Int("pending_expired", res.PendingExpired),
				zap.Int("refresh_purged", res.RefreshPurged))
		}
	}
}

func (b *Broker) bootstrap(ctx context.Context, reg *registry.Registry) error {
	res, err := reg.Bootstrap(ctx, b.cfg.BootstrapAdminPassword)
	if err != nil {
		return fmt.Errorf("bootstrapping: %w", err)
	}
	if !res.Created {
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
