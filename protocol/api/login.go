package api

// Device logins (POST /api/v1/login, docs/oauth.md; SPEC S1-S4, S7, T3).
// The sessions they start are in sessions.go.

// PathLogin is the route of device logins.
const PathLogin = "/api/v1/login"

// Headers of device logins. A login that presents a device token bound to
// a key proves possession of the key with an RFC 9449 DPoP proof in
// DPoPHeader, carrying the nonce the broker hands out in DPoPNonceHeader,
// or with SignatureHeader over the exact body (SPEC T3).
const (
	DPoPHeader      = "DPoP"
	DPoPNonceHeader = "DPoP-Nonce"
)

// Error codes of DPoP (RFC 9449): use_dpop_nonce asks the client to retry
// with the nonce of the DPoP-Nonce header; invalid_dpop_proof refuses a
// proof (malformed, wrong signature, method or URL, replayed).
const (
	CodeUseDPoPNonce     = "use_dpop_nonce"
	CodeInvalidDPoPProof = "invalid_dpop_proof"
)

// LoginRequest is the body of POST /api/v1/login: Type (one of
// protocol.LoginTypes) and the fields it names (username for session_user;
// username and domain for session_user_domain; upn; username, optional
// domain, and password; card_id; short_id). AccountID names the account
// when no device token is sent and the key belongs to an account above it.
// The answer is a TokenResponse with its User.
type LoginRequest struct {
	Type      string `json:"type"`
	Username  string `json:"username,omitempty"`
	Domain    string `json:"domain,omitempty"`
	UPN       string `json:"upn,omitempty"`
	Password  string `json:"password,omitempty"`
	CardID    string `json:"card_id,omitempty"`
	ShortID   string `json:"short_id,omitempty"`
	AccountID string `json:"account_id,omitempty"`
}
