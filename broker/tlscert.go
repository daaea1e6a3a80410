package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/edgetrust/edgetrust/internal/atomicfile"
)

const (
	certValidity = 397 * 24 * time.Hour
	certRenewal  = 30 * 24 * time.Hour
)

// loadOrCreateCert keeps the broker's TLS key in dir/broker.key and a
// self-signed certificate in dir/broker.crt naming sans. The key is kept
// across renewals so the SPKI fingerprint agents pin never changes; the
// certificate is re-issued when a name is missing or it nears expiry.
func loadOrCreateCert(dir string, sans []string, now time.Time) (tls.Certificate, string, error) {
	keyPath, certPath := filepath.Join(dir, "broker.key"), filepath.Join(dir, "broker.crt")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, "", err
	}
	key, err := loadOrCreateECKey(keyPath)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	der, err := currentCert(certPath, key, sans, now)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	if der == nil {
		if der, err = issueCert(key, sans, now); err != nil {
			return tls.Certificate{}, "", err
		}
		if err := atomicfile.Write(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
			return tls.Certificate{}, "", err
		}
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, hex.EncodeToString(sum[:]), nil
}

func loadOrCreateECKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		return key, atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	}
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		return nil, fmt.Errorf("%s holds no PEM key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s is not an ECDSA key", path)
	}
	return key, nil
}

// currentCert returns the stored certificate's DER if it still fits: same
// key, every name in sans, not near expiry. nil means issue a new one.
func currentCert(path string, key *ecdsa.PrivateKey, sans []string, now time.Time) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		return nil, nil
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, nil
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil
	}
	if now.Add(certRenewal).After(c.NotAfter) {
		return nil, nil
	}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
				return nil, nil
			}
		} else if !slices.Contains(c.DNSNames, s) {
			return nil, nil
		}
	}
	return blk.Bytes, nil
}

func issueCert(key *ecdsa.PrivateKey, sans []string, now time.Time) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "edgetrust broker"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // self-signed: the file is its own CA for --broker-ca / --ca-file
	}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if s != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
}

// certNames returns the names the certificate must carry (SPEC §6).
func certNames(listenHost string, extra []string) []string {
	names := []string{"127.0.0.1", "::1", "localhost"}
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
	}
	if listenHost != "" && listenHost != "0.0.0.0" && listenHost != "::" {
		names = append(names, listenHost)
	}
	names = append(names, extra...)
	slices.Sort(names)
	return slices.Compact(names)
}
