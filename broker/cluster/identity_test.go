package cluster

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/token"
)

func TestReadClusterKey(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	tests := []struct {
		name, content, wantErr string
	}{
		{"openssl rand -base64 32", good + "\n", ""},
		{"48 bytes over two lines", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 48))[:40] + "\n" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 48))[40:] + "\n", ""},
		{"short", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 16)), "holds 16 bytes, want at least 32"},
		{"not base64", "this is not a key, it is a sentence!", "not base64"},
		{"empty", "", "holds 0 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cluster.key")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			key, err := ReadClusterKey(path)
			if tc.wantErr == "" {
				if err != nil || len(key) < 32 {
					t.Fatalf("ReadClusterKey = %d bytes, %v", len(key), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "openssl rand -base64 32") {
				t.Fatalf("err = %v, want %q and how to write a key", err, tc.wantErr)
			}
			if tc.content != "" && strings.Contains(err.Error(), tc.content) {
				t.Errorf("the error shows the file's content: %v", err)
			}
		})
	}
	if _, err := ReadClusterKey(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file gave no error")
	}
}

// issueFor is an IssueFunc: a self-signed certificate, renewed when
// renew says so.
func issueFor(renew *bool) IssueFunc {
	return func(key *ecdsa.PrivateKey, current []byte) ([]byte, error) {
		if current != nil && !*renew {
			return current, nil
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		return x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	}
}

// Brokers starting together on one store agree on one TLS identity: one
// creates it, the others open it with the same cluster key; its private
// key is never in the database in clear, and another cluster key does not
// open it (issue 14, point 2).
func TestSharedTLS(t *testing.T) {
	re := brokertest.New(t, brokertest.Options{})
	ctx := context.Background()
	ck := bytes.Repeat([]byte{42}, 32)
	noRenew := false
	type got struct {
		key     *ecdsa.PrivateKey
		cert    []byte
		created bool
		err     error
	}
	results := make([]got, 3)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, c, created, err := SharedTLS(ctx, re.Store, ck, issueFor(&noRenew))
			results[i] = got{k, c, created, err}
		}()
	}
	wg.Wait()
	created := 0
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("broker %d: %v", i, r.err)
		}
		if r.created {
			created++
		}
		if !r.key.Equal(results[0].key) || !bytes.Equal(r.cert, results[0].cert) {
			t.Errorf("broker %d presents another identity", i)
		}
	}
	if created != 1 {
		t.Errorf("%d brokers created the identity, want 1", created)
	}

	// What the database holds: the certificate, and the key only sealed.
	pkcs8, err := x509.MarshalPKCS8PrivateKey(results[0].key)
	if err != nil {
		t.Fatal(err)
	}
	var stored string
	re.Store.View(ctx, func(tx registry.Tx) error {
		stored, err = tx.GetMeta(metaTLSKey)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(stored, sealedPrefix))
	if !strings.HasPrefix(stored, sealedPrefix) || bytes.Contains(raw, pkcs8[len(pkcs8)-32:]) ||
		strings.Contains(stored, base64.StdEncoding.EncodeToString(pkcs8)) {
		t.Error("the TLS key is in the database in clear")
	}

	if _, _, _, err := SharedTLS(ctx, re.Store, bytes.Repeat([]byte{43}, 32), issueFor(&noRenew)); !errors.Is(err, ErrWrongClusterKey) {
		t.Errorf("another cluster key: %v, want ErrWrongClusterKey", err)
	}

	// A certificate near expiry is renewed once, with the same key, for all.
	renew := true
	k, renewed, _, err := SharedTLS(ctx, re.Store, ck, issueFor(&renew))
	if err != nil || !k.Equal(results[0].key) || bytes.Equal(renewed, results[0].cert) {
		t.Fatalf("renewal: same key %v, new cert %v, %v", k.Equal(results[0].key), !bytes.Equal(renewed, results[0].cert), err)
	}
	_, later, _, err := SharedTLS(ctx, re.Store, ck, issueFor(&noRenew))
	if err != nil || !bytes.Equal(later, renewed) {
		t.Errorf("the next broker does not present the renewed certificate: %v", err)
	}
}

// A sealed value opens only with its cluster key and for its purpose.
func TestSealOpen(t *testing.T) {
	ck := bytes.Repeat([]byte{1}, 32)
	s, err := seal(ck, "a", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := open(ck, "a", s); err != nil || string(got) != "secret" {
		t.Fatalf("open = %q, %v", got, err)
	}
	for name, tc := range map[string]struct {
		key   []byte
		label string
		value string
	}{
		"other key":     {bytes.Repeat([]byte{2}, 32), "a", s},
		"other purpose": {ck, "b", s},
		"altered":       {ck, "a", s[:len(s)-4] + "AAA="},
	} {
		if _, err := open(tc.key, tc.label, tc.value); !errors.Is(err, ErrWrongClusterKey) {
			t.Errorf("%s: %v, want ErrWrongClusterKey", name, err)
		}
	}
}

// Every broker publishes its token key's public half; a KeySet fills an
// Issuer with them, so one broker verifies another's tokens, also of a
// broker started after its last refresh (issue 14, point 2).
func TestKeySet(t *testing.T) {
	re := brokertest.New(t, brokertest.Options{})
	ctx := context.Background()
	issuer := func() (*token.Issuer, *KeySet) {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		ks := NewKeySet(re.Store, nil)
		ks.lookup = 0
		iss, err := token.New(token.Config{Key: priv, OnUnknownKey: ks.Unknown})
		if err != nil {
			t.Fatal(err)
		}
		ks.Attach(iss)
		if err := PublishKey(ctx, re.Store, priv.Public().(ed25519.PublicKey), time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := ks.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		return iss, ks
	}
	a, _ := issuer()
	b, _ := issuer() // after a's refresh: a learns of b on its first token
	tok, err := b.Mint(token.Claims{Subject: "s", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(tok); err != nil {
		t.Errorf("a verifies b's token: %v", err)
	}
	tok, _ = a.Mint(token.Claims{Subject: "s", ExpiresAt: time.Now().Add(time.Hour)})
	if _, err := b.Verify(tok); err != nil {
		t.Errorf("b verifies a's token: %v", err)
	}
	keys, err := VerifyKeys(ctx, re.Store)
	if err != nil || len(keys) != 2 {
		t.Fatalf("published keys: %d, %v", len(keys), err)
	}
	// Publishing again adds nothing.
	if err := PublishKey(ctx, re.Store, keys[0], time.Now()); err != nil {
		t.Fatal(err)
	}
	if again, _ := VerifyKeys(ctx, re.Store); len(again) != 2 {
		t.Errorf("published twice: %d keys", len(again))
	}
}
