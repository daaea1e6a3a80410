// Package apikey generates, parses, hashes and verifies API key values
// (SPEC K3).
//
// A value looks like etk_<public id>_<secret><checksum>: the public id finds
// the stored record without scanning, the secret carries 260 bits of
// entropy, and the checksum (CRC-32 of everything before it) lets the broker
// and secret scanners reject a mistyped or made-up value without a lookup.
// Only SHA-256 of the whole value is stored: values are random, so a slow
// password hash would add cost and no strength.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
)

// Prefix starts every value.
const Prefix = "etk_"

const (
	publicIDBytes = 8  // 13 base32 characters
	secretBytes   = 33 // 264 bits -> 53 base32 characters
	publicIDLen   = 13
	secretLen     = 53
	checksumLen   = 7 // base32 of 4 bytes
	// Len is the length of every value.
	Len = len(Prefix) + publicIDLen + 1 + secretLen + checksumLen
)

var enc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ErrMalformed is returned for a value that is not well-formed or whose
// checksum does not match.
var ErrMalformed = errors.New("apikey: malformed value")

// Generate returns a new value for a new public id.
func Generate() (value, publicID string, err error) {
	id := make([]byte, publicIDBytes)
	if _, err := rand.Read(id); err != nil {
		return "", "", err
	}
	publicID = enc.EncodeToString(id)
	value, err = Regenerate(publicID)
	return value, publicID, err
}

// Regenerate returns a new value with a fresh secret under an existing public id.
func Regenerate(publicID string) (string, error) {
	if len(publicID) != publicIDLen {
		return "", ErrMalformed
	}
	sec := make([]byte, secretBytes)
	if _, err := rand.Read(sec); err != nil {
		return "", err
	}
	body := Prefix + publicID + "_" + enc.EncodeToString(sec)
	return body + checksum(body), nil
}

func checksum(body string) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc32.ChecksumIEEE([]byte(body)))
	return enc.EncodeToString(b[:])
}

// Parse checks a value's form and checksum and returns its public id.
func Parse(value string) (publicID string, err error) {
	if len(value) != Len || !strings.HasPrefix(value, Prefix) {
		return "", ErrMalformed
	}
	rest := value[len(Prefix):]
	if rest[publicIDLen] != '_' {
		return "", ErrMalformed
	}
	publicID = rest[:publicIDLen]
	body := value[:len(value)-checksumLen]
	for _, part := range []string{publicID, rest[publicIDLen+1:]} {
		for i := 0; i < len(part); i++ {
			c := part[i]
			if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
				return "", ErrMalformed
			}
		}
	}
	if subtle.ConstantTimeCompare([]byte(checksum(body)), []byte(value[len(body):])) != 1 {
		return "", ErrMalformed
	}
	return publicID, nil
}

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

// Mask returns a form of value safe to log: the prefix and public id only.
func Mask(value string) string {
	if id, err := Parse(value); err == nil {
		return Prefix + id + "_…"
	}
	return "[malformed key]"
}
