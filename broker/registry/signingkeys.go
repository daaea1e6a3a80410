package registry

import (
	"context"
	"net/netip"
	"time"
)

// SigningKeys keeps the token-signing keys and rotates them (SPEC T5):
// broker/signing implements it over the store, so that a rotation and its
// audit row commit together. Config.SigningKeys nil means keys are not
// rotated (RotateSigningKey answers KindInvalid).
type SigningKeys interface {
	// RotateTx adds a new signing key in tx at now: it is published at
	// once and signs from the returned ActivatesAt, late enough that every
	// relying service caching the JWKS has it by then. With scheduled it
	// does so only when the schedule says a rotation is due (another
	// broker may just have rotated), and otherwise returns nil, nil.
	RotateTx(tx Tx, now time.Time, scheduled bool) (*SigningKeyRotation, error)
	// Refresh reads the keys again after a committed rotation, so that
	// this broker publishes the new key at once.
	Refresh(ctx context.Context) error
	// Keys returns the keys as this broker last read them, in the order
	// they sign, and their state at now.
	Keys(now time.Time) []SigningKey
}

// SigningKey is one token-signing key and its times.
type SigningKey struct {
	KeyID string
	// State at the time asked: SigningKeyNext (published, signs from
	// ActivatesAt), SigningKeyActive (signs now), SigningKeyRetiring
	// (signs no more; published until UnpublishedAt) or
	// SigningKeyVerifyOnly (a key of before rotation, published until
	// UnpublishedAt).
	State         string
	CreatedAt     time.Time
	ActivatesAt   time.Time // zero for verify-only keys
	UnpublishedAt time.Time // zero while not known (the key signs or will)
}

// States of a signing key.
const (
	SigningKeyNext       = "next"
	SigningKeyActive     = "active"
	SigningKeyRetiring   = "retiring"
	SigningKeyVerifyOnly = "verify_only"
)

// ListSigningKeys lists the token-signing keys published now and their
// times, for an administrator at the root account. Errors:
// KindUnauthenticated, KindPermission, KindInvalid (no SigningKeys).
func (r *Registry) ListSigningKeys(ctx context.Context, p *Principal) ([]SigningKey, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	err := r.store.View(ctx, func(tx Tx) error {
		root, err := tx.GetMeta(metaBootstrapped)
		if err != nil {
			return internal("reading the root account", err)
		}
		if err := p.holdsAll([]string{root}, AllPermissions); err != nil {
			return E(KindPermission, "the signing keys are shown to administrators at the root account", nil)
		}
		if r.signingKeys == nil {
			return E(KindInvalid, errNoRotation, nil)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r.signingKeys.Keys(r.now()), nil
}

const errNoRotation = "this broker does not rotate its signing keys (brokers sharing a database rotate them with --cluster-key-file)"

// SigningKeyRotation is what a rotation did.
type SigningKeyRotation struct {
	KeyID       string    // the new key's id ("kid")
	PublishedAt time.Time // in the JWKS of this broker from then (others within seconds)
	ActivatesAt time.Time // signs from then
	// Replaces is the key that signs until ActivatesAt ("" = none), and
	// ReplacedUnpublishedAt when it leaves the JWKS: once the last token it
	// signs has expired, plus the JWKS's cache lifetime.
	Replaces              string
	ReplacedUnpublishedAt time.Time
}

// Audit action of a rotation.
const actionRotateSigningKey = "token.signing_key.rotate"

// RotateSigningKey rotates the token-signing key on an administrator's
// demand: p must hold every permission at the root account. The rotation
// is audited with the new key's id. Errors: KindUnauthenticated,
// KindPermission, KindInvalid (no SigningKeys configured).
func (r *Registry) RotateSigningKey(ctx context.Context, p *Principal, remote netip.Addr) (*SigningKeyRotation, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	return r.rotateSigningKey(ctx, p, remote)
}

// RotateSigningKeyScheduled rotates the token-signing key on the broker's
// schedule (actor "system"), audited as RotateSigningKey, when it is due
// (SigningKeys.RotateTx); nil, nil when it is not.
func (r *Registry) RotateSigningKeyScheduled(ctx context.Context) (*SigningKeyRotation, error) {
	return r.rotateSigningKey(ctx, nil, netip.Addr{})
}

func (r *Registry) rotateSigningKey(ctx context.Context, p *Principal, remote netip.Addr) (*SigningKeyRotation, error) {
	now := r.now()
	var out *SigningKeyRotation
	err := r.store.Update(ctx, func(tx Tx) error {
		out = nil
		root, err := tx.GetMeta(metaBootstrapped)
		if err != nil {
			return internal("reading the root account", err)
		}
		actor := "system"
		if p != nil {
			if err := p.holdsAll([]string{root}, AllPermissions); err != nil {
				return E(KindPermission, "rotating the signing key needs the Administrator role at the root account", nil)
			}
			actor = p.Actor()
		}
		if r.signingKeys == nil {
			return E(KindInvalid, errNoRotation, nil)
		}
		rot, err := r.signingKeys.RotateTx(tx, now, p == nil)
		if err != nil {
			return internal("rotating the signing key", err)
		}
		if rot == nil {
			return nil // not due
		}
		detail := map[string]string{"key_id": rot.KeyID, "activates_at": rot.ActivatesAt.UTC().Format(time.RFC3339)}
		if rot.Replaces != "" {
			detail["replaces_key_id"] = rot.Replaces
			detail["replaced_unpublished_at"] = rot.ReplacedUnpublishedAt.UTC().Format(time.RFC3339)
		}
		out = rot
		return audit(tx, now, actor, actionRotateSigningKey, root, "signing_key:"+rot.KeyID, OutcomeSuccess, remote, detail)
	})
	if err != nil {
		r.auditDenied(ctx, p, actionRotateSigningKey, "signing_key:new", remote, err)
		return nil, err
	}
	if out != nil {
		// A failed refresh is retried by the keys' own timer, well
		// before the new key signs.
		_ = r.signingKeys.Refresh(ctx)
	}
	return out, nil
}

// MaxAccessTokenLife bounds the lifetime of every access token the
// registry mints (the longest an account may set): a signing key stays
// published at least this long after it stops signing.
const MaxAccessTokenLife = max(maxDeviceTokenTTL, maxUserTokenTTL)
