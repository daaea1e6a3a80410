package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// The OAuth device registration API (/oauth/v1, docs/oauth.md): requests
// are form-encoded, answers JSON, failures an ErrorResponse with an OAuth
// error code.

// OAuth paths.
const (
	PathOAuthRegister   = "/oauth/v1/register"
	PathOAuthToken      = "/oauth/v1/token"
	PathOAuthIntrospect = "/oauth/v1/introspect"
	PathOAuthRevoke     = "/oauth/v1/revoke"
	PathOAuthMetadata   = "/.well-known/oauth-authorization-server"
)

// SignatureHeader carries the standard base64 signature of the exact request
// body: Ed25519, or RSASSA-PKCS1-v1_5 with SHA-256 (SPEC T3).
const SignatureHeader = "HCP-Request-Signature"

// Grant types of /oauth/v1/token.
const (
	GrantDeviceCode    = "device_code"
	GrantDeviceCodeURN = "urn:ietf:params:oauth:grant-type:device_code" // RFC 8628
	GrantRefreshToken  = "refresh_token"
)

// OAuth error codes beyond those of the /api answers (RFC 6749, 8628, 7009).
const (
	CodeSlowDown                = "slow_down"
	CodeUnsupportedGrantType    = "unsupported_grant_type"
	CodeUnsupportedResponseType = "unsupported_response_type"
	CodeServerError             = "server_error"
)

// DeviceAuthorization answers /oauth/v1/register. ExpiresIn and Interval
// are in seconds; State echoes the request's state when it sent one.
type DeviceAuthorization struct {
	DeviceCode string  `json:"device_code"`
	State      *string `json:"state,omitempty"`
	ExpiresIn  int64   `json:"expires_in"`
	Interval   int64   `json:"interval"`
}

// OAuthToken answers /oauth/v1/token: a device access token and its
// single-use refresh token. ExpiresIn and RefreshExpiresIn are in seconds.
type OAuthToken struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
}

// Introspection answers /oauth/v1/introspect (RFC 7662). Only Active is set
// for a token that is not active. TokenUse is "device", "user" or
// "refresh"; ClientID is the endpoint the token belongs to or came through;
// times are Unix seconds.
type Introspection struct {
	Active   bool   `json:"active"`
	TokenUse string `json:"token_use,omitempty"`
	Subject  string `json:"sub,omitempty"`
	Account  string `json:"acct,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	Issuer   string `json:"iss,omitempty"`
	Audience string `json:"aud,omitempty"`
	JTI      string `json:"jti,omitempty"`
	IssuedAt int64  `json:"iat,omitempty"`
	Expires  int64  `json:"exp,omitempty"`
	Cnf      *Cnf   `json:"cnf,omitempty"`
}

// Cnf is the confirmation claim of a bound token (RFC 7800).
type Cnf struct {
	JKT string `json:"jkt"`
}

// ServerMetadata is the RFC 8414 metadata at PathOAuthMetadata. The
// device_authorization_endpoint is /oauth/v1/register (RFC 8628 §4).
type ServerMetadata struct {
	Issuer                                    string   `json:"issuer"`
	DeviceAuthorizationEndpoint               string   `json:"device_authorization_endpoint"`
	TokenEndpoint                             string   `json:"token_endpoint"`
	IntrospectionEndpoint                     string   `json:"introspection_endpoint"`
	RevocationEndpoint                        string   `json:"revocation_endpoint"`
	JWKSURI                                   string   `json:"jwks_uri"`
	GrantTypesSupported                       []string `json:"grant_types_supported"`
	ResponseTypesSupported                    []string `json:"response_types_supported"`
	TokenEndpointAuthMethodsSupported         []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	RequestSignatureHeader                    string   `json:"request_signature_header"`
	RequestSignatureAlgValuesSupported        []string `json:"request_signature_alg_values_supported"`
	PublicKeyTypesSupported                   []string `json:"public_key_types_supported"`
	AccessTokenSigningAlgValuesSupported      []string `json:"access_token_signing_alg_values_supported"`
}

// KeyChange is a pending change of an endpoint's public key (SPEC E4): a
// registration for a known client id with another key, or without a key for
// an endpoint that has none. The old key stays in force until an admin
// approves it at POST /api/v1/endpoints/{id}/approve-key-change, naming its
// KeyFingerprint (or drops it at .../reject-key-change). An endpoint has at
// most one; a later registration with another key is refused until it is
// decided.
type KeyChange struct {
	EndpointID  string `json:"endpoint_id"`
	AccountID   string `json:"account_id"`
	State       string `json:"state"` // the endpoint's state, which the change keeps
	Hostname    string `json:"hostname"`
	Description string `json:"description"`
	KeyType     string `json:"key_type"` // of the new key; "" for a registration without a key
	// KeyFingerprint is the new key's (RFC 7638), or for a registration
	// without a key a "keyless-…" marker naming that registration: what
	// approving names.
	KeyFingerprint    string `json:"key_fingerprint"`
	OldKeyType        string `json:"old_key_type"`
	OldKeyFingerprint string `json:"old_key_fingerprint"`
	KeyID             string `json:"key_id"` // the API key of the registration that asked
	// What the registration said about the device; approval applies it.
	RequestedDescription string    `json:"requested_description"`
	RequestedHostname    string    `json:"requested_hostname"`
	RequestedOS          string    `json:"requested_os"`
	RequestedVersion     string    `json:"requested_version"`
	RequestedAt          time.Time `json:"requested_at"`
	RequestedFrom        string    `json:"requested_from"`
}

// KeyChangeDecision is the body of approve-key-change (Fingerprint
// required: the KeyFingerprint of the change the admin saw; a pending
// change with another answers 409) and of reject-key-change (Fingerprint
// optional).
type KeyChangeDecision struct {
	Fingerprint string `json:"fingerprint,omitempty"`
}

// ListKeyChanges lists pending key changes ("" = every account the caller sees).
func (c *Client) ListKeyChanges(ctx context.Context, accountID string) ([]KeyChange, error) {
	q := url.Values{}
	setNonEmpty(q, "account_id", accountID)
	var out []KeyChange
	if err := c.do(ctx, http.MethodGet, "/api/v1/key-changes", q, nil, &out, true); err != nil {
		return nil, err
	}
	return out, nil
}

// ApproveKeyChange puts an endpoint's pending key change in force, if its
// fingerprint is fingerprint (the KeyFingerprint ListKeyChanges showed).
func (c *Client) ApproveKeyChange(ctx context.Context, endpointID, fingerprint string) (*Endpoint, error) {
	var out Endpoint
	if err := c.do(ctx, http.MethodPost, "/api/v1/endpoints/"+url.PathEscape(endpointID)+"/approve-key-change", nil,
		KeyChangeDecision{Fingerprint: fingerprint}, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// RejectKeyChange drops an endpoint's pending key change: whichever is
// pending when fingerprint is "", else only the one with this fingerprint.
func (c *Client) RejectKeyChange(ctx context.Context, endpointID, fingerprint string) (*Endpoint, error) {
	var out Endpoint
	if err := c.do(ctx, http.MethodPost, "/api/v1/endpoints/"+url.PathEscape(endpointID)+"/reject-key-change", nil,
		KeyChangeDecision{Fingerprint: fingerprint}, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}
