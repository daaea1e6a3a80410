package broker

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/edgetrust/edgetrust/broker/cluster"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/signing"
	"github.com/edgetrust/edgetrust/broker/token"
	"github.com/edgetrust/edgetrust/internal/atomicfile"
)

// Token-signing keys (SPEC T5, broker/signing): kept in the store, their
// private halves sealed with the cluster key on a shared store, or with a
// key-encryption key in DIR/keys on the embedded one; rotated on demand
// and on Config.SigningKeyRotation's schedule. Brokers sharing a store
// without a cluster key (the operator's --tls-cert) have no secret in
// common to seal with: each keeps its own key file and publishes its
// public half as before (cluster.KeySet), and rotation answers that it
// needs --cluster-key-file.

// kekFile holds the key that seals the signing keys in the embedded store.
const kekFile = "signing-keys.kek"

// signingKEK returns the secret that seals the signing keys in the store,
// or nil when this broker does not keep them there (a shared store
// without a cluster key).
func (b *Broker) signingKEK(shared bool) ([]byte, error) {
	if shared {
		return b.cfg.ClusterKey, nil // nil without one
	}
	path := filepath.Join(b.cfg.DataDir, "keys", kekFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil && len(data) == cluster.MinClusterKey:
		return data, nil
	case err == nil:
		return nil, fmt.Errorf("%s: want %d bytes, found %d", path, cluster.MinClusterKey, len(data))
	case errors.Is(err, os.ErrNotExist):
		kek := make([]byte, cluster.MinClusterKey)
		if _, err := rand.Read(kek); err != nil {
			return nil, err
		}
		return kek, atomicfile.Write(path, kek, 0o600)
	default:
		return nil, err
	}
}

// newSigningRing prepares the signing keys in the store and fills issuer
// (nil, nil when this broker keeps no keys there). fileKey is the
// broker's key file of before rotation, the store's first key if it has
// none; on a shared store the keys other brokers published are kept
// verifying for a while.
func (b *Broker) newSigningRing(ctx context.Context, st registry.Store, shared bool, issuer *token.Issuer, fileKey ed25519.PrivateKey) (*signing.Ring, error) {
	kek, err := b.signingKEK(shared)
	if err != nil || kek == nil {
		return nil, err
	}
	var others []ed25519.PublicKey
	if shared {
		if others, err = cluster.VerifyKeys(ctx, st); err != nil {
			return nil, err
		}
	}
	// The longest-lived token signed is a sign-in device token (30 days by
	// default) or an access token (7 days at most): an old key stays
	// published until the last of them has expired.
	deviceTTL := cmp.Or(b.cfg.SignInLimits.DeviceTokenTTL, registry.DefaultSignInLimits.DeviceTokenTTL)
	ring, err := signing.New(signing.Config{Store: st, KEK: kek, Issuer: issuer, CacheMaxAge: b.cfg.JWKSMaxAge,
		MaxTokenLife: max(signing.DefaultMaxTokenLife, deviceTTL),
		Rotation:     b.cfg.SigningKeyRotation, Initial: fileKey, InitialPublic: others, Logger: b.log.Named("signing")})
	if err != nil {
		return nil, err
	}
	if err := ring.Load(ctx); err != nil {
		return nil, err
	}
	return ring, nil
}

// signingTask runs the ring's refresh and schedule.
func signingTask(ring *signing.Ring, reg *registry.Registry) []task {
	if ring == nil {
		return nil
	}
	return []task{{"signing keys", func(ctx context.Context) error { return ring.Run(ctx, reg.RotateSigningKeyScheduled) }}}
}
