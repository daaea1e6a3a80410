package registry

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/edgetrust/edgetrust/broker/apikey"
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

// keyFor returns a key p may act on with perm. One that does not exist, or
// that p cannot see, answers KindNotFound.
func keyFor(tx Tx, p *Principal, perm Permission, id string) (*APIKey, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	k, err := tx.GetAPIKey(id)
	if errors.Is(err, ErrNotFound) {
		return nil, E(KindNotFound, "not found", err)
	}
	if err != nil {
		return nil, internal("looking up key", err)
	}
	if err := authorize(tx, p, perm, k.AccountID); err != nil {
		return nil, err
	}
	return k, nil
}

// valueOf returns the value valueID of key k; one of another key answers
// KindNotFound.
func valueOf(tx Tx, k *APIKey, valueID string) (*KeyValue, error) {
	v, err := tx.GetKeyValue(valueID)
	if errors.Is(err, ErrNotFound) || (err == nil && v.KeyID != k.ID) {
		return nil, E(KindNotFound, "this key has no value "+valueID, err)
	}
	if err != nil {
		return nil, internal("looking up key value", err)
	}
	return v, nil
}

// withValues returns k and its values, secret hashes cleared.
func withValues(tx Tx, k *APIKey) (*KeyWithValues, error) {
	vals, err := tx.ListKeyValues(k.ID)
	if err != nil {
		return nil, internal("listing key values", err)
	}
	for i := range vals {
		vals[i].SecretHash = nil
	}
	return &KeyWithValues{Key: *k, Values: vals}, nil
}

// checkExpiry checks a requested expiry (zero = never).
func checkExpiry(now, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if !t.After(now) {
		return E(KindInvalid, "expiry is in the past", nil)
	}
	if !t.Before(maxKeyExpiry) {
		return E(KindInvalid, "the expiry must be before "+maxKeyExpiry.Format(time.RFC3339)+"; give none for a key that never expires", nil)
	}
	return nil
}

// GetAPIKey returns a key with its values; the caller needs ViewApiKey.
// Errors: KindNotFound, KindPermission.
func (r *Registry) GetAPIKey(ctx context.Context, p *Principal, id string) (*KeyWithValues, error) {
	var out *KeyWithValues
	err := r.store.View(ctx, func(tx Tx) error {
		k, err := keyFor(tx, p, PermViewAPIKey, id)
		if err != nil {
			return err
		}
		out, err = withValues(tx, k)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateAPIKey changes a key (ModifyApiKey). Deactivating it refuses every
// call that presents one of its values from now on; endpoints it registered
// stay trusted (SPEC K12). The run-as user must belong to the key's account
// or an ancestor; the run-as role (id or name) must exist there; and the
// caller cannot give a key rights it lacks itself (KindPermission).
// Errors: KindInvalid, KindNotFound, KindPermission.
func (r *Registry) UpdateAPIKey(ctx context.Context, p *Principal, id string, u APIKeyUpdate) (*KeyWithValues, error) {
	now := r.now()
	var name string
	if u.Name != nil {
		var err error
		if name, err = cleanName("a key name", *u.Name); err != nil {
			return nil, err
		}
	}
	if u.Description != nil && len(*u.Description) > 1024 {
		return nil, E(KindInvalid, "a key description is at most 1024 bytes", nil)
	}
	if u.Group != nil {
		if err := checkText("a key group", *u.Group, maxTextField); err != nil {
			return nil, err
		}
	}
	if u.ExpiresAt != nil {
		if err := checkExpiry(now, *u.ExpiresAt); err != nil {
			return nil, err
		}
	}
	var out *KeyWithValues
	err := r.store.Update(ctx, func(tx Tx) error {
		k, err := keyFor(tx, p, PermModifyAPIKey, id)
		if err != nil {
			return err
		}
		changed := map[string]string{}
		setStr := func(field string, dst *string, v *string) {
			if v != nil && *dst != *v {
				*dst = *v
				changed[field] = *v
			}
		}
		setBool := func(field string, dst *bool, v *bool) {
			if v != nil && *dst != *v {
				*dst = *v
				changed[field] = fmt.Sprint(*v)
			}
		}
		if u.Name != nil {
			setStr("name", &k.Name, &name)
		}
		setStr("description", &k.Description, u.Description)
		setStr("group", &k.Group, u.Group)
		wasActive, oldExpiry := k.Active, k.ExpiresAt
		setBool("active", &k.Active, u.Active)
		setBool("auto_trust", &k.AutoTrust, u.AutoTrust)
		setBool("allow_untrusted_endpoints", &k.AllowUntrustedEndpoints, u.AllowUntrustedEndpoints)
		setBool("allow_unauthenticated", &k.AllowUnauthenticated, u.AllowUnauthenticated)
		setBool("full_api_access", &k.FullAPIAccess, u.FullAPIAccess)
		if u.ExpiresAt != nil && !u.ExpiresAt.Equal(k.ExpiresAt) {
			k.ExpiresAt = u.ExpiresAt.UTC()
			if u.ExpiresAt.IsZero() {
				k.ExpiresAt = time.Time{}
			}
			changed["expires_at"] = formatTime(k.ExpiresAt)
		}
		if ips := normalizePrefixes(derefOr(u.AllowedIPs)); u.AllowedIPs != nil && !slices.Equal(ips, k.AllowedIPs) {
			k.AllowedIPs = ips
			strs := make([]string, len(ips))
			for i, ip := range ips {
				strs[i] = ip.String()
			}
			changed["allowed_ips"] = strings.Join(strs, ",")
		}
		if u.RunAsUserID != nil && *u.RunAsUserID != k.RunAsUserID {
			if *u.RunAsUserID != "" {
				if err := checkRunAsUser(tx, p, k.AccountID, *u.RunAsUserID); err != nil {
					return err
				}
			}
			k.RunAsUserID = *u.RunAsUserID
			changed["run_as_user_id"] = k.RunAsUserID
		}
		if u.RunAsRoleID != nil {
			roleID := ""
			if *u.RunAsRoleID != "" {
				role, err := resolveRole(tx, *u.RunAsRoleID, k.AccountID)
				if err != nil {
					return err
				}
				roleID = role.ID
			}
			if roleID != k.RunAsRoleID {
				k.RunAsRoleID = roleID
				changed["run_as_role_id"] = roleID
			}
		}
		// A key's run-as identity is what a key holder acts with: changing
		// it, or making the key's values usable again (active again, a later
		// expiry or none), hands it out, so the caller must hold all of it.
		reenabled := (k.Active && !wasActive) ||
			(!k.ExpiresAt.Equal(oldExpiry) && !oldExpiry.IsZero() && (k.ExpiresAt.IsZero() || k.ExpiresAt.After(oldExpiry)))
		if reenabled || hasAny(changed, "full_api_access", "allow_unauthenticated", "run_as_user_id", "run_as_role_id") {
			if err := mayHandOut(tx, p, k); err != nil {
				return err
			}
		}
		if len(changed) == 0 {
			out, err = withValues(tx, k)
			return err
		}
		k.UpdatedAt = now
		if err := tx.UpdateAPIKey(k); err != nil {
			return internal("updating key", err)
		}
		if out, err = withValues(tx, k); err != nil {
			return err
		}
		return audit(tx, now, p.Actor(), "apikey.update", k.AccountID, "apikey:"+k.ID, OutcomeSuccess, u.Remote, changed)
	})
	if err != nil {
		r.auditDenied(ctx, p, "apikey.update", "apikey:"+id, u.Remote, err)
		return nil, err
	}
	r.bus.Publish(Event{Type: "apikey.updated", AccountID: out.Key.AccountID, At: now})
	return out, nil
}

func derefOr[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func hasAny(m map[string]string, keys ...string) bool {
	for _, k := range keys {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// checkRunAsUser checks that p may make userID the run-as user of a key of
// keyAccount. A user of the key's account or an account below it is fine
// (what the key then acts with is checked by mayHandOut). A user of an
// account above it is allowed only when p holds every grant of that user
// where the user holds it: otherwise a customer admin could make a key run
// as the vendor's admin, and act as that person (their sessions, their
// name in the audit). Errors: KindInvalid (an unknown user, or one outside
// the key's chain and subtree), KindPermission.
func checkRunAsUser(tx Tx, p *Principal, keyAccount, userID string) error {
	bad := E(KindInvalid, "the run-as user must be a user of the key's account, of an account below it, or of an account above it whose every role you hold", nil)
	u, err := tx.GetUser(userID)
	if errors.Is(err, ErrNotFound) {
		return bad
	}
	if err != nil {
		return internal("looking up user", err)
	}
	userChain, err := chainIDs(tx, u.AccountID)
	if err != nil {
		return err
	}
	if slices.Contains(userChain, keyAccount) {
		return nil // the key's account or below
	}
	keyChain, err := chainIDs(tx, keyAccount)
	if err != nil {
		return err
	}
	if !slices.Contains(keyChain, u.AccountID) {
		return bad
	}
	grants, err := grantsOf(tx, u.ID)
	if err != nil {
		return internal("listing grants", err)
	}
	if err := p.covers(tx, grants); err != nil {
		return E(KindPermission, "a key cannot run as this user: they hold rights you lack", err)
	}
	return nil
}

// mayHandOut checks that p holds every right a holder of k's values acts
// with (its run-as identity, SPEC K1, as runAsGrants resolves it). Every
// operation that yields a usable value (create, add, regenerate, an edge
// device) or makes one usable again (active again, a later expiry) runs
// it: otherwise ModifyApiKey alone would be a way up to whatever the key
// runs as. A key without a run-as identity hands out nothing. Errors:
// KindPermission.
func mayHandOut(tx Tx, p *Principal, k *APIKey) error {
	grants, err := runAsGrants(tx, k)
	if err != nil {
		return err
	}
	return p.covers(tx, grants)
}

// runAsGrants returns the rights a key's holder acts with (SPEC K1): its
// run-as role at the key's account, or else its run-as user's grants
// limited to the key's account and below; nil without either.
func runAsGrants(tx Tx, k *APIKey) ([]resolvedGrant, error) {
	if k.RunAsRoleID != "" {
		role, err := tx.GetRole(k.RunAsRoleID)
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, internal("looking up role", err)
		}
		return runAsRoleGrants(k, role), nil
	}
	return runAsUserGrants(tx, k)
}

// runAsRoleGrants is runAsGrants of a key whose run-as role is role.
func runAsRoleGrants(k *APIKey, role *Role) []resolvedGrant {
	return []resolvedGrant{{accountID: k.AccountID, perms: role.Permissions}}
}

// runAsUserGrants is runAsGrants of a key without a run-as role: its run-as
// user's grants limited to the key's account and below; nil without one.
func runAsUserGrants(tx Tx, k *APIKey) ([]resolvedGrant, error) {
	if k.RunAsUserID == "" {
		return nil, nil
	}
	userGrants, err := grantsOf(tx, k.RunAsUserID)
	if err != nil {
		return nil, internal("listing grants", err)
	}
	keyChain, err := chainIDs(tx, k.AccountID)
	if err != nil {
		return nil, err
	}
	var out []resolvedGrant
	for _, g := range userGrants {
		if slices.Contains(keyChain, g.accountID) {
			// Granted at the key's account or above: it applies from the key's account down.
			out = append(out, resolvedGrant{accountID: k.AccountID, perms: g.perms})
			continue
		}
		gChain, err := chainIDs(tx, g.accountID)
		if err != nil {
			return nil, err
		}
		if slices.Contains(gChain, k.AccountID) {
			out = append(out, g) // granted below the key's account
		}
	}
	return out, nil
}

// DeleteAPIKey deletes a key and its values (DeleteApiKey). Endpoints it
// registered stay trusted (SPEC K12). The predefined keys of SPEC K6 cannot
// be deleted (KindInvalid): deactivate them instead.
func (r *Registry) DeleteAPIKey(ctx context.Context, p *Principal, id string, remote netip.Addr) error {
	now := r.now()
	var k *APIKey
	err := r.store.Update(ctx, func(tx Tx) error {
		var err error
		k, err = keyFor(tx, p, PermDeleteAPIKey, id)
		if err != nil {
			return err
		}
		if k.Predefined {
			return E(KindInvalid, "a predefined key cannot be deleted; deactivate it instead", nil)
		}
		if err := tx.DeleteAPIKey(k.ID); err != nil {
			return internal("deleting key", err)
		}
		return audit(tx, now, p.Actor(), "apikey.delete", k.AccountID, "apikey:"+k.ID, OutcomeSuccess, remote,
			map[string]string{"name": k.Name})
	})
	if err != nil {
		return err
	}
	r.bus.Publish(Event{Type: "apikey.deleted", AccountID: k.AccountID, At: now})
	return nil
}

// newValue generates a value for key k and stores it.
func newValue(tx Tx, now time.Time, k *APIKey, req AddValueRequest, edgeDevice string) (*CreatedValue, *KeyValue, error) {
	value, publicID, err := apikey.Generate()
	if err != nil {
		return nil, nil, internal("generating key", err)
	}
	v := &KeyValue{ID: newID(), KeyID: k.ID, PublicID: publicID, SecretHash: apikey.Hash(value),
		Description: req.Description, CreatedAt: now, ExpiresAt: req.ExpiresAt.UTC(), UseLimit: req.UseLimit, EdgeDevice: edgeDevice}
	if req.ExpiresAt.IsZero() {
		v.ExpiresAt = time.Time{}
	}
	if err := tx.CreateKeyValue(v); err != nil {
		return nil, nil, internal("creating key value", err)
	}
	return &CreatedValue{KeyID: k.ID, ValueID: v.ID, Value: value}, v, nil
}

func checkValueRequest(now time.Time, req AddValueRequest) error {
	if req.UseLimit < 0 {
		return E(KindInvalid, "the use limit must be 0 (unlimited) or more", nil)
	}
	if len(req.Description) > 1024 {
		return E(KindInvalid, "a value description is at most 1024 bytes", nil)
	}
	return checkExpiry(now, req.ExpiresAt)
}

// AddKeyValue generates a new value for a key (ModifyApiKey, SPEC K2).
// Errors: KindInvalid, KindNotFound, KindPermission.
func (r *Registry) AddKeyValue(ctx context.Context, p *Principal, keyID string, req AddValueRequest) (*CreatedValue, error) {
	now := r.now()
	if err := checkValueRequest(now, req); err != nil {
		return nil, err
	}
	var out *CreatedValue
	var k *APIKey
	err := r.store.Update(ctx, func(tx Tx) error {
		var err error
		if k, err = keyFor(tx, p, PermModifyAPIKey, keyID); err != nil {
			return err
		}
		if err := mayHandOut(tx, p, k); err != nil {
			return err
		}
		var v *KeyValue
		if out, v, err = newValue(tx, now, k, req, ""); err != nil {
			return err
		}
		return audit(tx, now, p.Actor(), "apikey.value.add", k.AccountID, "apikey:"+k.ID, OutcomeSuccess, req.Remote,
			map[string]string{"value_id": v.ID, "key_public_id": v.PublicID, "use_limit": fmt.Sprint(v.UseLimit), "expires_at": formatTime(v.ExpiresAt)})
	})
	if err != nil {
		r.auditDenied(ctx, p, "apikey.value.add", "apikey:"+keyID, req.Remote, err)
		return nil, err
	}
	r.bus.Publish(Event{Type: "apikey.updated", AccountID: k.AccountID, At: now})
	return out, nil
}

// RegenerateKeyValue replaces a value's secret under the same key id and
// value id (SPEC K4); the old value stops working at once (it gets a new
// public id as well, so nothing cached under the old one matches). Its
// settings and usage history stay. valueID "" is allowed only for a key
// with one unrevoked value; otherwise KindInvalid naming the values. A
// revoked value cannot be regenerated (KindConflict). Regenerating a
// predefined key's value (SPEC K6) is how it becomes usable.
func (r *Registry) RegenerateKeyValue(ctx context.Context, p *Principal, keyID, valueID string, remote netip.Addr) (*CreatedValue, error) {
	now := r.now()
	var out *CreatedValue
	var k *APIKey
	err := r.store.Update(ctx, func(tx Tx) error {
		var err error
		if k, err = keyFor(tx, p, PermModifyAPIKey, keyID); err != nil {
			return err
		}
		if err := mayHandOut(tx, p, k); err != nil {
			return err
		}
		var v *KeyValue
		if valueID == "" {
			vals, err := tx.ListKeyValues(k.ID)
			if err != nil {
				return internal("listing key values", err)
			}
			var live []string
			for i := range vals {
				if vals[i].RevokedAt.IsZero() {
					live = append(live, vals[i].ID)
					v = &vals[i]
				}
			}
			switch len(live) {
			case 0:
				return E(KindConflict, "this key has no unrevoked value; add one", nil)
			case 1:
			default:
				return E(KindInvalid, "this key has several values; name the one to regenerate: "+strings.Join(live, ", "), nil)
			}
		} else if v, err = valueOf(tx, k, valueID); err != nil {
			return err
		}
		if !v.RevokedAt.IsZero() {
			return E(KindConflict, "this value is revoked; add a new value instead", nil)
		}
		value, publicID, err := apikey.Generate()
		if err != nil {
			return internal("generating key", err)
		}
		oldPublic := v.PublicID
		v.PublicID, v.SecretHash = publicID, apikey.Hash(value)
		if err := tx.UpdateKeyValue(v); err != nil {
			return internal("updating key value", err)
		}
		out = &CreatedValue{KeyID: k.ID, ValueID: v.ID, Value: value}
		return audit(tx, now, p.Actor(), "apikey.value.regenerate", k.AccountID, "apikey:"+k.ID, OutcomeSuccess, remote,
			map[string]string{"value_id": v.ID, "old_key_public_id": oldPublic, "key_public_id": publicID})
	})
	if err != nil {
		r.auditDenied(ctx, p, "apikey.value.regenerate", "apikey:"+keyID, remote, err)
		return nil, err
	}
	r.bus.Publish(Event{Type: "apikey.updated", AccountID: k.AccountID, At: now})
	return out, nil
}

// RevokeKeyValue revokes one value (ModifyApiKey). Revoking twice is a
// no-op. Endpoints that registered with it stay trusted (SPEC K12).
// Errors: KindNotFound, KindPermission.
func (r *Registry) RevokeKeyValue(ctx context.Context, p *Principal, keyID, valueID string, remote netip.Addr) error {
	now := r.now()
	var k *APIKey
	var changed bool
	err := r.store.Update(ctx, func(tx Tx) error {
		var err error
		if k, err = keyFor(tx, p, PermModifyAPIKey, keyID); err != nil {
			return err
		}
		v, err := valueOf(tx, k, valueID)
		if err != nil {
			return err
		}
		changed, err = revokeValue(tx, now, p.Actor(), "apikey.value.revoke", k, v, remote)
		return err
	})
	if err != nil {
		return err
	}
	if changed {
		r.bus.Publish(Event{Type: "apikey.updated", AccountID: k.AccountID, At: now})
	}
	return nil
}

// revokeValue revokes v unless it already is, and audits it as action.
func revokeValue(tx Tx, now time.Time, actor, action string, k *APIKey, v *KeyValue, remote netip.Addr) (bool, error) {
	if !v.RevokedAt.IsZero() {
		return false, nil
	}
	v.RevokedAt = now
	if err := tx.UpdateKeyValue(v); err != nil {
		return false, internal("revoking key value", err)
	}
	detail := map[string]string{"value_id": v.ID, "key_public_id": v.PublicID}
	if v.EdgeDevice != "" {
		detail["edge_device"] = v.EdgeDevice
	}
	return true, audit(tx, now, actor, action, k.AccountID, "apikey:"+k.ID, OutcomeSuccess, remote, detail)
}

// edgeKey returns the predefined Edge key of an account (SPEC K7).
func edgeKey(tx Tx, accountID string) (*APIKey, error) {
	keys, err := tx.ListAPIKeys(accountID)
	if err != nil {
		return nil, internal("listing keys", err)
	}
	for i := range keys {
		if keys[i].Predefined && keys[i].Type == KeyEdge {
			return &keys[i], nil
		}
	}
	return nil, E(KindInvalid, "this account has no predefined Edge key (customer accounts have one)", nil)
}

// AddEdgeDevice adds a value to the account's predefined Edge key for the
// named edge device (SPEC K7); accountID "" = the caller's own. The value
// is the device's own credential. Errors: KindInvalid, KindNotFound,
// KindPermission, KindConflict (a device of that name exists).
func (r *Registry) AddEdgeDevice(ctx context.Context, p *Principal, accountID, name, description string, remote netip.Addr) (*CreatedValue, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	name, err := cleanName("an edge device name", name)
	if err != nil {
		return nil, err
	}
	if len(description) > 1024 {
		return nil, E(KindInvalid, "a description is at most 1024 bytes", nil)
	}
	if accountID == "" {
		accountID = p.AccountID
	}
	now := r.now()
	var out *CreatedValue
	err = r.store.Update(ctx, func(tx Tx) error {
		if err := authorize(tx, p, PermModifyAPIKey, accountID); err != nil {
			return err
		}
		k, err := edgeKey(tx, accountID)
		if err != nil {
			return err
		}
		if err := mayHandOut(tx, p, k); err != nil {
			return err
		}
		vals, err := tx.ListKeyValues(k.ID)
		if err != nil {
			return internal("listing key values", err)
		}
		for _, v := range vals {
			if v.RevokedAt.IsZero() && strings.EqualFold(v.EdgeDevice, name) {
				return E(KindConflict, fmt.Sprintf("an edge device named %q exists; remove it first", name), nil)
			}
		}
		var v *KeyValue
		if out, v, err = newValue(tx, now, k, AddValueRequest{Description: description}, name); err != nil {
			return err
		}
		return audit(tx, now, p.Actor(), "edge.add", accountID, "apikey:"+k.ID, OutcomeSuccess, remote,
			map[string]string{"value_id": v.ID, "key_public_id": v.PublicID, "edge_device": name})
	})
	if err != nil {
		r.auditDenied(ctx, p, "edge.add", "account:"+accountID, remote, err)
		return nil, err
	}
	r.bus.Publish(Event{Type: "apikey.updated", AccountID: accountID, At: now})
	return out, nil
}

// RemoveEdgeDevice revokes the edge device's value (SPEC K7); accountID ""
// = the caller's own. Removing a removed device is a no-op. Errors:
// KindInvalid, KindNotFound, KindPermission.
func (r *Registry) RemoveEdgeDevice(ctx context.Context, p *Principal, accountID, valueID string, remote netip.Addr) error {
	if p == nil {
		return E(KindUnauthenticated, "sign in first", nil)
	}
	if accountID == "" {
		accountID = p.AccountID
	}
	now := r.now()
	var changed bool
	err := r.store.Update(ctx, func(tx Tx) error {
		if err := authorize(tx, p, PermModifyAPIKey, accountID); err != nil {
			return err
		}
		k, err := edgeKey(tx, accountID)
		if err != nil {
			return err
		}
		v, err := valueOf(tx, k, valueID)
		if err != nil {
			return err
		}
		if v.EdgeDevice == "" {
			return E(KindNotFound, "no edge device has value "+valueID, nil)
		}
		changed, err = revokeValue(tx, now, p.Actor(), "edge.remove", k, v, remote)
		return err
	})
	if err != nil {
		return err
	}
	if changed {
		r.bus.Publish(Event{Type: "apikey.updated", AccountID: accountID, At: now})
	}
	return nil
}

// AuthenticateKey authenticates an admin API call made with an API key
// and no user token (SPEC K1, K11, S5): AuthenticateCall with only the key,
// on an admin route.
func (r *Registry) AuthenticateKey(ctx context.Context, value string, remote netip.Addr) (*Principal, error) {
	return r.AuthenticateCall(ctx, CallCredentials{APIKey: value, Remote: remote, Admin: true})
}
