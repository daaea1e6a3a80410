package registry

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// newOpaque returns a new opaque secret — prefix and 256 random bits,
// base64url — and the hash under which it is stored: refresh tokens and
// device codes (SPEC T2, E3) are stored only as hashes.
func newOpaque(prefix string) (secret string, hash []byte) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("registry: crypto/rand failed: " + err.Error())
	}
	secret = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, hashOpaque(secret)
}

// hashOpaque returns the stored form of an opaque secret.
func hashOpaque(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
