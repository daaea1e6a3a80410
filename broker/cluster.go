package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/edgetrust/edgetrust/broker/cluster"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/token"
	"github.com/edgetrust/edgetrust/internal/atomicfile"
)

// Brokers sharing one store (issue 14): a store that can wake a broker at
// each commit (cluster.Waker, the PostgreSQL store's LISTEN) is shared, and
// its brokers present one TLS identity, verify each other's tokens and
// follow each other's decisions through the store's change feed.

// ErrNoClusterIdentity: a shared store without a way to share the TLS
// identity.
var ErrNoClusterIdentity = errors.New("brokers sharing a database need one TLS identity: give --cluster-key-file FILE (the same on every broker) or --tls-cert and --tls-key")

// sharedStore reports whether st is shared with other brokers, and its
// Waker.
func sharedStore(st registry.Store) (cluster.Waker, bool) {
	w, ok := st.(cluster.Waker)
	return w, ok
}

// tlsIdentity returns the certificate the broker presents and its SPKI
// fingerprint: the operator's files when given; on a shared store the
// cluster's identity (cluster.SharedTLS), its certificate also written to
// DIR/tls/broker.crt for agents' --broker-ca; otherwise the broker's own
// (loadOrCreateCert).
func (b *Broker) tlsIdentity(ctx context.Context, st registry.Store, shared bool, sans []string) (tls.Certificate, string, error) {
	switch {
	case b.cfg.TLSCertFile != "":
		cert, err := tls.LoadX509KeyPair(b.cfg.TLSCertFile, b.cfg.TLSKeyFile)
		if err != nil {
			return tls.Certificate{}, "", fmt.Errorf("--tls-cert %s, --tls-key %s: %w", b.cfg.TLSCertFile, b.cfg.TLSKeyFile, err)
		}
		return cert, spkiFingerprint(cert.Leaf), nil
	case !shared:
		return loadOrCreateCert(filepath.Join(b.cfg.DataDir, "tls"), sans, time.Now())
	case len(b.cfg.ClusterKey) == 0:
		return tls.Certificate{}, "", ErrNoClusterIdentity
	}
	key, der, created, err := cluster.SharedTLS(ctx, st, b.cfg.ClusterKey, func(key *ecdsa.PrivateKey, current []byte) ([]byte, error) {
		now := time.Now()
		if current != nil {
			// The first broker's names stay: every broker presents the
			// same certificate. Only its expiry renews it.
			if c, err := x509.ParseCertificate(current); err == nil && now.Add(certRenewal).Before(c.NotAfter) {
				return current, nil
			}
		}
		return issueCert(key, sans, now)
	})
	if err != nil {
		return tls.Certificate{}, "", err
	}
	if created {
		b.log.Info("created the cluster's TLS identity in the database")
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	dir := filepath.Join(b.cfg.DataDir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, "", err
	}
	if err := atomicfile.Write(filepath.Join(dir, "broker.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, "", err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, spkiFingerprint(leaf), nil
}

func spkiFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// clusterParts are what a broker on a shared store runs besides the
// others: the bus that follows the change feed and the refresh of the
// other brokers' token keys.
type clusterParts struct {
	bus  *cluster.Bus
	keys *cluster.KeySet
	// legacyKeys: each broker keeps its own signing key and the KeySet
	// shares their public halves (no cluster key to seal shared keys with;
	// signingkeys.go).
	legacyKeys bool
}

// newClusterParts prepares the parts for a shared store (nil otherwise).
func (b *Broker) newClusterParts(st registry.Store) *clusterParts {
	waker, shared := sharedStore(st)
	if !shared {
		return nil
	}
	return &clusterParts{
		bus: cluster.NewBus(cluster.Config{Waker: waker, FailClosedAfter: b.cfg.FailClosedAfter,
			Logger: b.log.Named("cluster")}),
		keys: cluster.NewKeySet(st, b.log.Named("cluster")),
	}
}

// publishKey shares this broker's token key and reads the others'.
func (c *clusterParts) publishKey(ctx context.Context, st registry.Store, issuer *token.Issuer, key ed25519.PrivateKey) error {
	c.keys.Attach(issuer)
	if err := cluster.PublishKey(ctx, st, key.Public().(ed25519.PublicKey), time.Now()); err != nil {
		return fmt.Errorf("publishing the token key: %w", err)
	}
	return c.keys.Refresh(ctx)
}

// tasks are the cluster's long-lived parts.
func (c *clusterParts) tasks(reg *registry.Registry) []task {
	if c == nil {
		return nil
	}
	ts := []task{{"cluster", func(ctx context.Context) error { return c.bus.Run(ctx, reg) }}}
	if c.legacyKeys {
		ts = append(ts, task{"token keys", c.keys.Run})
	}
	return ts
}

// bootstrapWhere is what a broker records of where it leaves the initial
// admin password, for the other brokers to say.
func (b *Broker) bootstrapWhere() string {
	if b.cfg.BootstrapAdminPassword != "" {
		return "EDGETRUST_BOOTSTRAP_ADMIN_PASSWORD of the broker that bootstrapped it"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "?"
	}
	dir, err := filepath.Abs(b.cfg.DataDir)
	if err != nil {
		dir = b.cfg.DataDir
	}
	return host + ":" + filepath.Join(dir, InitialPasswordFile)
}
