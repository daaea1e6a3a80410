package registry

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/edgetrust/edgetrust/protocol"
)

// Further key types of endpoint public keys (SPEC E1: RSA and X.509 for
// devices that cannot do Ed25519).
const (
	// KeyTypeRSA is an RSA public key, DER SubjectPublicKeyInfo.
	KeyTypeRSA = "rsa"
	// KeyTypeX509 is a DER X.509 certificate whose subject key (RSA or
	// Ed25519) is the endpoint's key. The certificate is a container for
	// the key only: no chain, name or validity period is checked, since
	// devices make their own and many have no clock.
	KeyTypeX509 = "x509"
)

// RSA key sizes accepted: below 2048 bits is weak; above 8192 bits makes
// every verification a cost an unauthenticated caller could impose.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// maxPublicKeyBytes bounds an encoded public key or certificate.
const maxPublicKeyBytes = 8 << 10

// MaxSignatureBytes bounds a request signature (an 8192-bit RSA signature
// is 1024 bytes).
const MaxSignatureBytes = 1024

// PublicKey is an endpoint's public key in the form it is stored: Ed25519
// as the raw 32 bytes (however it was presented, so the QUIC and HTTP forms
// of one key compare equal), RSA as DER SubjectPublicKeyInfo, X.509 as the
// DER certificate as presented.
type PublicKey struct {
	Type       string
	Raw        []byte
	Thumbprint string // RFC 7638 SHA-256 thumbprint, base64url: cnf.jkt
	key        crypto.PublicKey
}

// ParsePublicKey parses a presented public key of keyType: "ed25519" (raw
// 32 bytes, or DER SubjectPublicKeyInfo), "rsa" (DER SubjectPublicKeyInfo)
// or "x509" (DER certificate with an RSA or Ed25519 key). Errors are
// KindInvalid with a message that says what is wrong.
func ParsePublicKey(keyType string, raw []byte) (*PublicKey, error) {
	bad := func(msg string, cause error) (*PublicKey, error) { return nil, E(KindInvalid, msg, cause) }
	if len(raw) == 0 {
		return bad("public_key is empty", nil)
	}
	if len(raw) > maxPublicKeyBytes {
		return bad(fmt.Sprintf("public_key is longer than %d bytes", maxPublicKeyBytes), nil)
	}
	pk := &PublicKey{Type: keyType}
	switch keyType {
	case KeyTypeEd25519:
		if len(raw) == ed25519.PublicKeySize {
			pk.key = ed25519.PublicKey(append([]byte(nil), raw...))
			break
		}
		k, err := x509.ParsePKIXPublicKey(raw)
		if err != nil {
			return bad("an ed25519 public key is 32 bytes, or a DER SubjectPublicKeyInfo", err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return bad("public_key is not an Ed25519 key", nil)
		}
		pk.key = ek
	case KeyTypeRSA:
		k, err := x509.ParsePKIXPublicKey(raw)
		if err != nil {
			return bad("an rsa public key is a DER SubjectPublicKeyInfo", err)
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return bad("public_key is not an RSA key", nil)
		}
		if err := checkRSA(rk); err != nil {
			return nil, err
		}
		pk.key = rk
	case KeyTypeX509:
		cert, err := x509.ParseCertificate(raw)
		if err != nil {
			return bad("an x509 public key is a DER certificate", err)
		}
		switch k := cert.PublicKey.(type) {
		case ed25519.PublicKey:
			pk.key = k
		case *rsa.PublicKey:
			if err := checkRSA(k); err != nil {
				return nil, err
			}
			pk.key = k
		default:
			return bad("the certificate's key must be RSA or Ed25519", nil)
		}
	default:
		return bad(fmt.Sprintf("unsupported key type %q (ed25519, rsa, x509)", keyType), nil)
	}
	switch k := pk.key.(type) {
	case ed25519.PublicKey:
		if keyType == KeyTypeEd25519 {
			pk.Raw = []byte(k)
		}
	case *rsa.PublicKey:
		if keyType == KeyTypeRSA {
			der, err := x509.MarshalPKIXPublicKey(k)
			if err != nil {
				return bad("invalid rsa key", err)
			}
			pk.Raw = der
		}
	}
	if pk.Raw == nil {
		pk.Raw = append([]byte(nil), raw...)
	}
	thumb, err := protocol.Thumbprint(pk.key)
	if err != nil {
		return bad("invalid public key", err)
	}
	pk.Thumbprint = thumb
	return pk, nil
}

func checkRSA(k *rsa.PublicKey) error {
	if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
		return E(KindInvalid, fmt.Sprintf("an RSA key has %d to %d bits, not %d", minRSABits, maxRSABits, bits), nil)
	}
	if k.E < 3 || k.E%2 == 0 {
		return E(KindInvalid, "the RSA public exponent is invalid", nil)
	}
	return nil
}

// errBadSignature is the cause of every signature that does not verify.
var errBadSignature = errors.New("request signature does not verify")

// Verify checks sig over msg: Ed25519 for Ed25519 keys, RSASSA-PKCS1-v1_5
// with SHA-256 for RSA keys (the HCP-Request-Signature of SPEC T3).
func (pk *PublicKey) Verify(msg, sig []byte) error {
	if len(sig) == 0 || len(sig) > MaxSignatureBytes {
		return errBadSignature
	}
	switch k := pk.key.(type) {
	case ed25519.PublicKey:
		if !ed25519.Verify(k, msg, sig) {
			return errBadSignature
		}
	case *rsa.PublicKey:
		h := sha256.Sum256(msg)
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], sig) != nil {
			return errBadSignature
		}
	default:
		return errBadSignature
	}
	return nil
}

// storedKey parses a key as stored on an endpoint, a device code or a key
// change; it was checked when it was stored.
func storedKey(keyType string, raw []byte) (*PublicKey, error) {
	pk, err := ParsePublicKey(keyType, raw)
	if err != nil {
		// The cause is not wrapped: it is KindInvalid, and this is no fault
		// of the caller's.
		return nil, E(KindInternal, "internal error", fmt.Errorf("parsing a stored %s public key: %v", keyType, err))
	}
	return pk, nil
}
