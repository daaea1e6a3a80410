package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Device logins (POST /api/v1/login, docs/oauth.md) and users' sessions
// (SPEC S1-S7).

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
// domain, and password; card_id; short_id). AccountID names the account when no device token is
// sent and the key belongs to an account above it. The answer is a
// TokenResponse with its User.
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

// Session is a user's session (SPEC S6): a sign-in or device login and its
// refreshes. Ending it ends its refresh and access tokens at once.
type Session struct {
	ID          string    `json:"id"`
	UserID      string    `json:"user_id"`
	AccountID   string    `json:"account_id"`
	EndpointID  string    `json:"endpoint_id"` // the device the login came through; "" for a sign-in
	StartedAt   time.Time `json:"started_at"`
	RefreshedAt time.Time `json:"refreshed_at"`
	ExpiresAt   time.Time `json:"expires_at"` // when it ends unless refreshed
	Current     bool      `json:"current"`    // the caller's own session
}

// SessionsEnded answers DELETE /api/v1/sessions.
type SessionsEnded struct {
	Ended int `json:"ended"`
}

// ListSessions lists a user's live sessions: the caller's own with userID
// "", another user's with ViewUser.
func (c *Client) ListSessions(ctx context.Context, userID string) ([]Session, error) {
	q := url.Values{}
	setNonEmpty(q, "user_id", userID)
	var out []Session
	if err := c.do(ctx, http.MethodGet, "/api/v1/sessions", q, nil, &out, true); err != nil {
		return nil, err
	}
	return out, nil
}

// EndSession ends one session: the caller's own, or another user's with
// ModifyUser.
func (c *Client) EndSession(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/sessions/"+url.PathEscape(id), nil, nil, nil, true)
}

// EndSessions ends every session of a user (the caller's own with userID
// "", this one included) and returns how many it ended.
func (c *Client) EndSessions(ctx context.Context, userID string) (int, error) {
	q := url.Values{}
	setNonEmpty(q, "user_id", userID)
	var out SessionsEnded
	if err := c.do(ctx, http.MethodDelete, "/api/v1/sessions", q, nil, &out, true); err != nil {
		return 0, err
	}
	return out.Ended, nil
}
