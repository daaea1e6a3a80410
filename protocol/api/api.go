// Package api holds the JSON types of the broker's HTTP API (/api/v1) and a
// typed client for it, used by edgetrustctl and by tests.
//
// The JSON field names are a contract: scripts and external tests read them.
// Fields may be added, never renamed or removed. Unknown fields are ignored
// when decoding, so an older client keeps working against a newer broker.
// Times are RFC 3339 strings; a time that is not set ("never", "not yet") is
// null. Lists are [] when empty, never null.
//
// The package depends only on the standard library.
package api

import (
	"fmt"
	"time"

	"github.com/edgetrust/edgetrust/protocol"
)

// Key is an API key as the API shows it (SPEC K1). It never carries a value:
// a value is shown once, in a CreatedKey.
type Key struct {
	ID                      string     `json:"id"`
	Name                    string     `json:"name"`
	Type                    string     `json:"type"`
	AccountID               string     `json:"account_id"`
	Description             string     `json:"description"`
	Group                   string     `json:"group"`
	Active                  bool       `json:"active"`
	AutoTrust               bool       `json:"auto_trust"`
	AllowUntrustedEndpoints bool       `json:"allow_untrusted_endpoints"`
	AllowUnauthenticated    bool       `json:"allow_unauthenticated"`
	FullAPIAccess           bool       `json:"full_api_access"`
	ExpiresAt               *time.Time `json:"expires_at"` // nil: never expires
	AllowedIPs              []string   `json:"allowed_ips"`
	// RunAsUserID and RunAsRoleID are the identity the key acts with when
	// it is sent without a user token, which needs AllowUnauthenticated
	// (and FullAPIAccess on the admin API; SPEC K1, S5, K10); "" when unset.
	RunAsUserID string `json:"run_as_user_id"`
	RunAsRoleID string `json:"run_as_role_id"`
	// Predefined marks the keys every customer account is created with
	// (SPEC K6); their values are shown only once regenerated.
	Predefined bool      `json:"predefined"`
	CreatedBy  string    `json:"created_by"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// CreatedKey is a new key with the one time its value is shown (SPEC K3).
type CreatedKey struct {
	Key
	Value   string `json:"value"` // "etk_..."
	ValueID string `json:"value_id"`
}

// Endpoint is a registered device as the API shows it (SPEC E6). Times that
// are not set are null.
type Endpoint struct {
	ID string `json:"id"`
	// ClientID is the same as ID: the device's client_id (SPEC E6).
	ClientID       string     `json:"client_id"`
	State          string     `json:"state"`
	Type           string     `json:"type"`
	Description    string     `json:"description"`
	Hostname       string     `json:"hostname"`
	OS             string     `json:"os"`
	Version        string     `json:"version"`
	AccountID      string     `json:"account_id"`
	KeyID          string     `json:"key_id"`
	KeyValueID     string     `json:"key_value_id"`
	RegisteredAt   *time.Time `json:"registered_at"`
	RegisteredFrom string     `json:"registered_from"`
	// ApprovedBy/At and DecidedBy/At carry the same values: who made the
	// last trust decision (approve, reject, untrust, or automatic trust).
	ApprovedBy   string     `json:"approved_by"`
	ApprovedAt   *time.Time `json:"approved_at"`
	DecidedBy    string     `json:"decided_by"`
	DecidedAt    *time.Time `json:"decided_at"`
	LastSeenAt   *time.Time `json:"last_seen_at"`
	LastSeenFrom string     `json:"last_seen_from"`
	// KeyType is the type of the endpoint's public key ("ed25519"), "" when
	// it registered without one.
	KeyType string `json:"key_type"`
	// KeyFingerprint is the RFC 7638 SHA-256 thumbprint of the endpoint's
	// public key (the cnf.jkt of its tokens).
	KeyFingerprint string `json:"key_fingerprint"`
	// KeyThumbprint is the same as KeyFingerprint, under its RFC 7638 name.
	KeyThumbprint string `json:"key_thumbprint"`
	// Bound reports that the endpoint has a public key, so its tokens are
	// bound to it (SPEC T1).
	Bound bool `json:"bound"`
}

// Account is a node of the account tree.
type Account struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	ParentID string `json:"parent_id"` // "" for the root
	Type     string `json:"type"`      // "vendor" or "customer"
	Disabled bool   `json:"disabled"`
	// TrustAllEndpoints trusts every endpoint registering in the account at
	// once (SPEC E2).
	TrustAllEndpoints bool `json:"trust_all_endpoints"`
	// DenyUserCreation refuses session logins of users the account does not
	// know instead of creating them (SPEC S7).
	DenyUserCreation bool            `json:"deny_user_creation"`
	Settings         AccountSettings `json:"settings"`
	CreatedAt        time.Time       `json:"created_at"`
	UpdatedAt        time.Time       `json:"updated_at"`
}

// SignInRequest is an administrator's sign-in (SPEC S3b). AccountID is needed
// only when the username exists in several accounts.
type SignInRequest struct {
	Username  string `json:"username"`
	Password  string `json:"password"`
	AccountID string `json:"account_id,omitempty"`
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
}

// CreateKeyRequest creates an API key. Empty AccountID means the caller's own
// account, empty Type "general", nil Active true, nil ExpiresAt never.
// AllowedIPs holds addresses and CIDR prefixes (IPv4 and IPv6); empty admits
// any address.
type CreateKeyRequest struct {
	AccountID               string     `json:"account_id,omitempty"`
	Name                    string     `json:"name"`
	Type                    string     `json:"type,omitempty"`
	Description             string     `json:"description,omitempty"`
	Group                   string     `json:"group,omitempty"`
	Active                  *bool      `json:"active,omitempty"`
	AutoTrust               bool       `json:"auto_trust"`
	AllowUntrustedEndpoints bool       `json:"allow_untrusted_endpoints"`
	AllowUnauthenticated    bool       `json:"allow_unauthenticated"`
	FullAPIAccess           bool       `json:"full_api_access"`
	ExpiresAt               *time.Time `json:"expires_at,omitempty"`
	AllowedIPs              []string   `json:"allowed_ips,omitempty"`
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// EndpointResult is the outcome of an action on one endpoint of a bulk
// request (SPEC E5). Outcome is one of the Outcome constants; OK is true for
// OutcomeOK and OutcomeNoop. State is the endpoint's state after the action
// ("deleted" after a delete), "" when it was not found; Error is "" when it
// succeeded.
type EndpointResult struct {
	ID      string `json:"id"`
	OK      bool   `json:"ok"`
	Outcome string `json:"outcome"`
	State   string `json:"state"`
	Error   string `json:"error"`
}

// Outcomes of EndpointResult.
const (
	OutcomeOK       = "ok"        // the action was applied
	OutcomeNoop     = "noop"      // nothing to do (approving a trusted endpoint)
	OutcomeConflict = "conflict"  // the endpoint's state does not allow the action
	OutcomeNotFound = "not_found" // no such endpoint the caller may see
	// OutcomeForbidden: the caller sees the endpoint's account but lacks the
	// permission the action needs there.
	OutcomeForbidden = "forbidden"
)

// HealthResponse is the body of /healthz and /readyz.
type HealthResponse struct {
	Status string `json:"status"`
}

// Endpoint states: the same words as on the agent protocol.
const (
	StatePending   = protocol.StatePending
	StateTrusted   = protocol.StateTrusted
	StateRejected  = protocol.StateRejected
	StateUntrusted = protocol.StateUntrusted
	StateDeleted   = protocol.StateDeleted
)

// Admin actions on an endpoint (SPEC E5).
const (
	ActionApprove = "approve"
	ActionReject  = "reject"
	ActionUntrust = "untrust"
	ActionDelete  = "delete" // bulk only; one endpoint is deleted with DELETE
)

// Error codes of ErrorResponse.Error.
const (
	CodeInvalidRequest       = "invalid_request"
	CodeUnauthorized         = "unauthorized"
	CodeInvalidClient        = "invalid_client"
	CodeForbidden            = "forbidden"
	CodeNotFound             = "not_found"
	CodeConflict             = "conflict"
	CodeRateLimited          = "rate_limited"
	CodeAccessDenied         = "access_denied"
	CodeAuthorizationPending = "authorization_pending"
	CodeExpiredToken         = "expired_token"
	CodeInvalidGrant         = "invalid_grant"
	CodeUnknownUser          = "unknown_user"
	CodeLoginRefused         = "login_refused"
	CodeQuotaExceeded        = "quota_exceeded"
	CodeRequestTooLarge      = "request_too_large"
	CodeUnsupportedMedia     = "unsupported_media_type"
	CodeInternal             = "internal_error"
)

// Error is an error answer of the API.
type Error struct {
	Status      int    // HTTP status
	Code        string // ErrorResponse.Error, e.g. "not_found"
	Description string // ErrorResponse.ErrorDescription, safe to show a user
}

func (e *Error) Error() string {
	if e.Description != "" {
		return fmt.Sprintf("%s (%s, HTTP %d)", e.Description, e.Code, e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Code, e.Status)
}
