package api

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
	// CodeTemporarilyUnavailable (HTTP 503): the broker cannot read fresh
	// state now; try again shortly or another broker.
	CodeTemporarilyUnavailable = "temporarily_unavailable"
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
