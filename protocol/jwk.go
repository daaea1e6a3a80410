package protocol

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math/big"
)

// Thumbprint returns the RFC 7638 SHA-256 JWK thumbprint of an endpoint's
// public key (Ed25519 or RSA, SPEC E1), base64url without padding: the
// value of a bound token's cnf.jkt (RFC 7800) and of a DPoP proof's key.
// The JWK members are written in lexicographic order without white space,
// as RFC 7638 section 3 requires, so no JSON library is needed.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	var in string
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", errors.New("thumbprint: ed25519 key of the wrong size")
		}
		in = `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(k) + `"}`
	case *rsa.PublicKey:
		if k == nil || k.N == nil || k.E <= 0 {
			return "", errors.New("thumbprint: incomplete rsa key")
		}
		e := big.NewInt(int64(k.E)).Bytes()
		in = `{"e":"` + base64.RawURLEncoding.EncodeToString(e) + `","kty":"RSA","n":"` +
			base64.RawURLEncoding.EncodeToString(k.N.Bytes()) + `"}`
	default:
		return "", errors.New("thumbprint: unsupported key type (ed25519 or rsa)")
	}
	h := sha256.Sum256([]byte(in))
	return base64.RawURLEncoding.EncodeToString(h[:]), nil
}
