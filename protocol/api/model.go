package api

import "time"

// This file holds the types of the account, user, role, key-value, bulk and
// audit routes (SPEC §1-3).

// AccountSettings are an account's own limits and lifetimes. Durations are
// whole seconds. Zero means "the broker's default" for lifetimes and "no
// limit" for quotas and the stale time.
type AccountSettings struct {
	DeviceTokenTTLSeconds int64 `json:"device_token_ttl_seconds"` // SPEC T2
	UserTokenTTLSeconds   int64 `json:"user_token_ttl_seconds"`
	RefreshTTLSeconds     int64 `json:"refresh_ttl_seconds"`
	KeyQuota              int   `json:"key_quota"`      // SPEC K9
	EndpointQuota         int   `json:"endpoint_quota"` // SPEC K9
	// StaleAfterSeconds marks endpoints not seen for this long as stale
	// (SPEC E8); with DeleteStale they are deleted instead.
	StaleAfterSeconds int64 `json:"stale_after_seconds"`
	DeleteStale       bool  `json:"delete_stale"`
	// RequireEndpointKeys refuses registrations without a public key
	// (SPEC T1); RequireDPoP refuses HCP-Request-Signature as the proof of
	// a bound device token on login: DPoP only (SPEC T3).
	RequireEndpointKeys bool `json:"require_endpoint_keys"`
	RequireDPoP         bool `json:"require_dpop"`
}

// CreateAccountRequest creates an account below ParentID ("" = the caller's
// own account). Type "" means customer. A new customer account gets the
// predefined keys (SPEC K6). Nil Settings means defaults.
type CreateAccountRequest struct {
	Name              string           `json:"name"`
	ParentID          string           `json:"parent_id,omitempty"`
	Type              string           `json:"type,omitempty"`
	TrustAllEndpoints bool             `json:"trust_all_endpoints,omitempty"`
	DenyUserCreation  bool             `json:"deny_user_creation,omitempty"`
	Settings          *AccountSettings `json:"settings,omitempty"`
}

// UpdateAccountRequest changes the fields that are present (non-nil).
// Settings replaces all the settings at once.
type UpdateAccountRequest struct {
	Name              *string          `json:"name,omitempty"`
	Disabled          *bool            `json:"disabled,omitempty"`
	TrustAllEndpoints *bool            `json:"trust_all_endpoints,omitempty"`
	DenyUserCreation  *bool            `json:"deny_user_creation,omitempty"`
	Settings          *AccountSettings `json:"settings,omitempty"`
}

// Grant gives a user a role at an account; it applies to the account's
// subtree.
type Grant struct {
	RoleID    string    `json:"role_id"`
	AccountID string    `json:"account_id"`
	CreatedAt time.Time `json:"created_at"`
}

// UserDetail is a user as the user routes show it; it never carries a
// password or its hash.
type UserDetail struct {
	User
	Domain    string    `json:"domain"`
	UPN       string    `json:"upn"`
	Email     string    `json:"email"`
	CardID    string    `json:"card_id"`
	ShortID   string    `json:"short_id"`
	Source    string    `json:"source"` // "local", "session", "bootstrap"
	Disabled  bool      `json:"disabled"`
	Grants    []Grant   `json:"grants"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CreateUserRequest creates a user in AccountID ("" = the caller's own
// account). Roles are role ids or names, granted at AccountID. An empty
// Password makes a user who cannot sign in with a password.
type CreateUserRequest struct {
	AccountID string   `json:"account_id,omitempty"`
	Username  string   `json:"username"`
	Domain    string   `json:"domain,omitempty"`
	UPN       string   `json:"upn,omitempty"`
	Email     string   `json:"email,omitempty"`
	Password  string   `json:"password,omitempty"`
	CardID    string   `json:"card_id,omitempty"`
	ShortID   string   `json:"short_id,omitempty"`
	Roles     []string `json:"roles,omitempty"`
}

// UpdateUserRequest changes the fields that are present. Password ""
// removes the user's password.
type UpdateUserRequest struct {
	Domain   *string `json:"domain,omitempty"`
	UPN      *string `json:"upn,omitempty"`
	Email    *string `json:"email,omitempty"`
	Password *string `json:"password,omitempty"`
	CardID   *string `json:"card_id,omitempty"`
	ShortID  *string `json:"short_id,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

// GrantRequest grants a role (id or name) at an account ("" = the user's
// own account).
type GrantRequest struct {
	Role      string `json:"role"`
	AccountID string `json:"account_id,omitempty"`
}

// Role is a named set of permissions (SPEC §1). AccountID is "" for the
// built-in roles.
type Role struct {
	ID          string    `json:"id"`
	AccountID   string    `json:"account_id"`
	Name        string    `json:"name"`
	Permissions []string  `json:"permissions"`
	BuiltIn     bool      `json:"built_in"`
	CreatedAt   time.Time `json:"created_at"`
}

// CreateRoleRequest creates a custom role in AccountID ("" = the caller's
// own account) from the permissions of SPEC §1.
type CreateRoleRequest struct {
	AccountID   string   `json:"account_id,omitempty"`
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
}

// Permissions (SPEC §1).
var Permissions = []string{
	"ViewApiKey", "ModifyApiKey", "DeleteApiKey",
	"ViewEndpoint", "ModifyEndpoint", "DeleteEndpoint",
	"ViewAccount", "ModifyAccount", "ViewUser", "ModifyUser",
	"ViewAuditLog",
}

// KeyValue is one value of an API key (SPEC K2), without its secret.
// Times not set are null; UseLimit 0 means unlimited.
type KeyValue struct {
	ID           string     `json:"id"`
	KeyID        string     `json:"key_id"`
	Description  string     `json:"description"`
	CreatedAt    time.Time  `json:"created_at"`
	ExpiresAt    *time.Time `json:"expires_at"`
	RevokedAt    *time.Time `json:"revoked_at"`
	Revoked      bool       `json:"revoked"`
	LastUsedAt   *time.Time `json:"last_used_at"`
	LastUsedFrom string     `json:"last_used_from"`
	UseCount     int64      `json:"use_count"`
	UseLimit     int64      `json:"use_limit"`
	// EdgeDevice names the edge device whose credential this value is
	// (SPEC K7); "" for other values.
	EdgeDevice string `json:"edge_device"`
}

// KeyDetail is a key with its values.
type KeyDetail struct {
	Key
	Values []KeyValue `json:"values"`
}

// UpdateKeyRequest changes the fields that are present. ExpiresAt sets an
// expiry; NoExpiry removes it (the two exclude each other). AllowedIPs,
// when present, replaces the list; an empty list admits any address.
type UpdateKeyRequest struct {
	Name                    *string    `json:"name,omitempty"`
	Description             *string    `json:"description,omitempty"`
	Group                   *string    `json:"group,omitempty"`
	Active                  *bool      `json:"active,omitempty"`
	AutoTrust               *bool      `json:"auto_trust,omitempty"`
	AllowUntrustedEndpoints *bool      `json:"allow_untrusted_endpoints,omitempty"`
	AllowUnauthenticated    *bool      `json:"allow_unauthenticated,omitempty"`
	FullAPIAccess           *bool      `json:"full_api_access,omitempty"`
	ExpiresAt               *time.Time `json:"expires_at,omitempty"`
	NoExpiry                bool       `json:"no_expiry,omitempty"`
	AllowedIPs              *[]string  `json:"allowed_ips,omitempty"`
	RunAsUserID             *string    `json:"run_as_user_id,omitempty"`
	RunAsRoleID             *string    `json:"run_as_role_id,omitempty"`
}

// AddValueRequest adds a generated value to a key (SPEC K2). UseLimit 0 is
// unlimited; nil ExpiresAt never expires.
type AddValueRequest struct {
	Description string     `json:"description"`
	UseLimit    int64      `json:"use_limit,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
}

// RegenerateRequest names the value to regenerate; "" is allowed only for
// a key with one value.
type RegenerateRequest struct {
	ValueID string `json:"value_id,omitempty"`
}

// CreatedValue is a value shown once (SPEC K3): the answer of add-value,
// regenerate and adding an edge device. ID is the key's id.
type CreatedValue struct {
	ID      string `json:"id"`
	ValueID string `json:"value_id"`
	Value   string `json:"value"` // "etk_..."
}

// EdgeDeviceRequest adds an edge device: a new value of the account's Edge
// key (SPEC K7). AccountID "" = the caller's own account.
type EdgeDeviceRequest struct {
	AccountID   string `json:"account_id,omitempty"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// BulkFilter selects endpoints for a bulk action; empty fields match
// anything. From is a CIDR prefix of the registering address.
type BulkFilter struct {
	State            string     `json:"state,omitempty"`
	Type             string     `json:"type,omitempty"`
	KeyID            string     `json:"key_id,omitempty"`
	AccountID        string     `json:"account_id,omitempty"`
	From             string     `json:"from,omitempty"`
	RegisteredBefore *time.Time `json:"registered_before,omitempty"`
	RegisteredAfter  *time.Time `json:"registered_after,omitempty"`
}

// BulkRequest applies one action (approve, reject, untrust, delete) to the
// endpoints named by IDs or to every endpoint matching Filter (exactly one
// of the two) (SPEC E5).
type BulkRequest struct {
	Action string      `json:"action"`
	IDs    []string    `json:"ids,omitempty"`
	Filter *BulkFilter `json:"filter,omitempty"`
}

// BulkResponse reports per endpoint. OK counts the results that succeeded
// (ok and noop), Failed the others.
type BulkResponse struct {
	Results []EndpointResult `json:"results"`
	OK      int              `json:"ok"`
	Failed  int              `json:"failed"`
}

// AuditEvent is one record of the audit log. Actor is "user:<id>",
// "key:<id>", "endpoint:<id>", "system" or "anonymous"; Action is dotted
// and stable ("endpoint.approve"); Outcome is "success" or "failure".
// Detail never holds secrets.
type AuditEvent struct {
	ID        int64             `json:"id"`
	Time      time.Time         `json:"time"`
	Actor     string            `json:"actor"`
	Action    string            `json:"action"`
	AccountID string            `json:"account_id"`
	Target    string            `json:"target"`
	Outcome   string            `json:"outcome"`
	Remote    string            `json:"remote"`
	Detail    map[string]string `json:"detail"`
}
