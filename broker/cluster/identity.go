package cluster

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// MinClusterKey is the least a cluster key holds, in bytes (decoded).
const MinClusterKey = 32

// ReadClusterKey reads the operator's cluster key: base64 text of at least
// MinClusterKey bytes, as `openssl rand -base64 32 > FILE` writes it
// (surrounding white space and line breaks are ignored). Errors name the
// file, never its content.
func ReadClusterKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the cluster key: %w", err)
	}
	text := strings.Join(strings.Fields(string(data)), "")
	key, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		if key, err = base64.RawStdEncoding.DecodeString(text); err != nil {
			return nil, fmt.Errorf("the cluster key in %s is not base64 text; write one with: openssl rand -base64 32 > %s", path, path)
		}
	}
	if len(key) < MinClusterKey {
		return nil, fmt.Errorf("the cluster key in %s holds %d bytes, want at least %d; write one with: openssl rand -base64 32 > %s", path, len(key), MinClusterKey, path)
	}
	return key, nil
}

// Sealed values are "v1." and the base64 of nonce || AES-256-GCM
// ciphertext, under a key derived from the cluster key with HKDF-SHA256 for
// one purpose (label), which is also the additional data: a value sealed
// for one purpose does not open as another.
const sealedPrefix = "v1."

// ErrWrongClusterKey is returned when a sealed value does not open: another
// cluster key sealed it (or it was altered).
var ErrWrongClusterKey = errors.New("the cluster key does not open what the database holds: give every broker the same cluster key file")

func aead(clusterKey []byte, label string) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, clusterKey, nil, "edgetrust cluster "+label, 32)
	if err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

// seal encrypts plain for label with the cluster key.
func seal(clusterKey []byte, label string, plain []byte) (string, error) {
	g, err := aead(clusterKey, label)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := g.Seal(nonce, nonce, plain, []byte(label))
	return sealedPrefix + base64.StdEncoding.EncodeToString(out), nil
}

// Seal encrypts plain for one purpose (label) with the cluster key (or
// another secret of at least MinClusterKey bytes): how the token-signing
// keys are kept in the store (broker/signing).
func Seal(key []byte, label string, plain []byte) (string, error) { return seal(key, label, plain) }

// Open decrypts what Seal made for label; ErrWrongClusterKey when another
// key sealed it or it was altered.
func Open(key []byte, label, sealed string) ([]byte, error) { return open(key, label, sealed) }

// open decrypts what seal made for label.
func open(clusterKey []byte, label, sealed string) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return nil, fmt.Errorf("a sealed value of an unknown format (want %q...)", sealedPrefix)
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("a sealed value that is not base64: %w", err)
	}
	g, err := aead(clusterKey, label)
	if err != nil {
		return nil, err
	}
	if len(raw) < g.NonceSize() {
		return nil, ErrWrongClusterKey
	}
	plain, err := g.Open(nil, raw[:g.NonceSize()], raw[g.NonceSize():], []byte(label))
	if err != nil {
		return nil, ErrWrongClusterKey
	}
	return plain, nil
}

// Meta keys of the shared TLS identity.
const (
	metaTLSCert = "cluster.tls.cert" // base64 DER of the certificate (public)
	metaTLSKey  = "cluster.tls.key"  // the PKCS #8 private key, sealed
	labelTLSKey = "tls key"
)

// IssueFunc returns the certificate to present for key: current (DER, nil
// when there is none yet) when it still fits, or a new one.
type IssueFunc func(key *ecdsa.PrivateKey, current []byte) ([]byte, error)

// SharedTLS returns the TLS key and certificate every broker on st
// presents, so that agents pinned to its key reach any of them. The first
// broker creates them (issue gives the certificate) and stores the key
// sealed with clusterKey, in one Update that never overwrites: brokers
// starting together agree on the winner's. Later brokers open it; a broker
// whose certificate nears expiry (issue answers a new one) stores the new
// one, same key. created reports whether this call created the identity.
func SharedTLS(ctx context.Context, st registry.Store, clusterKey []byte, issue IssueFunc) (key *ecdsa.PrivateKey, certDER []byte, created bool, err error) {
	var certB64, sealed string
	if err := st.View(ctx, func(tx registry.Tx) error {
		var err error
		certB64, sealed, err = readTLS(tx)
		return err
	}); err != nil {
		return nil, nil, false, err
	}
	if certB64 == "" {
		// Made outside the Update, which may run more than once.
		fresh, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, false, err
		}
		der, err := issue(fresh, nil)
		if err != nil {
			return nil, nil, false, err
		}
		pkcs8, err := x509.MarshalPKCS8PrivateKey(fresh)
		if err != nil {
			return nil, nil, false, err
		}
		mySealed, err := seal(clusterKey, labelTLSKey, pkcs8)
		if err != nil {
			return nil, nil, false, err
		}
		myCert := base64.StdEncoding.EncodeToString(der)
		if err := st.Update(ctx, func(tx registry.Tx) error {
			created = false
			var err error
			if certB64, sealed, err = readTLS(tx); err != nil || certB64 != "" {
				return err // another broker won
			}
			if err := tx.SetMeta(metaTLSKey, mySealed); err != nil {
				return err
			}
			certB64, sealed, created = myCert, mySealed, true
			return tx.SetMeta(metaTLSCert, myCert)
		}); err != nil {
			return nil, nil, false, fmt.Errorf("storing the cluster's TLS identity: %w", err)
		}
	}
	if key, certDER, err = openTLS(clusterKey, certB64, sealed); err != nil {
		return nil, nil, false, err
	}
	renewed, err := issue(key, certDER)
	if err != nil || bytes.Equal(renewed, certDER) {
		return key, certDER, created, err
	}
	old := certB64
	if err := st.Update(ctx, func(tx registry.Tx) error {
		cur, _, err := readTLS(tx)
		if err != nil || cur != old {
			certB64 = cur // another broker renewed it first
			return err
		}
		certB64 = base64.StdEncoding.EncodeToString(renewed)
		return tx.SetMeta(metaTLSCert, certB64)
	}); err != nil {
		return nil, nil, false, fmt.Errorf("storing the renewed TLS certificate: %w", err)
	}
	if certDER, err = base64.StdEncoding.DecodeString(certB64); err != nil {
		return nil, nil, false, fmt.Errorf("the database holds a TLS certificate that is not base64: %w", err)
	}
	return key, certDER, created, nil
}

// readTLS reads the stored identity ("" when there is none).
func readTLS(tx registry.Tx) (cert, sealed string, err error) {
	cert, err = tx.GetMeta(metaTLSCert)
	if errors.Is(err, registry.ErrNotFound) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	if sealed, err = tx.GetMeta(metaTLSKey); err != nil {
		return "", "", fmt.Errorf("the database holds a TLS certificate without its key: %w", err)
	}
	return cert, sealed, nil
}

func openTLS(clusterKey []byte, certB64, sealed string) (*ecdsa.PrivateKey, []byte, error) {
	der, err := base64.StdEncoding.DecodeString(certB64)
	if err != nil {
		return nil, nil, fmt.Errorf("the database holds a TLS certificate that is not base64: %w", err)
	}
	pkcs8, err := open(clusterKey, labelTLSKey, sealed)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the cluster's TLS key: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		return nil, nil, fmt.Errorf("the cluster's TLS key: %w", err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("the cluster's TLS key is not an ECDSA key")
	}
	return key, der, nil
}
