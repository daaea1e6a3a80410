package brokerclient

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ParseFingerprint parses a broker fingerprint "sha256:HEX" (the SHA-256 of
// the certificate's SubjectPublicKeyInfo, as the broker prints it at start).
// The prefix is case-insensitive, and colons between hex pairs are allowed.
func ParseFingerprint(s string) ([]byte, error) {
	const prefix = "sha256:"
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return nil, errors.New(`broker fingerprint must look like "sha256:<64 hex digits>"`)
	}
	h := strings.ReplaceAll(s[len(prefix):], ":", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return nil, errors.New(`broker fingerprint must look like "sha256:<64 hex digits>"`)
	}
	return b, nil
}

// Fingerprint returns the fingerprint of cert in the form ParseFingerprint
// accepts: "sha256:" and the hex SHA-256 of its SubjectPublicKeyInfo.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// TLSConfig returns the client TLS configuration for a broker named
// serverName (a host name or IP address, without port).
//
// With caFile (PEM certificates, typically the broker's self-signed
// certificate) the broker's chain must verify against those roots. With
// fingerprint ("sha256:HEX") the chain is not verified; instead the SHA-256
// of the leaf certificate's SubjectPublicKeyInfo must equal HEX, so the pin
// survives certificate renewal with the same key. With neither the system
// roots are used. Setting both is an error. The result requires TLS 1.3;
// Dial adds the ALPN.
func TLSConfig(serverName, caFile, fingerprint string) (*tls.Config, error) {
	conf := &tls.Config{
		ServerName: serverName,
		MinVersion: tls.VersionTLS13,
	}
	switch {
	case caFile != "" && fingerprint != "":
		return nil, errors.New("set either a broker CA file or a broker fingerprint, not both")
	case caFile != "":
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading broker CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("broker CA %s holds no PEM certificate", caFile)
		}
		conf.RootCAs = pool
	case fingerprint != "":
		want, err := ParseFingerprint(fingerprint)
		if err != nil {
			return nil, err
		}
		// The pin replaces chain verification; VerifyConnection runs even
		// with InsecureSkipVerify, on every (also resumed) handshake.
		conf.InsecureSkipVerify = true
		conf.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyPin(cs.PeerCertificates, want)
		}
	}
	return conf, nil
}

// ErrFingerprintMismatch is wrapped by the handshake error when the broker's
// key does not match the pinned fingerprint.
var ErrFingerprintMismatch = errors.New("broker certificate key does not match the pinned fingerprint")

func verifyPin(certs []*x509.Certificate, want []byte) error {
	if len(certs) == 0 {
		return errors.New("broker sent no certificate")
	}
	got := sha256.Sum256(certs[0].RawSubjectPublicKeyInfo)
	if subtle.ConstantTimeCompare(got[:], want) != 1 {
		return fmt.Errorf("%w (broker key is %s)", ErrFingerprintMismatch, Fingerprint(certs[0]))
	}
	return nil
}
