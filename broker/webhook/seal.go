package webhook

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/internal/atomicfile"
)

// KeyFile is the name, in DATA_DIR/keys, of the key that seals webhook
// secrets in an SQLite store (a backup copies DATA_DIR/keys with the
// database, so a restored broker opens them).
const KeyFile = "webhook-secrets.key"

// sealVersion starts a sealed secret: the format (AES-256-GCM, a 12-byte
// random nonce, then the ciphertext and tag).
const sealVersion = 1

// Sealer seals webhook secrets with AES-256-GCM (registry.SecretSealer).
type Sealer struct{ aead cipher.AEAD }

var _ registry.SecretSealer = (*Sealer)(nil)

// NewSealer returns a Sealer over a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("webhook.NewSealer: want a 32-byte key, got %d bytes", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal implements registry.SecretSealer.
func (s *Sealer) Seal(plain, aad []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte{sealVersion}, nonce...)
	return s.aead.Seal(out, nonce, plain, aad), nil
}

// Open implements registry.SecretSealer. Its error says only that the
// secret cannot be opened (another key, or tampered with).
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealVersion {
		return nil, errors.New("webhook secret: not a sealed secret of this version")
	}
	plain, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], aad)
	if err != nil {
		return nil, errors.New("webhook secret: cannot be opened with this broker's key (another key, or altered)")
	}
	return plain, nil
}

// LoadOrCreateKey reads the sealing key at path, or creates one (32
// random bytes, written atomically, mode 0600).
func LoadOrCreateKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil && len(data) == 32:
		return data, nil
	case err == nil:
		return nil, fmt.Errorf("%s: want 32 bytes, found %d", path, len(data))
	case errors.Is(err, os.ErrNotExist):
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		return key, atomicfile.Write(path, key, 0o600)
	default:
		return nil, err
	}
}

// KeyFromClusterKey derives the sealing key of brokers sharing a store
// from their cluster key (HKDF-SHA256), so every one of them opens the
// secrets any one sealed.
func KeyFromClusterKey(clusterKey []byte) ([]byte, error) {
	if len(clusterKey) == 0 {
		return nil, errors.New("webhook.KeyFromClusterKey: no cluster key")
	}
	return hkdf.Key(sha256.New, clusterKey, nil, "edgetrust webhook secrets v1", 32)
}
