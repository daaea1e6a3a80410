package registry

import (
	"context"
	"net/netip"
)

// CreateUserRequest creates a user in AccountID ("" = the caller's own).
// Roles are role ids or names, granted at AccountID.
type CreateUserRequest struct {
	AccountID string
	Username  string
	Domain    string
	UPN       string
	Email     string
	Password  string // "" = cannot sign in with a password
	CardID    string
	ShortID   string
	Roles     []string
	Remote    netip.Addr
}

// UserUpdate changes the non-nil fields of a user. Password "" removes it.
type UserUpdate struct {
	Domain   *string
	UPN      *string
	Email    *string
	Password *string
	CardID   *string
	ShortID  *string
	Disabled *bool
	Remote   netip.Addr
}

// UserWithGrants is a user (without its password hash) and its grants.
type UserWithGrants struct {
	User   User
	Grants []Grant
}

// CreateUser creates a user; the caller needs ModifyUser at the account.
// Errors: KindInvalid, KindNotFound, KindPermission, KindConflict (the
// username exists in the account).
func (r *Registry) CreateUser(ctx context.Context, p *Principal, req CreateUserRequest) (*UserWithGrants, error) {
	return nil, errNotImplemented
}

// ListUsers lists the users of accountID ("" = every account where the
// caller holds ViewUser).
func (r *Registry) ListUsers(ctx context.Context, p *Principal, accountID string) ([]UserWithGrants, error) {
	return nil, errNotImplemented
}

// GetUser returns one user. Errors: KindNotFound, KindPermission.
func (r *Registry) GetUser(ctx context.Context, p *Principal, id string) (*UserWithGrants, error) {
	return nil, errNotImplemented
}

// UpdateUser changes a user. Disabling a user disables every key that runs
// as it (SPEC K10) and revokes its refresh tokens.
func (r *Registry) UpdateUser(ctx context.Context, p *Principal, id string, u UserUpdate) (*UserWithGrants, error) {
	return nil, errNotImplemented
}

// DeleteUser deletes a user, disables every key that runs as it (SPEC K10)
// and revokes its refresh tokens. A caller cannot delete itself.
func (r *Registry) DeleteUser(ctx context.Context, p *Principal, id string, remote netip.Addr) error {
	return errNotImplemented
}

// Grant gives user userID the role (id or name) at accountID; the caller
// needs ModifyUser at accountID and cannot grant permissions it lacks there.
func (r *Registry) Grant(ctx context.Context, p *Principal, userID, role, accountID string, remote netip.Addr) (*Grant, error) {
	return nil, errNotImplemented
}

// Ungrant removes a grant. Errors: KindNotFound, KindPermission.
func (r *Registry) Ungrant(ctx context.Context, p *Principal, userID, role, accountID string, remote netip.Addr) error {
	return errNotImplemented
}

// CreateRoleRequest creates a custom role in AccountID ("" = the caller's own).
type CreateRoleRequest struct {
	AccountID   string
	Name        string
	Permissions []Permission
	Remote      netip.Addr
}

// CreateRole creates a custom role; the caller needs ModifyUser at the
// account and every permission it puts in the role.
func (r *Registry) CreateRole(ctx context.Context, p *Principal, req CreateRoleRequest) (*Role, error) {
	return nil, errNotImplemented
}

// ListRoles lists the built-in roles and the custom roles of the accounts
// where the caller holds ViewUser.
func (r *Registry) ListRoles(ctx context.Context, p *Principal) ([]Role, error) {
	return nil, errNotImplemented
}

// DeleteRole deletes a custom role and its grants. Built-in roles cannot be
// deleted (KindInvalid).
func (r *Registry) DeleteRole(ctx context.Context, p *Principal, id string, remote netip.Addr) error {
	return errNotImplemented
}
