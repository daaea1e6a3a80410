package api

import (
	"context"
	"net/http"
)

// SignInRequest is an administrator's sign-in (SPEC S3b). AccountID is needed
// only when the username exists in several accounts. DeviceToken is the
// device_token of this client's last successful sign-in (TokenResponse), if
// it kept one: failed sign-ins from elsewhere never lock out a client that
// sends a valid one of the user (docs/security.md, "Sign-in throttling").
type SignInRequest struct {
	Username    string `json:"username"`
	Password    string `json:"password"`
	AccountID   string `json:"account_id,omitempty"`
	DeviceToken string `json:"device_token,omitempty"`
}

// RefreshRequest exchanges a user refresh token for a new pair.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// User identifies the signed-in user.
type User struct {
	ID        string `json:"id"`
	Username  string `json:"username"`
	AccountID string `json:"account_id"`
}

// TokenResponse is a user access token with its single-use refresh token.
// ExpiresIn and RefreshExpiresIn are in seconds. User is set on sign-in.
type TokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
	User             *User  `json:"user,omitempty"`
	// DeviceToken (sign-in only) marks this client as one the user signed
	// in from; keep it (a secret, like the tokens) and send it with the
	// next sign-in as SignInRequest.DeviceToken.
	DeviceToken string `json:"device_token,omitempty"`
}

// SignIn signs an administrator in with a password (no API key: SPEC S3b).
func (c *Client) SignIn(ctx context.Context, req SignInRequest) (*TokenResponse, error) {
	var out TokenResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/signin", nil, req, &out, false); err != nil {
		return nil, err
	}
	return &out, nil
}

// Refresh exchanges a user refresh token for a new pair; the old refresh
// token is spent.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*TokenResponse, error) {
	var out TokenResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/signin/refresh", nil, RefreshRequest{RefreshToken: refreshToken}, &out, false); err != nil {
		return nil, err
	}
	return &out, nil
}
