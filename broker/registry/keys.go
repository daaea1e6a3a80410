package registry

import (
	"context"
	"net/netip"
	"time"
)

// KeyWithValues is a key and its values (secret hashes cleared).
type KeyWithValues struct {
	Key    APIKey
	Values []KeyValue
}

// APIKeyUpdate changes the non-nil fields of a key. ExpiresAt pointing at
// the zero time removes the expiry; AllowedIPs pointing at an empty slice
// admits any address.
type APIKeyUpdate struct {
	Name                    *string
	Description             *string
	Group                   *string
	Active                  *bool
	AutoTrust               *bool
	AllowUntrustedEndpoints *bool
	AllowUnauthenticated    *bool
	FullAPIAccess           *bool
	ExpiresAt               *time.Time
	AllowedIPs              *[]netip.Prefix
	RunAsUserID             *string
	RunAsRoleID             *string
	Remote                  netip.Addr
}

// AddValueRequest adds a value to a key (SPEC K2). A zero ExpiresAt never
// expires; UseLimit 0 is unlimited.
type AddValueRequest struct {
	Description string
	UseLimit    int64
	ExpiresAt   time.Time
	Remote      netip.Addr
}

// CreatedValue is a value shown once (SPEC K3).
type CreatedValue struct {
	KeyID   string
	ValueID string
	Value   string
}

// GetAPIKey returns a key with its values; the caller needs ViewApiKey.
// Errors: KindNotFound, KindPermission.
func (r *Registry) GetAPIKey(ctx context.Context, p *Principal, id string) (*KeyWithValues, error) {
	return nil, errNotImplemented
}

// UpdateAPIKey changes a key (ModifyApiKey). Deactivating it refuses every
// call that presents one of its values from now on; endpoints it registered
// stay trusted (SPEC K12).
func (r *Registry) UpdateAPIKey(ctx context.Context, p *Principal, id string, u APIKeyUpdate) (*KeyWithValues, error) {
	return nil, errNotImplemented
}

// DeleteAPIKey deletes a key and its values (DeleteApiKey). Endpoints it
// registered stay trusted (SPEC K12).
func (r *Registry) DeleteAPIKey(ctx context.Context, p *Principal, id string, remote netip.Addr) error {
	return errNotImplemented
}

// AddKeyValue generates a new value for a key (ModifyApiKey, SPEC K2).
func (r *Registry) AddKeyValue(ctx context.Context, p *Principal, keyID string, req AddValueRequest) (*CreatedValue, error) {
	return nil, errNotImplemented
}

// RegenerateKeyValue replaces a value's secret under the same key id and
// value id (SPEC K4); the old secret stops working at once. valueID "" is
// allowed only for a key with one value; otherwise KindInvalid naming the
// values.
func (r *Registry) RegenerateKeyValue(ctx context.Context, p *Principal, keyID, valueID string, remote netip.Addr) (*CreatedValue, error) {
	return nil, errNotImplemented
}

// RevokeKeyValue revokes one value (ModifyApiKey). Revoking twice is a no-op.
func (r *Registry) RevokeKeyValue(ctx context.Context, p *Principal, keyID, valueID string, remote netip.Addr) error {
	return errNotImplemented
}

// AddEdgeDevice adds a value to the account's predefined Edge key for the
// named edge device (SPEC K7); accountID "" = the caller's own.
func (r *Registry) AddEdgeDevice(ctx context.Context, p *Principal, accountID, name, description string, remote netip.Addr) (*CreatedValue, error) {
	return nil, errNotImplemented
}

// RemoveEdgeDevice revokes the edge device's value (SPEC K7).
func (r *Registry) RemoveEdgeDevice(ctx context.Context, p *Principal, accountID, valueID string, remote netip.Addr) error {
	return errNotImplemented
}

// AuthenticateKey authenticates an admin API call made with an API key
// instead of a user token (SPEC K1, K11). Only a key with full API access
// is accepted; the principal acts as the key's run-as user with its run-as
// role at the key's account (or, without a role, with the run-as user's own
// grants limited to the key's account and below). Every refusal looks the
// same: KindUnauthenticated; the reason goes to the audit trail.
func (r *Registry) AuthenticateKey(ctx context.Context, value string, remote netip.Addr) (*Principal, error) {
	return nil, errNotImplemented
}
