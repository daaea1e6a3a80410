package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func newIssuer(t *testing.T, clk *fakeClock) (*Issuer, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	i, err := New(Config{Key: priv, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return i, priv
}

func TestMintVerifyRoundTrip(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	iss, _ := newIssuer(t, clk)
	want := Claims{
		Issuer: "edgetrust", Audience: "edgetrust", Subject: "ep-1", ID: "jti-1",
		IssuedAt: clk.t, ExpiresAt: clk.t.Add(15 * time.Minute),
		Account: "acct-1", Type: TypeDevice, JKT: "thumb", Endpoint: "ep-0", Session: "chain-1",
	}
	tok, err := iss.Mint(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := iss.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, *got); d != "" {
		t.Fatalf("claims (-want +got):\n%s", d)
	}
	// The header names EdDSA and the key id published in the JWKS.
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	var h map[string]string
	if err := json.Unmarshal(hdr, &h); err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(iss.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if h["alg"] != "EdDSA" || len(set.Key(h["kid"])) != 1 {
		t.Fatalf("header %v does not match JWKS %s", h, iss.JWKS())
	}
}

func TestVerifyRejects(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	iss, _ := newIssuer(t, clk)
	other, _ := newIssuer(t, clk)
	good := Claims{Subject: "s", Type: TypeUser, ExpiresAt: clk.t.Add(time.Hour)}
	tok, err := iss.Mint(good)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Mint(good)
	if err != nil {
		t.Fatal(err)
	}
	hsKey := make([]byte, 32)
	hs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: hsKey}, nil)
	hsTok, _ := jwt.Signed(hs).Claims(jwt.Claims{Issuer: "edgetrust", Audience: jwt.Audience{"edgetrust"}, Expiry: jwt.NewNumericDate(clk.t.Add(time.Hour))}).Serialize()
	parts := strings.Split(tok, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin","exp":9999999999,"iss":"edgetrust","aud":"edgetrust"}`)) + "." + parts[2]

	cases := map[string]struct {
		tok     string
		advance time.Duration
	}{
		"expired":         {tok, time.Hour + time.Second},
		"foreign key":     {foreign, 0},
		"HS256":           {hsTok, 0},
		"tampered claims": {tampered, 0},
		"garbage":         {"not.a.jwt", 0},
		"empty":           {"", 0},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			saved := clk.t
			clk.t = clk.t.Add(c.advance)
			defer func() { clk.t = saved }()
			if _, err := iss.Verify(c.tok); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestPreviousKeysStillVerify(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	old, oldPriv := newIssuer(t, clk)
	tok, err := old.Mint(Claims{Subject: "s", ExpiresAt: clk.t.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	_, newPriv, _ := ed25519.GenerateKey(rand.Reader)
	rotated, err := New(Config{Key: newPriv, Previous: []ed25519.PublicKey{oldPriv.Public().(ed25519.PublicKey)}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rotated.Verify(tok); err != nil {
		t.Fatalf("token of previous key: %v", err)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "signing.pem")
	k1, created, err := LoadOrCreateKey(p)
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v err %v", fi.Mode().Perm(), err)
	}
	k2, created, err := LoadOrCreateKey(p)
	if err != nil || created || !k1.Equal(k2) {
		t.Fatalf("second call: created=%v err=%v same=%v", created, err, k1.Equal(k2))
	}
	if err := os.WriteFile(p, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKey(p); err == nil {
		t.Fatal("corrupt key file accepted")
	}
}

// Brokers sharing a database verify each other's tokens: keys added to an
// Issuer verify and are published; a key id it does not know is looked up
// once through OnUnknownKey before the token is refused (issue 14, point 2).
func TestOtherBrokersKeys(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	a, aPriv := newIssuer(t, clk)
	tok, err := a.Mint(Claims{Subject: "s", ExpiresAt: clk.t.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	aPub := aPriv.Public().(ed25519.PublicKey)
	var asked []string
	var publish bool
	_, bPriv, _ := ed25519.GenerateKey(rand.Reader)
	var b *Issuer
	b, err = New(Config{Key: bPriv, Now: clk.Now, OnUnknownKey: func(kid string) {
		asked = append(asked, kid)
		if publish {
			b.AddKeys(aPub)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(tok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a key not yet published: %v, want ErrInvalid", err)
	}
	publish = true
	if _, err := b.Verify(tok); err != nil {
		t.Fatalf("a key found on lookup: %v", err)
	}
	if d := cmp.Diff([]string{a.KeyID(), a.KeyID()}, asked); d != "" {
		t.Errorf("lookups (-want +got):\n%s", d)
	}
	if _, err := b.Verify(tok); err != nil || len(asked) != 2 {
		t.Errorf("a known key was looked up again (%d lookups), %v", len(asked), err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	if d := cmp.Diff([]string{b.KeyID(), a.KeyID()}, kids); d != "" {
		t.Errorf("published key ids (-want +got):\n%s", d)
	}
	if err := b.AddKeys(aPub, aPub); err != nil || len(set.Keys) != 2 {
		t.Errorf("adding a known key again: %v", err)
	}
}
