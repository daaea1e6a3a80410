package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Grant gives a user a role at an account; it applies to the account's
// subtree.
type Grant struct {
	RoleID      string    `json:"role_id"`
	RoleName    string    `json:"role_name"`
	AccountID   string    `json:"account_id"`
	AccountName string    `json:"account_name"`
	CreatedAt   time.Time `json:"created_at"`
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
	AccountName string    `json:"account_name"` // "" for the built-in roles
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
	out, err := getList[Role](ctx, c, route("roles"), nil)
	if err != nil {
		return nil, err
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
