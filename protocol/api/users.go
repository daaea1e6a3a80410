package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// UserDetail is a user as the user routes show it; it never carries a
// password or its hash.
type UserDetail struct {
	User
	AccountName string    `json:"account_name"`
	Domain      string    `json:"domain"`
	UPN         string    `json:"upn"`
	Email       string    `json:"email"`
	CardID      string    `json:"card_id"`
	ShortID     string    `json:"short_id"`
	Source      string    `json:"source"` // "local", "session", "bootstrap"
	Disabled    bool      `json:"disabled"`
	Grants      []Grant   `json:"grants"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
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
	out, err := getList[UserDetail](ctx, c, route("users"), q)
	if err != nil {
		return nil, err
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
