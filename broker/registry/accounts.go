package registry

import (
	"context"
	"net/netip"
)

// CreateAccountRequest creates an account below ParentID ("" = the
// caller's own account). Type "" = customer. A new customer account gets
// the predefined keys of SPEC K6.
type CreateAccountRequest struct {
	ParentID          string
	Name              string
	Type              AccountType
	TrustAllEndpoints bool
	DenyUserCreation  bool
	Settings          AccountSettings
	Remote            netip.Addr
}

// AccountUpdate changes the non-nil fields of an account.
type AccountUpdate struct {
	Name              *string
	Disabled          *bool
	TrustAllEndpoints *bool
	DenyUserCreation  *bool
	Settings          *AccountSettings
	Remote            netip.Addr
}

// CreateAccount creates an account; the caller needs ModifyAccount at the
// parent. Errors: KindInvalid, KindNotFound, KindPermission.
func (r *Registry) CreateAccount(ctx context.Context, p *Principal, req CreateAccountRequest) (*Account, error) {
	return nil, errNotImplemented
}

// GetAccount returns an account the caller holds ViewAccount at.
// Errors: KindNotFound, KindPermission.
func (r *Registry) GetAccount(ctx context.Context, p *Principal, id string) (*Account, error) {
	return nil, errNotImplemented
}

// UpdateAccount renames, disables or changes the settings of an account;
// the caller needs ModifyAccount there. Disabling an account refuses every
// key of it and below (K8). Errors: KindInvalid, KindNotFound, KindPermission.
func (r *Registry) UpdateAccount(ctx context.Context, p *Principal, id string, u AccountUpdate) (*Account, error) {
	return nil, errNotImplemented
}
