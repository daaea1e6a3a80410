package registry

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"sync"
	"time"
)

// DPoP (RFC 9449) for SPEC T3: calls that present a bound device token
// prove possession of the device key with a DPoP proof carrying a nonce the
// broker issued (so device clocks do not matter) and a jti the broker
// accepts once. Both hold across every broker sharing the store: the nonce
// key lives in the store, and so do the proofs seen. The proof itself (a
// JWS) is parsed and verified by the transport.

// DPoPNonceTTL is how long a nonce is accepted after it was issued.
const DPoPNonceTTL = 5 * time.Minute

// dpopNonceSkew is how far in the future a nonce may have been issued: the
// clocks of brokers sharing a store differ a little.
const dpopNonceSkew = time.Minute

// MaxDPoPJTI bounds a proof's jti.
const MaxDPoPJTI = 256

// metaDPoPNonceKey names the store's nonce key.
const metaDPoPNonceKey = "dpop.nonce_key"

// nonce layout: 8 bytes of Unix seconds (big endian), then 16 bytes of
// HMAC-SHA-256 over a label and those 8 bytes.
const (
	nonceTimeLen = 8
	nonceMACLen  = 16
	nonceLabel   = "edgetrust DPoP nonce v1\x00"
)

// ErrDPoPReplay is the cause of refusing a DPoP proof seen before.
var ErrDPoPReplay = errors.New("DPoP proof replayed")

// dpopNonces caches the store's nonce key.
type dpopNonces struct {
	mu  sync.Mutex
	key []byte
}

// dpopKey returns the nonce key, creating it in the store the first time
// any broker of the store needs it.
func (r *Registry) dpopKey(ctx context.Context) ([]byte, error) {
	r.dpop.mu.Lock()
	defer r.dpop.mu.Unlock()
	if r.dpop.key != nil {
		return r.dpop.key, nil
	}
	var key []byte
	err := r.store.Update(ctx, func(tx Tx) error {
		v, err := tx.GetMeta(metaDPoPNonceKey)
		switch {
		case err == nil:
			key, err = base64.RawURLEncoding.DecodeString(v)
			if err != nil || len(key) != sha256.Size {
				return internal("reading the DPoP nonce key", errors.New("malformed"))
			}
			return nil
		case !errors.Is(err, ErrNotFound):
			return internal("reading the DPoP nonce key", err)
		}
		key = make([]byte, sha256.Size)
		if _, err := rand.Read(key); err != nil {
			return internal("making the DPoP nonce key", err)
		}
		if err := tx.SetMeta(metaDPoPNonceKey, base64.RawURLEncoding.EncodeToString(key)); err != nil {
			return internal("storing the DPoP nonce key", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.dpop.key = key
	return key, nil
}

func nonceMAC(key, ts []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(nonceLabel))
	m.Write(ts)
	return m.Sum(nil)[:nonceMACLen]
}

// DPoPNonce returns a fresh nonce for DPoP proofs (RFC 9449 §8), accepted
// by every broker of the store for DPoPNonceTTL. Errors: KindInternal.
func (r *Registry) DPoPNonce(ctx context.Context) (string, error) {
	key, err := r.dpopKey(ctx)
	if err != nil {
		return "", err
	}
	b := make([]byte, nonceTimeLen, nonceTimeLen+nonceMACLen)
	binary.BigEndian.PutUint64(b, uint64(r.now().Unix()))
	b = append(b, nonceMAC(key, b)...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// CheckDPoPNonce tells whether nonce was issued by DPoPNonce (of any broker
// of the store) less than DPoPNonceTTL ago, and when it stops being
// accepted: a proof carrying it need not be remembered longer. ok is false
// for any other nonce. Errors: KindInternal.
func (r *Registry) CheckDPoPNonce(ctx context.Context, nonce string) (expires time.Time, ok bool, err error) {
	key, err := r.dpopKey(ctx)
	if err != nil {
		return time.Time{}, false, err
	}
	b, derr := base64.RawURLEncoding.DecodeString(nonce)
	if derr != nil || len(b) != nonceTimeLen+nonceMACLen {
		return time.Time{}, false, nil
	}
	if !hmac.Equal(b[nonceTimeLen:], nonceMAC(key, b[:nonceTimeLen])) {
		return time.Time{}, false, nil
	}
	secs := binary.BigEndian.Uint64(b[:nonceTimeLen])
	if secs > 1<<40 { // far beyond any real time; not one of ours
		return time.Time{}, false, nil
	}
	issued := time.Unix(int64(secs), 0).UTC()
	now := r.now()
	expires = issued.Add(DPoPNonceTTL)
	if issued.After(now.Add(dpopNonceSkew)) || !now.Before(expires) {
		return time.Time{}, false, nil
	}
	return expires, true, nil
}

// UseDPoPProof accepts the DPoP proof with this jti, made with the key of
// thumbprint jkt, once: it records the proof until `until` (when the nonce
// it carried expires) in the store every broker shares. Errors: KindInvalid
// (an empty or overlong jti), KindAccessDenied wrapping ErrDPoPReplay (seen
// before), KindInternal.
func (r *Registry) UseDPoPProof(ctx context.Context, jkt, jti string, until time.Time) error {
	if jti == "" || len(jti) > MaxDPoPJTI {
		return E(KindInvalid, "the DPoP proof's jti is missing or too long", nil)
	}
	sum := sha256.Sum256([]byte(jkt + "\x00" + jti))
	id := hex.EncodeToString(sum[:])
	err := r.store.Update(ctx, func(tx Tx) error {
		err := tx.RecordDPoPProof(id, until)
		if errors.Is(err, ErrConflict) {
			return E(KindAccessDenied, "the DPoP proof was used before: make a new one for each request", ErrDPoPReplay)
		}
		if err != nil {
			return internal("recording DPoP proof", err)
		}
		return nil
	})
	return err
}
