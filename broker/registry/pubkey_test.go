package registry_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

func selfSigned(t testing.TB, pub crypto.PublicKey, signer crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "device"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1, 0)} // long expired: validity is not checked
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestParsePublicKey(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edSPKI, _ := x509.MarshalPKIXPublicKey(edPub)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaSPKI, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	smallRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallSPKI, _ := x509.MarshalPKIXPublicKey(&smallRSA.PublicKey)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecSPKI, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	edThumb, _ := protocol.Thumbprint(edPub)
	rsaThumb, _ := protocol.Thumbprint(&rsaKey.PublicKey)
	msg := []byte("client_id=x&grant_type=device_code")
	edSig := ed25519.Sign(edPriv, msg)
	h := sha256.Sum256(msg)
	rsaSig, _ := rsa.SignPKCS1v15(rand.Reader, rsaKey, crypto.SHA256, h[:])

	tests := []struct {
		name     string
		keyType  string
		raw      []byte
		wantRaw  []byte // the stored form; nil = refused
		wantJKT  string
		validSig []byte
	}{
		{"ed25519 raw", "ed25519", edPub, edPub, edThumb, edSig},
		{"ed25519 spki is stored raw", "ed25519", edSPKI, edPub, edThumb, edSig},
		{"rsa spki", "rsa", rsaSPKI, rsaSPKI, rsaThumb, rsaSig},
		{"x509 ed25519", "x509", selfSigned(t, edPub, edPriv), nil, edThumb, edSig},
		{"x509 rsa", "x509", selfSigned(t, &rsaKey.PublicKey, rsaKey), nil, rsaThumb, rsaSig},
		{"ed25519 short", "ed25519", edPub[:31], nil, "", nil},
		{"ed25519 that is rsa", "ed25519", rsaSPKI, nil, "", nil},
		{"rsa that is ed25519", "rsa", edSPKI, nil, "", nil},
		{"rsa 1024 bits", "rsa", smallSPKI, nil, "", nil},
		{"rsa that is ecdsa", "rsa", ecSPKI, nil, "", nil},
		{"x509 ecdsa", "x509", selfSigned(t, &ecKey.PublicKey, ecKey), nil, "", nil},
		{"x509 garbage", "x509", []byte("not a certificate"), nil, "", nil},
		{"empty", "ed25519", nil, nil, "", nil},
		{"unknown type", "dsa", edPub, nil, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pk, err := registry.ParsePublicKey(tc.keyType, tc.raw)
			if tc.wantJKT == "" {
				if err == nil || registry.KindOf(err) != registry.KindInvalid {
					t.Fatalf("ParsePublicKey = %v, %v; want KindInvalid", pk, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePublicKey: %v", err)
			}
			wantRaw := tc.wantRaw
			if wantRaw == nil {
				wantRaw = tc.raw
			}
			if string(pk.Raw) != string(wantRaw) || pk.Thumbprint != tc.wantJKT || pk.Type != tc.keyType {
				t.Errorf("parsed %s %x %s, want %x %s", pk.Type, pk.Raw, pk.Thumbprint, wantRaw, tc.wantJKT)
			}
			if err := pk.Verify(msg, tc.validSig); err != nil {
				t.Errorf("a good signature: %v", err)
			}
			bad := append([]byte(nil), tc.validSig...)
			bad[0] ^= 1
			for name, s := range map[string][]byte{"flipped": bad, "empty": nil, "huge": make([]byte, 2000)} {
				if pk.Verify(msg, s) == nil {
					t.Errorf("a %s signature verified", name)
				}
			}
			if pk.Verify(append(msg, '&'), tc.validSig) == nil {
				t.Error("a signature of other bytes verified")
			}
		})
	}
}

// FuzzParsePublicKey: any presented key is refused with KindInvalid or
// parsed into a stored form that parses again to the same key; checking a
// signature never panics.
func FuzzParsePublicKey(f *testing.F) {
	// testdata/fuzz/FuzzParsePublicKey holds valid keys of every type.
	f.Add("ed25519", []byte("0123456789abcdef0123456789abcdef"), []byte("sig"))
	f.Add("rsa", []byte{0x30, 0x82, 0x01, 0x22}, []byte{})
	f.Add("x509", []byte{0x30, 0x82}, []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, keyType string, raw, sig []byte) {
		pk, err := registry.ParsePublicKey(keyType, raw)
		if err != nil {
			if registry.KindOf(err) != registry.KindInvalid {
				t.Fatalf("error %v has kind %v", err, registry.KindOf(err))
			}
			return
		}
		again, err := registry.ParsePublicKey(pk.Type, pk.Raw)
		if err != nil || again.Thumbprint != pk.Thumbprint || string(again.Raw) != string(pk.Raw) {
			t.Fatalf("the stored form does not parse to the same key: %v", err)
		}
		_ = pk.Verify([]byte("body"), sig)
	})
}
