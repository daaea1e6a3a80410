package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// This file holds the client methods of the account, user, role, key-value,
// bulk and audit routes.

func route(parts ...string) string {
	s := "/api/v1"
	for _, x := range parts {
		s += "/" + url.PathEscape(x)
	}
	return s
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

func fixUser(u *UserDetail) {
	if u.Grants == nil {
		u.Grants = []Grant{}
	}
}

// CreateUser creates a user.
func (c *Client) CreateUser(ctx context.Context, req CreateUserRequest) (*UserDetail, error) {
	var out UserDetail
	if err := c.do(ctx, http.MethodPost, route("users"), nil, req, &out, true); err != nil {
		return nil, err
	}
	fixUser(&out)
	return &out, nil
}

// ListUsers lists the users of an account ("" = every account where the
// caller may view users).
func (c *Client) ListUsers(ctx context.Context, accountID string) ([]UserDetail, error) {
	q := url.Values{}
	setNonEmpty(q, "account_id", accountID)
	out := []UserDetail{}
	if err := c.do(ctx, http.MethodGet, route("users"), q, nil, &out, true); err != nil {
		return nil, err
	}
	if out == nil {
		out = []UserDetail{}
	}
	for i := range out {
		fixUser(&out[i])
	}
	return out, nil
}

// GetUser returns one user with its grants.
func (c *Client) GetUser(ctx context.Context, id string) (*UserDetail, error) {
	var out UserDetail
	if err := c.do(ctx, http.MethodGet, route("users", id), nil, nil, &out, true); err != nil {
		return nil, err
	}
	fixUser(&out)
	return &out, nil
}

// UpdateUser changes a user.
func (c *Client) UpdateUser(ctx context.Context, id string, req UpdateUserRequest) (*UserDetail, error) {
	var out UserDetail
	if err := c.do(ctx, http.MethodPatch, route("users", id), nil, req, &out, true); err != nil {
		return nil, err
	}
	fixUser(&out)
	return &out, nil
}

// DeleteUser deletes a user; the keys that run as it are disabled (SPEC K10).
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, route("users", id), nil, nil, nil, true)
}

// Grant gives a user a role at an account.
func (c *Client) Grant(ctx context.Context, userID string, req GrantRequest) (*Grant, error) {
	var out Grant
	if err := c.do(ctx, http.MethodPost, route("users", userID, "grants"), nil, req, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// Ungrant removes a user's role (id or name) at an account.
func (c *Client) Ungrant(ctx context.Context, userID, role, accountID string) error {
	q := url.Values{}
	q.Set("role", role)
	setNonEmpty(q, "account_id", accountID)
	return c.do(ctx, http.MethodDelete, route("users", userID, "grants"), q, nil, nil, true)
}

func fixRole(r *Role) {
	if r.Permissions == nil {
		r.Permissions = []string{}
	}
}

// CreateRole creates a custom role.
func (c *Client) CreateRole(ctx context.Context, req CreateRoleRequest) (*Role, error) {
	var out Role
	if err := c.do(ctx, http.MethodPost, route("roles"), nil, req, &out, true); err != nil {
		return nil, err
	}
	fixRole(&out)
	return &out, nil
}

// ListRoles lists the built-in roles and the custom roles the caller may see.
func (c *Client) ListRoles(ctx context.Context) ([]Role, error) {
	out := []Role{}
	if err := c.do(ctx, http.MethodGet, route("roles"), nil, nil, &out, true); err != nil {
		return nil, err
	}
	if out == nil {
		out = []Role{}
	}
	for i := range out {
		fixRole(&out[i])
	}
	return out, nil
}

// DeleteRole deletes a custom role and its grants.
func (c *Client) DeleteRole(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, route("roles", id), nil, nil, nil, true)
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

// AddKeyValue generates a new value of a key; the answer is the only time
// it is shown.
func (c *Client) AddKeyValue(ctx context.Context, keyID string, req AddValueRequest) (*CreatedValue, error) {
	var out CreatedValue
	if err := c.do(ctx, http.MethodPost, route("keys", keyID, "values"), nil, req, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// RegenerateKeyValue replaces a value's secret under the same ids (SPEC K4);
// valueID "" is allowed only for a key with one value.
func (c *Client) RegenerateKeyValue(ctx context.Context, keyID, valueID string) (*CreatedValue, error) {
	var out CreatedValue
	if err := c.do(ctx, http.MethodPost, route("keys", keyID, "regenerate"), nil, RegenerateRequest{ValueID: valueID}, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeKeyValue revokes one value of a key; revoking twice is a no-op.
func (c *Client) RevokeKeyValue(ctx context.Context, keyID, valueID string) error {
	return c.do(ctx, http.MethodDelete, route("keys", keyID, "values", valueID), nil, nil, nil, true)
}

// AddEdgeDevice adds an edge device: a new value of the account's Edge key
// (SPEC K7), shown once.
func (c *Client) AddEdgeDevice(ctx context.Context, req EdgeDeviceRequest) (*CreatedValue, error) {
	var out CreatedValue
	if err := c.do(ctx, http.MethodPost, route("edge-devices"), nil, req, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveEdgeDevice revokes an edge device's value (accountID "" = the
// caller's own account).
func (c *Client) RemoveEdgeDevice(ctx context.Context, accountID, valueID string) error {
	q := url.Values{}
	setNonEmpty(q, "account_id", accountID)
	return c.do(ctx, http.MethodDelete, route("edge-devices", valueID), q, nil, nil, true)
}

// BulkEndpoints applies one action to many endpoints and reports per id
// (SPEC E5). An answer with failed results is not an error.
func (c *Client) BulkEndpoints(ctx context.Context, req BulkRequest) (*BulkResponse, error) {
	var out BulkResponse
	if err := c.do(ctx, http.MethodPost, route("endpoints", "bulk"), nil, req, &out, true); err != nil {
		return nil, err
	}
	if out.Results == nil {
		out.Results = []EndpointResult{}
	}
	return &out, nil
}

// AuditFilter selects audit events; zero fields match anything. Action is
// exact, or a prefix ending in "." ("endpoint."). Since is inclusive, Until
// exclusive. AfterID pages: pass the last id seen. Limit 0 is the broker's
// default.
type AuditFilter struct {
	Since     time.Time
	Until     time.Time
	Action    string
	Actor     string
	Target    string
	Outcome   string
	AccountID string
	AfterID   int64
	Limit     int
}

// ListAudit lists audit events, oldest first.
func (c *Client) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	q := url.Values{}
	setTime(q, "since", f.Since)
	setTime(q, "until", f.Until)
	setNonEmpty(q, "action", f.Action)
	setNonEmpty(q, "actor", f.Actor)
	setNonEmpty(q, "target", f.Target)
	setNonEmpty(q, "outcome", f.Outcome)
	setNonEmpty(q, "account_id", f.AccountID)
	if f.AfterID > 0 {
		q.Set("after_id", strconv.FormatInt(f.AfterID, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	out := []AuditEvent{}
	if err := c.do(ctx, http.MethodGet, route("audit"), q, nil, &out, true); err != nil {
		return nil, err
	}
	if out == nil {
		out = []AuditEvent{}
	}
	for i := range out {
		if out[i].Detail == nil {
			out[i].Detail = map[string]string{}
		}
	}
	return out, nil
}
