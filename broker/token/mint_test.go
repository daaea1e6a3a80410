package token

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/protocol"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"
)

// builderToken is how tokens were minted before Mint marshalled its own
// payload: go-jose's jwt builder merging the standard and private claims.
func builderToken(t *testing.T, priv ed25519.PrivateKey, kid string, iss, aud string, c Claims) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: priv, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	std := jwt.Claims{Issuer: iss, Subject: c.Subject, Audience: jwt.Audience{aud}, ID: c.ID,
		IssuedAt: jwt.NewNumericDate(c.IssuedAt), Expiry: jwt.NewNumericDate(c.ExpiresAt)}
	pc := privateClaims{Account: c.Account, Type: c.Type, Endpoint: c.Endpoint, Session: c.Session,
		PreferredUsername: c.PreferredUsername, UPN: c.UPN, Email: c.Email, Domain: c.Domain}
	if c.JKT != "" {
		pc.Cnf = &cnf{JKT: c.JKT}
	}
	tok, err := jwt.Signed(signer).Claims(std).Claims(pc).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestMintMatchesBuilder: the header and payload of a minted token are
// byte for byte those of the jwt builder (Ed25519 signatures are
// deterministic, so the whole token is).
func TestMintMatchesBuilder(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	iss, priv := newIssuer(t, clk)
	kid, err := protocol.Thumbprint(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    Claims
	}{
		{"device", Claims{Subject: "ep-1", ID: "jti-1", IssuedAt: clk.t, ExpiresAt: clk.t.Add(15 * time.Minute), Account: "acct-1", Type: TypeDevice, JKT: "thumb"}},
		{"user", Claims{Subject: "u-1", ID: "jti-2", IssuedAt: clk.t, ExpiresAt: clk.t.Add(time.Hour), Account: "acct-1", Type: TypeUser, Endpoint: "ep-1", Session: "chain-1"}},
		{"user named", Claims{Subject: "u-1", ID: "jti-5", IssuedAt: clk.t, ExpiresAt: clk.t.Add(time.Hour), Account: "acct-1", Type: TypeUser,
			Session: "chain-1", PreferredUsername: "alice", UPN: "alice@corp.example", Email: "alice@example.com", Domain: "CORP"}},
		{"minimal", Claims{ID: "jti-3", IssuedAt: clk.t, ExpiresAt: clk.t.Add(time.Hour)}},
		{"escaped", Claims{Subject: `a<b>&"c"`, ID: "jti-4", IssuedAt: clk.t, ExpiresAt: clk.t.Add(time.Hour), Type: TypeUser}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := iss.Mint(tc.c)
			if err != nil {
				t.Fatal(err)
			}
			want := builderToken(t, priv, kid, "edgetrust", "edgetrust", tc.c)
			if d := cmp.Diff(strings.Split(want, "."), strings.Split(got, ".")); d != "" {
				t.Errorf("token (-want +got):\n%s", d)
			}
		})
	}
}

// TestThumbprintMatchesGoJose: the Ed25519 fast path computes RFC 7638
// exactly as go-jose does.
func TestThumbprintMatchesGoJose(t *testing.T) {
	for range 20 {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		b, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		got, err := protocol.Thumbprint(pub)
		if err != nil {
			t.Fatal(err)
		}
		if want := base64.RawURLEncoding.EncodeToString(b); got != want {
			t.Fatalf("Thumbprint = %q, want %q", got, want)
		}
	}
}

func BenchmarkMint(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	iss, err := New(Config{Key: priv})
	if err != nil {
		b.Fatal(err)
	}
	c := Claims{Subject: "3f1c1b9e-1111-4a2a-9d2c-3f1a7c9e2b41", Account: "0b6e5c52-8f4e-4d2a-9d2c-3f1a7c9e2b41", Type: TypeUser,
		Endpoint: "0b6e5c52-8f4e-4d2a-9d2c-3f1a7c9e2b42", Session: "0b6e5c52-8f4e-4d2a-9d2c-3f1a7c9e2b43", ExpiresAt: time.Now().Add(time.Hour)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Mint(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	iss, err := New(Config{Key: priv})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := iss.Mint(Claims{Subject: "3f1c1b9e-1111-4a2a-9d2c-3f1a7c9e2b41", Account: "0b6e5c52-8f4e-4d2a-9d2c-3f1a7c9e2b41",
		Type: TypeDevice, JKT: "n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkThumbprint(b *testing.B) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := protocol.Thumbprint(pub); err != nil {
			b.Fatal(err)
		}
	}
}
