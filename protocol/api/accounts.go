package api

import (
	"context"
	"net/http"
	"time"
)

// Account is a node of the account tree.
type Account struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	ParentID string `json:"parent_id"` // "" for the root
	// ParentName is the parent's name, "" when the caller cannot see the
	// parent (or for the root).
	ParentName string `json:"parent_name"`
	Type       string `json:"type"` // "vendor" or "customer"
	Disabled   bool   `json:"disabled"`
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
	// LockOutClones untrusts an endpoint the moment a clone of it is
	// suspected (SPEC R24, docs/clones.md); off, it is only marked.
	LockOutClones bool `json:"lock_out_clones"`

	// PendingPerKeyValue and PendingPerAccount cap the registrations that
	// await a decision, made with one key value and in the account (SPEC
	// R8); 0 = the defaults, 10,000 and 50,000; at most 10,000,000.
	PendingPerKeyValue int `json:"pending_per_key_value"`
	PendingPerAccount  int `json:"pending_per_account"`
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

// ListAccounts lists the accounts the caller may see.
func (c *Client) ListAccounts(ctx context.Context) ([]Account, error) {
	return getList[Account](ctx, c, "/api/v1/accounts", nil)
}

// CreateAccount creates an account below req.ParentID ("" = the caller's own).
func (c *Client) CreateAccount(ctx context.Context, req CreateAccountRequest) (*Account, error) {
	var out Account
	if err := c.do(ctx, http.MethodPost, route("accounts"), nil, req, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetAccount returns one account.
func (c *Client) GetAccount(ctx context.Context, id string) (*Account, error) {
	var out Account
	if err := c.do(ctx, http.MethodGet, route("accounts", id), nil, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateAccount renames, disables or changes the settings of an account.
func (c *Client) UpdateAccount(ctx context.Context, id string, req UpdateAccountRequest) (*Account, error) {
	var out Account
	if err := c.do(ctx, http.MethodPatch, route("accounts", id), nil, req, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}
