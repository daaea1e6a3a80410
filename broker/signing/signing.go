// Package signing keeps the broker's token-signing keys in the store and
// rotates them (SPEC T5) so that a relying service caching the JWKS for
// the time its Cache-Control allows (M) keeps verifying across a rotation:
//
//   - a new key is published at once and signs only from Propagation + M
//     later (Propagation: how long the other brokers sharing the store take
//     to read it), so every cached JWKS holds it before a token names it;
//   - a key that stops signing stays published until the last token it
//     signed has expired (MaxTokenLife) plus Propagation + M, so a JWKS
//     cached just before it left still verifies those tokens.
//
// The keys live in the store under one meta key (a handful of keys, read
// and written whole in serialised Updates), their private halves sealed
// with AES-256-GCM (cluster.Seal) under the cluster key on a shared store
// or a key-encryption key in the data directory otherwise: the database
// alone never reveals a signing key. Every broker derives from the same
// stored times which key signs and which are published, so brokers need
// no coordination beyond the store. A Ring is the registry's SigningKeys.
package signing

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/cluster"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// metaKeys is the meta key holding the keys (JSON of []storedKey).
const metaKeys = "token.signing_keys"

// sealLabel is the purpose private keys are sealed for.
const sealLabel = "token signing key"

// Defaults.
const (
	DefaultCacheMaxAge  = 10 * time.Minute
	DefaultMaxTokenLife = registry.MaxAccessTokenLife
	DefaultPropagation  = 10 * time.Second
)

// storedKey is one key in the store.
type storedKey struct {
	KID     string    `json:"kid"`
	X       string    `json:"x"`                // public key, base64url (a JWK's "x")
	Sealed  string    `json:"sealed,omitempty"` // private key's seed, sealed; "" = verify only
	Created time.Time `json:"created"`
	// Activates is when it starts signing (zero: verify only).
	Activates time.Time `json:"activates,omitzero"`
	// Unpublish, for a verify-only key, is when it leaves the JWKS; a
	// signing key's is derived from the next key's activation.
	Unpublish time.Time `json:"unpublish,omitzero"`
}

// Issuer is what a Ring fills: *token.Issuer.
type Issuer interface {
	SetKeys(signing ed25519.PrivateKey, published []ed25519.PublicKey) error
}

// Config configures a Ring. Store, KEK and Issuer are required; zero
// durations mean the defaults.
type Config struct {
	Store  registry.Store
	KEK    []byte // seals private keys in the store (at least 32 bytes)
	Issuer Issuer
	// CacheMaxAge is M, the JWKS's Cache-Control max-age.
	CacheMaxAge time.Duration
	// MaxTokenLife bounds the lifetime of every token signed (access
	// tokens and sign-in device tokens; 0 = DefaultMaxTokenLife).
	MaxTokenLife time.Duration
	// Propagation is how often the Ring reads the store (Run), and so how
	// long another broker takes to publish a new key.
	Propagation time.Duration
	// Rotation rotates on a schedule: a new key once the newest is this
	// old (0 = only on demand).
	Rotation time.Duration
	// Initial is the key of a store that has none yet (the broker's key
	// file from before rotation, so that tokens it signed still verify);
	// nil = a new one. InitialPublic are public keys to keep verifying for
	// MaxTokenLife + M after the import (other brokers' keys of before).
	Initial       ed25519.PrivateKey
	InitialPublic []ed25519.PublicKey
	Now           func() time.Time // nil = time.Now
	Logger        *zap.Logger      // nil = no logging
}

// Ring keeps an Issuer's keys in step with the store. It is safe for
// concurrent use.
type Ring struct {
	cfg Config
	log *zap.Logger

	mu     sync.Mutex
	keys   []storedKey                   // as last read
	opened map[string]ed25519.PrivateKey // unsealed private keys by kid
	last   time.Time                     // the last Unknown refresh
}

var _ registry.SigningKeys = (*Ring)(nil)

// New checks cfg and returns a Ring; Load fills the Issuer.
func New(cfg Config) (*Ring, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("signing.New: Config.Store is nil")
	case len(cfg.KEK) < cluster.MinClusterKey:
		return nil, errors.New("signing.New: Config.KEK is shorter than 32 bytes")
	case cfg.Issuer == nil:
		return nil, errors.New("signing.New: Config.Issuer is nil")
	}
	if cfg.CacheMaxAge <= 0 {
		cfg.CacheMaxAge = DefaultCacheMaxAge
	}
	if cfg.MaxTokenLife <= 0 {
		cfg.MaxTokenLife = DefaultMaxTokenLife
	}
	if cfg.Propagation <= 0 {
		cfg.Propagation = DefaultPropagation
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Ring{cfg: cfg, log: cfg.Logger, opened: map[string]ed25519.PrivateKey{}}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	return r, nil
}

// lead is how long a new key is published before it signs.
func (r *Ring) lead() time.Duration { return r.cfg.Propagation + r.cfg.CacheMaxAge }

// tail is how long a key stays published after it stops signing.
func (r *Ring) tail() time.Duration {
	return r.cfg.MaxTokenLife + r.cfg.Propagation + r.cfg.CacheMaxAge
}

// Load makes the store's first key when it has none (Config.Initial, or a
// new one, signing at once: no token names any key yet) and fills the
// Issuer.
func (r *Ring) Load(ctx context.Context) error {
	now := r.cfg.Now().UTC()
	err := r.cfg.Store.Update(ctx, func(tx registry.Tx) error {
		keys, err := readKeys(tx)
		if err != nil || len(keys) > 0 {
			return err
		}
		priv := r.cfg.Initial
		if priv == nil {
			if _, priv, err = ed25519.GenerateKey(rand.Reader); err != nil {
				return err
			}
		}
		first, err := r.newKey(priv, now, now)
		if err != nil {
			return err
		}
		keys = []storedKey{first}
		for _, pub := range r.cfg.InitialPublic {
			kid, err := protocol.Thumbprint(pub)
			if err != nil || kid == first.KID {
				continue
			}
			keys = append(keys, storedKey{KID: kid, X: base64.RawURLEncoding.EncodeToString(pub), Created: now,
				Unpublish: now.Add(r.tail())})
		}
		return writeKeys(tx, keys)
	})
	if err != nil {
		return fmt.Errorf("preparing the token-signing keys: %w", err)
	}
	return r.Refresh(ctx)
}

// newKey seals priv into a stored key created at now, signing from activates.
func (r *Ring) newKey(priv ed25519.PrivateKey, now, activates time.Time) (storedKey, error) {
	pub := priv.Public().(ed25519.PublicKey)
	kid, err := protocol.Thumbprint(pub)
	if err != nil {
		return storedKey{}, err
	}
	sealed, err := cluster.Seal(r.cfg.KEK, sealLabel, priv.Seed())
	if err != nil {
		return storedKey{}, err
	}
	return storedKey{KID: kid, X: base64.RawURLEncoding.EncodeToString(pub), Sealed: sealed, Created: now, Activates: activates}, nil
}

// Refresh reads the keys from the store and applies them to the Issuer as
// of now.
func (r *Ring) Refresh(ctx context.Context) error {
	var keys []storedKey
	if err := r.cfg.Store.View(ctx, func(tx registry.Tx) error {
		var err error
		keys, err = readKeys(tx)
		return err
	}); err != nil {
		return fmt.Errorf("reading the token-signing keys: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = keys
	return r.applyLocked(r.cfg.Now().UTC())
}

// Apply applies the keys last read to the Issuer as of now: the key that
// signs, and those published. Run calls it on its timer, so that a key
// starts signing and an old one leaves at their times without a read.
func (r *Ring) Apply(now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applyLocked(now.UTC())
}

func (r *Ring) applyLocked(now time.Time) error {
	sched := r.schedule(r.keys)
	var signing *storedKey
	var published []ed25519.PublicKey
	for i := range r.keys {
		k := &r.keys[i]
		if un := sched[k.KID]; !un.IsZero() && !now.Before(un) {
			continue
		}
		pub, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return fmt.Errorf("the store holds a token key %s that is not an Ed25519 public key", k.KID)
		}
		published = append(published, pub)
		if k.Sealed != "" && !k.Activates.After(now) && (signing == nil || k.Activates.After(signing.Activates)) {
			signing = k
		}
	}
	if signing == nil {
		return errors.New("the store holds no token-signing key that signs now")
	}
	priv, ok := r.opened[signing.KID]
	if !ok {
		seed, err := cluster.Open(r.cfg.KEK, sealLabel, signing.Sealed)
		if err != nil {
			return fmt.Errorf("opening the token-signing key %s (sealed with the cluster key on a shared database, with DATA_DIR/keys/signing-keys.kek otherwise: restore that file with the database): %w", signing.KID, err)
		}
		if len(seed) != ed25519.SeedSize {
			return fmt.Errorf("the token-signing key %s is not an Ed25519 seed", signing.KID)
		}
		priv = ed25519.NewKeyFromSeed(seed)
		r.opened[signing.KID] = priv
	}
	return r.cfg.Issuer.SetKeys(priv, published)
}

// schedule returns when each key leaves the JWKS (zero: not yet known): a
// verify-only key at its Unpublish; a signing key once the next key has
// activated, plus tail.
func (r *Ring) schedule(keys []storedKey) map[string]time.Time {
	out := make(map[string]time.Time, len(keys))
	var signing []storedKey
	for _, k := range keys {
		if k.Sealed == "" {
			out[k.KID] = k.Unpublish
			continue
		}
		signing = append(signing, k)
	}
	slices.SortFunc(signing, func(a, b storedKey) int { return a.Activates.Compare(b.Activates) })
	for i := 0; i+1 < len(signing); i++ {
		out[signing[i].KID] = signing[i+1].Activates.Add(r.tail())
	}
	return out
}

// Keys implements registry.SigningKeys: the keys last read, published at
// now, in the order they sign (verify-only keys first).
func (r *Ring) Keys(now time.Time) []registry.SigningKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	sched := r.schedule(r.keys)
	var active *storedKey // the key that signs now: the latest activated
	for i := range r.keys {
		k := &r.keys[i]
		if k.Sealed != "" && !k.Activates.After(now) && (active == nil || k.Activates.After(active.Activates)) {
			active = k
		}
	}
	var out []registry.SigningKey
	for _, k := range r.keys {
		un := sched[k.KID]
		if !un.IsZero() && !now.Before(un) {
			continue
		}
		sk := registry.SigningKey{KeyID: k.KID, CreatedAt: k.Created, ActivatesAt: k.Activates, UnpublishedAt: un}
		switch {
		case k.Sealed == "":
			sk.State = registry.SigningKeyVerifyOnly
		case active != nil && k.KID == active.KID:
			sk.State = registry.SigningKeyActive
		case k.Activates.After(now):
			sk.State = registry.SigningKeyNext
		default:
			sk.State = registry.SigningKeyRetiring
		}
		out = append(out, sk)
	}
	slices.SortStableFunc(out, func(a, b registry.SigningKey) int { return a.ActivatesAt.Compare(b.ActivatesAt) })
	return out
}

// RotateTx implements registry.SigningKeys: it adds a new key in tx,
// signing from now + Propagation + M, and drops the keys whose time in the
// JWKS is over. With scheduled, only when Rotation is set and the newest
// key is at least Rotation old.
func (r *Ring) RotateTx(tx registry.Tx, now time.Time, scheduled bool) (*registry.SigningKeyRotation, error) {
	now = now.UTC()
	keys, err := readKeys(tx)
	if err != nil {
		return nil, err
	}
	if scheduled && !r.due(keys, now) {
		return nil, nil
	}
	sched := r.schedule(keys)
	keys = slices.DeleteFunc(keys, func(k storedKey) bool { un := sched[k.KID]; return !un.IsZero() && !now.Before(un) })
	var newest *storedKey // the key that signs last before the new one
	for i := range keys {
		if keys[i].Sealed != "" && (newest == nil || keys[i].Activates.After(newest.Activates)) {
			newest = &keys[i]
		}
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	activates := now.Add(r.lead())
	if newest != nil && !activates.After(newest.Activates) {
		activates = newest.Activates.Add(time.Second) // after a rotation still pending
	}
	k, err := r.newKey(priv, now, activates)
	if err != nil {
		return nil, err
	}
	rot := &registry.SigningKeyRotation{KeyID: k.KID, PublishedAt: now, ActivatesAt: activates}
	if newest != nil {
		rot.Replaces, rot.ReplacedUnpublishedAt = newest.KID, activates.Add(r.tail())
	}
	if err := writeKeys(tx, append(keys, k)); err != nil {
		return nil, err
	}
	return rot, nil
}

// due reports whether a scheduled rotation is due: the newest key (by
// creation) is at least Rotation old.
func (r *Ring) due(keys []storedKey, now time.Time) bool {
	if r.cfg.Rotation <= 0 {
		return false
	}
	var newest time.Time
	for _, k := range keys {
		if k.Sealed != "" && k.Created.After(newest) {
			newest = k.Created
		}
	}
	return !now.Before(newest.Add(r.cfg.Rotation))
}

// Unknown is the Issuer's OnUnknownKey: a token names a key this broker
// has not read yet (another broker's new key); it reads the store again,
// at most once per two seconds so that made-up key ids cannot load it.
func (r *Ring) Unknown(string) {
	r.mu.Lock()
	if time.Since(r.last) < 2*time.Second {
		r.mu.Unlock()
		return
	}
	r.last = time.Now()
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Refresh(ctx); err != nil {
		r.log.Warn("reading the token-signing keys", zap.Error(err))
	}
}

// Run reads the keys every Propagation until ctx ends, applies them, and
// asks rotate (the registry's RotateSigningKeyScheduled, which audits)
// for a scheduled rotation when one is due.
func (r *Ring) Run(ctx context.Context, rotate func(context.Context) (*registry.SigningKeyRotation, error)) error {
	t := time.NewTicker(r.cfg.Propagation)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("reading the token-signing keys", zap.Error(err))
			continue
		}
		r.mu.Lock()
		due := r.due(r.keys, r.cfg.Now().UTC())
		r.mu.Unlock()
		if !due || rotate == nil {
			continue
		}
		rot, err := rotate(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			r.log.Warn("rotating the token-signing key", zap.Error(err))
		case rot != nil:
			r.log.Info("rotated the token-signing key", zap.String("key_id", rot.KeyID),
				zap.Time("activates_at", rot.ActivatesAt), zap.String("replaces_key_id", rot.Replaces))
		}
	}
}

func readKeys(tx registry.Tx) ([]storedKey, error) {
	var keys []storedKey
	_, err := registry.GetMetaJSON(tx, metaKeys, "the store's token-signing keys", &keys)
	return keys, err
}

func writeKeys(tx registry.Tx, keys []storedKey) error {
	return registry.SetMetaJSON(tx, metaKeys, keys)
}
