package cluster

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// Token-signing keys stay with each broker; only their public halves go
// into the database, under one meta key, so that every broker verifies
// every other broker's tokens and publishes one JWKS.
const metaVerifyKeys = "cluster.token_keys"

// storedKey is one public key in the database.
type storedKey struct {
	X     string    `json:"x"` // base64url, as a JWK's "x"
	Added time.Time `json:"added"`
}

// PublishKey adds pub (this broker's token-verification key) to the keys
// the database holds for every broker, once.
func PublishKey(ctx context.Context, st registry.Store, pub ed25519.PublicKey, now time.Time) error {
	x := base64.RawURLEncoding.EncodeToString(pub)
	return st.Update(ctx, func(tx registry.Tx) error {
		keys, err := readKeys(tx)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(keys, func(k storedKey) bool { return k.X == x }) {
			return nil
		}
		return registry.SetMetaJSON(tx, metaVerifyKeys, append(keys, storedKey{X: x, Added: now.UTC()}))
	})
}

// VerifyKeys returns the public keys every broker published.
func VerifyKeys(ctx context.Context, st registry.Store) ([]ed25519.PublicKey, error) {
	var keys []storedKey
	if err := st.View(ctx, func(tx registry.Tx) error {
		var err error
		keys, err = readKeys(tx)
		return err
	}); err != nil {
		return nil, err
	}
	out := make([]ed25519.PublicKey, 0, len(keys))
	for _, k := range keys {
		raw, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("the database holds a token key that is not an Ed25519 public key")
		}
		out = append(out, raw)
	}
	return out, nil
}

func readKeys(tx registry.Tx) ([]storedKey, error) {
	var keys []storedKey
	_, err := registry.GetMetaJSON(tx, metaVerifyKeys, "the database's token keys", &keys)
	return keys, err
}

// KeyAdder is what a KeySet refreshes: *token.Issuer.
type KeyAdder interface {
	AddKeys(keys ...ed25519.PublicKey) error
}

// KeySet keeps an Issuer's verification keys in step with the keys every
// broker published: on a timer (Run), and when a token names a key id the
// Issuer does not know (Unknown, its OnUnknownKey), at most once per two
// seconds so that made-up key ids cannot load the database.
type KeySet struct {
	st    registry.Store
	log   *zap.Logger
	every time.Duration

	mu         sync.Mutex // one refresh at a time
	to         KeyAdder
	lastLookup time.Time // the last refresh Unknown made
	lookup     time.Duration
}

// NewKeySet returns a KeySet for st; Attach names the Issuer it fills.
func NewKeySet(st registry.Store, log *zap.Logger) *KeySet {
	if log == nil {
		log = zap.NewNop()
	}
	return &KeySet{st: st, log: log, every: 10 * time.Second, lookup: 2 * time.Second}
}

// Attach sets the Issuer the set fills (it is made after the KeySet, whose
// Unknown it calls).
func (s *KeySet) Attach(to KeyAdder) {
	s.mu.Lock()
	s.to = to
	s.mu.Unlock()
}

// Refresh reads the published keys into the Issuer.
func (s *KeySet) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshLocked(ctx)
}

func (s *KeySet) refreshLocked(ctx context.Context) error {
	if s.to == nil {
		return errors.New("cluster.KeySet: no Issuer attached")
	}
	keys, err := VerifyKeys(ctx, s.st)
	if err != nil {
		return err
	}
	return s.to.AddKeys(keys...)
}

// Unknown is the Issuer's OnUnknownKey: it refreshes the keys unless it
// did so within the last two seconds.
func (s *KeySet) Unknown(kid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.lastLookup) < s.lookup {
		return
	}
	s.lastLookup = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.refreshLocked(ctx); err != nil {
		s.log.Warn("looking up token keys of other brokers", zap.Error(err))
	}
}

// Run refreshes the keys every 10 seconds until ctx ends.
func (s *KeySet) Run(ctx context.Context) error {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("refreshing token keys of other brokers", zap.Error(err))
		}
	}
}
