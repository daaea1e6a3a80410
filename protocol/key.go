package protocol

import (
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
)

// The API key format (SPEC K3): etk_<public id>_<secret><checksum>, all in
// lower-case base32. The public id names the value for lookups; the
// checksum (CRC-32 of everything before it) lets a secret scanner, the
// agent and the broker reject a mistyped value without a lookup. It is
// part of the wire contract: firmware may check it the same way.
const (
	KeyPrefix        = "etk_"
	KeyPublicIDBytes = 8  // 13 base32 characters
	KeySecretBytes   = 33 // 264 bits -> 53 base32 characters
	keyPublicIDLen   = 13
	keySecretLen     = 53
	keyChecksumLen   = 7 // base32 of 4 bytes
	// KeyLen is the length of every value.
	KeyLen = len(KeyPrefix) + keyPublicIDLen + 1 + keySecretLen + keyChecksumLen
)

var keyEnc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ErrMalformedKey is returned for a value that is not well-formed or whose
// checksum does not match.
var ErrMalformedKey = errors.New("malformed API key value")

// EncodeKeyID returns the public id of KeyPublicIDBytes random bytes.
func EncodeKeyID(id []byte) string { return keyEnc.EncodeToString(id) }

// FormatKey returns the value of a public id and KeySecretBytes of secret,
// checksum included. It returns ErrMalformedKey for a public id or secret
// of the wrong size.
func FormatKey(publicID string, secret []byte) (string, error) {
	if len(publicID) != keyPublicIDLen || len(secret) != KeySecretBytes {
		return "", ErrMalformedKey
	}
	body := KeyPrefix + publicID + "_" + keyEnc.EncodeToString(secret)
	return body + keyChecksum(body), nil
}

func keyChecksum(body string) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc32.ChecksumIEEE([]byte(body)))
	return keyEnc.EncodeToString(b[:])
}

// ParseKey checks a value's form and checksum and returns its public id,
// or ErrMalformedKey.
func ParseKey(value string) (publicID string, err error) {
	if len(value) != KeyLen || !strings.HasPrefix(value, KeyPrefix) {
		return "", ErrMalformedKey
	}
	rest := value[len(KeyPrefix):]
	if rest[keyPublicIDLen] != '_' {
		return "", ErrMalformedKey
	}
	publicID = rest[:keyPublicIDLen]
	body := value[:len(value)-keyChecksumLen]
	for _, part := range []string{publicID, rest[keyPublicIDLen+1:]} {
		for i := 0; i < len(part); i++ {
			c := part[i]
			if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
				return "", ErrMalformedKey
			}
		}
	}
	if subtle.ConstantTimeCompare([]byte(keyChecksum(body)), []byte(value[len(body):])) != 1 {
		return "", ErrMalformedKey
	}
	return publicID, nil
}

// MaskKey returns a form of an API key value safe to log or show: the
// prefix and public id of an "etk_<id>_<secret>" value with the secret
// replaced by "****", or "****" alone for anything else — a value not of
// that shape may be a secret pasted whole, so none of it is shown.
func MaskKey(value string) string {
	if rest, ok := strings.CutPrefix(value, KeyPrefix); ok {
		if id, _, ok := strings.Cut(rest, "_"); ok && id != "" && !strings.ContainsFunc(id, notKeyIDRune) {
			return KeyPrefix + id + "_****"
		}
	}
	return "****"
}

func notKeyIDRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
}
