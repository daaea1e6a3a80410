package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Key is an API key as the API shows it (SPEC K1). It never carries a value:
// a value is shown once, in a CreatedKey.
type Key struct {
	ID                      string     `json:"id"`
	Name                    string     `json:"name"`
	Type                    string     `json:"type"`
	AccountID               string     `json:"account_id"`
	AccountName             string     `json:"account_name"`
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
	// RunAsUserName and RunAsRoleName name them, "" when unset or when the
	// caller may not see them.
	RunAsUserName string `json:"run_as_user_name"`
	RunAsRoleName string `json:"run_as_role_name"`
	// Predefined marks the keys every customer account is created with
	// (SPEC K6); their values are shown only once regenerated.
	Predefined bool `json:"predefined"`
	// CreatedBy is the actor that created the key ("user:<id>", "key:<id>",
	// "system"); CreatedByName its username or key name, "" when the
	// caller may not see it.
	CreatedBy     string    `json:"created_by"`
	CreatedByName string    `json:"created_by_name"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// CreatedKey is a new key with the one time its value is shown (SPEC K3).
type CreatedKey struct {
	Key
	Value   string `json:"value"` // "etk_..."
	ValueID string `json:"value_id"`
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

// CreateKey creates an API key; the answer holds its value, shown only once.
func (c *Client) CreateKey(ctx context.Context, req CreateKeyRequest) (*CreatedKey, error) {
	var out CreatedKey
	if err := c.do(ctx, http.MethodPost, "/api/v1/keys", nil, req, &out, true); err != nil {
		return nil, err
	}
	if out.AllowedIPs == nil {
		out.AllowedIPs = []string{}
	}
	return &out, nil
}

// ListKeys lists the keys of an account ("" = the caller's own).
func (c *Client) ListKeys(ctx context.Context, accountID string) ([]Key, error) {
	q := url.Values{}
	setNonEmpty(q, "account_id", accountID)
	out, err := getList[Key](ctx, c, "/api/v1/keys", q)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].AllowedIPs == nil {
			out[i].AllowedIPs = []string{}
		}
	}
	return out, nil
}

func fixKey(k *KeyDetail) {
	if k.AllowedIPs == nil {
		k.AllowedIPs = []string{}
	}
	if k.Values == nil {
		k.Values = []KeyValue{}
	}
}

// GetKey returns a key with its values (never their secrets).
func (c *Client) GetKey(ctx context.Context, id string) (*KeyDetail, error) {
	var out KeyDetail
	if err := c.do(ctx, http.MethodGet, route("keys", id), nil, nil, &out, true); err != nil {
		return nil, err
	}
	fixKey(&out)
	return &out, nil
}

// UpdateKey changes a key and returns it with its values.
func (c *Client) UpdateKey(ctx context.Context, id string, req UpdateKeyRequest) (*KeyDetail, error) {
	var out KeyDetail
	if err := c.do(ctx, http.MethodPatch, route("keys", id), nil, req, &out, true); err != nil {
		return nil, err
	}
	fixKey(&out)
	return &out, nil
}

// DeleteKey deletes a key and its values; endpoints it registered stay
// trusted (SPEC K12).
func (c *Client) DeleteKey(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, route("keys", id), nil, nil, nil, true)
}
