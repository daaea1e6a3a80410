package registry_test

import (
	"encoding/json"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// verifyOffline is what a relying service does with a token (SPEC T1,
// "offline verification"): check it against the published JWKS, with no
// call to the broker, and read its claims.
func verifyOffline(t *testing.T, jwks []byte, tok string) map[string]any {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatalf("parsing the token: %v", err)
	}
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("the JWKS has %d keys with the token's kid", len(keys))
	}
	var claims map[string]any
	if err := parsed.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("verifying the token against the JWKS: %v", err)
	}
	return claims
}

// userNames picks the claims that say who a token's user is.
func userNames(c map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range []string{"sub", "token_type", "preferred_username", "upn", "email", "domain"} {
		if v, ok := c[k]; ok {
			out[k] = v
		}
	}
	return out
}

// A user token names its user: a relying service that verifies it offline
// learns the username (and UPN, email and domain where the user has them),
// not only a UUID. Every way a user token is minted carries them: sign-in,
// its refresh, and a login through a device. A device token names no user.
func TestUserTokenNamesItsUser(t *testing.T) {
	l := newLoginEnv(t)
	jwks := l.re.Issuer.JWKS()
	paula := l.newUser(registry.CreateUserRequest{Username: "paula", Domain: "CORP", UPN: "paula@corp.example",
		Email: "paula@example.com", Password: "paula-password-1"})
	want := map[string]any{"sub": paula, "token_type": "user", "preferred_username": "paula",
		"upn": "paula@corp.example", "email": "paula@example.com", "domain": "CORP"}

	signedIn, err := signInTokens(l.reg.SignIn(l.ctx, registry.SignInRequest{Username: "paula", Password: "paula-password-1", Remote: loopback}))
	if err != nil {
		t.Fatal(err)
	}
	refreshed, err := l.reg.RefreshUser(l.ctx, signedIn.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	loggedIn, _, err := l.login(registry.LoginRequest{Type: protocol.LoginUPN, UPN: "paula@corp.example"})
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"sign-in": signedIn.AccessToken, "refresh": refreshed.AccessToken, "device login": loggedIn.AccessToken} {
		t.Run(name, func(t *testing.T) {
			if d := cmp.Diff(want, userNames(verifyOffline(t, jwks, tok))); d != "" {
				t.Errorf("claims (-want +got):\n%s", d)
			}
		})
	}

	// A user with only a name (created by a session login, S7) has only
	// preferred_username: no empty upn, email or domain.
	t.Run("session user", func(t *testing.T) {
		tp, u, err := l.login(registry.LoginRequest{Type: protocol.LoginSessionUser, Username: "newcomer"})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"sub": u.ID, "token_type": "user", "preferred_username": "newcomer"}
		if d := cmp.Diff(want, userNames(verifyOffline(t, jwks, tp.AccessToken))); d != "" {
			t.Errorf("claims (-want +got):\n%s", d)
		}
	})
	t.Run("device token", func(t *testing.T) {
		want := map[string]any{"sub": l.dev.id, "token_type": "device"}
		if d := cmp.Diff(want, userNames(verifyOffline(t, jwks, l.tokens.AccessToken))); d != "" {
			t.Errorf("claims (-want +got):\n%s", d)
		}
	})
	// The broker's own verification reads them back too.
	t.Run("verify", func(t *testing.T) {
		c, err := l.signer.Verify(signedIn.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		got := registry.Claims{PreferredUsername: c.PreferredUsername, UPN: c.UPN, Email: c.Email, Domain: c.Domain}
		wantC := registry.Claims{PreferredUsername: "paula", UPN: "paula@corp.example", Email: "paula@example.com", Domain: "CORP"}
		if d := cmp.Diff(wantC, got); d != "" {
			t.Errorf("verified claims (-want +got):\n%s", d)
		}
	})
}
