// Package apikey generates, hashes and verifies API key values (SPEC K3).
//
// A value looks like etk_<public id>_<secret><checksum> (protocol/key.go
// owns the format, which the agent checks too): the public id finds the
// stored record without scanning, the secret carries 264 bits of entropy,
// and the checksum lets the broker and secret scanners reject a mistyped or
// made-up value without a lookup. Only SHA-256 of the whole value is
// stored: values are random, so a slow password hash would add cost and no
// strength.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"

	"github.com/edgetrust/edgetrust/protocol"
)

// Prefix starts every value; Len is the length of every value.
const (
	Prefix = protocol.KeyPrefix
	Len    = protocol.KeyLen
)

// ErrMalformed is returned for a value that is not well-formed or whose
// checksum does not match.
var ErrMalformed = protocol.ErrMalformedKey

// Generate returns a new value for a new public id.
func Generate() (value, publicID string, err error) {
	id := make([]byte, protocol.KeyPublicIDBytes)
	if _, err := rand.Read(id); err != nil {
		return "", "", err
	}
	publicID = protocol.EncodeKeyID(id)
	value, err = Regenerate(publicID)
	return value, publicID, err
}

// Regenerate returns a new value with a fresh secret under an existing public id.
func Regenerate(publicID string) (string, error) {
	sec := make([]byte, protocol.KeySecretBytes)
	if _, err := rand.Read(sec); err != nil {
		return "", err
	}
	return protocol.FormatKey(publicID, sec)
}

// Parse checks a value's form and checksum and returns its public id.
func Parse(value string) (publicID string, err error) { return protocol.ParseKey(value) }

// Hash returns the stored form of a value.
func Hash(value string) []byte {
	h := sha256.Sum256([]byte(value))
	return h[:]
}

// Verify reports, in constant time, whether value hashes to stored.
func Verify(value string, stored []byte) bool {
	h := Hash(value)
	return subtle.ConstantTimeCompare(h, stored) == 1
}
