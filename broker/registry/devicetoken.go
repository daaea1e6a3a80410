package registry

import (
	"errors"
	"time"
)

// VerifiedDeviceToken is a device access token whose signature, issuer and
// audience the Registry checked (VerifyDeviceToken). A transport keeps the
// last one of a connection and passes it with each login on that
// connection (LoginRequest.Verified), so a device token is verified once
// per connection and again only when the agent presents another one (after
// a refresh): the Ed25519 verify and JSON parse were a sixth of a login's
// CPU (BENCHMARKS.md, issue 17).
//
// Only the signature is remembered: its expiry is checked against the
// clock at every use, and everything that can end a token before it
// expires — revocation, the endpoint's untrust, deletion or key change, a
// disabled account — is read from the store in the login's transaction as
// before, so an untrust stops the next login at once. A signing key is
// withdrawn from the JWKS (token.Issuer.SetKeys) only once every token it
// signed has expired (broker/signing), so a signature good when checked
// stays good for as long as its token can be used.
//
// The fields are unexported: a transport can hold one and hand it back,
// never make one up.
type VerifiedDeviceToken struct {
	token  string
	claims Claims
}

// VerifyDeviceToken verifies a device access token as a login does.
// Errors: KindAccessDenied (invalid, expired or not a device token).
func (r *Registry) VerifyDeviceToken(tok string) (*VerifiedDeviceToken, error) {
	c, err := r.signer.Verify(tok)
	if err != nil {
		return nil, E(KindAccessDenied, "device token is invalid or expired", err)
	}
	if c.Type != TokenDevice {
		return nil, E(KindAccessDenied, "device token is invalid or expired", errors.New("not a device token"))
	}
	return &VerifiedDeviceToken{token: tok, claims: *c}, nil
}

// For reports whether v is the verification of tok (false for a nil v).
func (v *VerifiedDeviceToken) For(tok string) bool { return v != nil && tok != "" && v.token == tok }

// deviceClaims verifies req's device token, or takes the transport's
// earlier verification of the same token when it has not expired since.
// It returns nil claims and a nil error without a device token.
func (r *Registry) deviceClaims(req *LoginRequest, now time.Time) (*Claims, error) {
	if req.DeviceToken == "" {
		return nil, nil
	}
	if v := req.Verified; v.For(req.DeviceToken) {
		if !now.Before(v.claims.ExpiresAt) {
			return nil, E(KindAccessDenied, "device token is invalid or expired", errors.New("expired"))
		}
		c := v.claims
		return &c, nil
	}
	v, err := r.VerifyDeviceToken(req.DeviceToken)
	if err != nil {
		return nil, err
	}
	return &v.claims, nil
}
