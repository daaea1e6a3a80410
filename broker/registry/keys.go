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
	"github.com/edgetrust/edgetrust/protocol"
)

// CreateAPIKeyRequest creates a key with one value. Zero AccountID = the
// caller's own account.
type CreateAPIKeyRequest struct {
	AccountID               string
	Name                    string
	Description             string
	Group                   string
	Type                    KeyType // "" = general
	Inactive                bool
	AutoTrust               bool
	AllowUntrustedEndpoints bool
	AllowUnauthenticated    bool
	FullAPIAccess           bool
	ExpiresAt               time.Time
	AllowedIPs              []netip.Prefix
	Remote                  netip.Addr
}

// CreatedKey is a new key with the one time its value is shown (SPEC K3).
type CreatedKey struct {
	Key     APIKey
	ValueID string
	Value   string
}

// maxKeyExpiry bounds expiries: stores keep times as int64 nanoseconds,
// which end in 2262.
var maxKeyExpiry = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// normalizePrefixes masks each prefix and stores IPv4-mapped IPv6 prefixes
// as IPv4: callers' addresses are unmapped before the check (ipAllowed), so
// a ::ffff:a.b.c.d/n prefix would otherwise never match.
func normalizePrefixes(in []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(in))
	for _, p := range in {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out
}

var keyTypes = map[KeyType]bool{KeyGeneral: true, KeyEmbedded: true, KeyChrome: true, KeyEdge: true}

// checkKeyQuota refuses a new key past the account's key quota (SPEC K9).
// The predefined keys of SPEC K6 come with the account and do not count.
func checkKeyQuota(tx Tx, accountID, actor string) error {
	a, err := tx.GetAccount(accountID)
	if err != nil {
		return internal("looking up account", err)
	}
	q := a.Settings.KeyQuota
	if q <= 0 {
		return nil
	}
	keys, err := tx.ListAPIKeys(accountID)
	if err != nil {
		return internal("listing keys", err)
	}
	n := 0
	for _, k := range keys {
		if !k.Predefined {
			n++
		}
	}
	if n >= q {
		return quotaError(a, q, "API keys", actor)
	}
	return nil
}

// CreateAPIKey creates a key and its first value. Errors: KindInvalid,
// KindNotFound, KindPermission, KindQuota (SPEC K9).
func (r *Registry) CreateAPIKey(ctx context.Context, p *Principal, req CreateAPIKeyRequest) (*CreatedKey, error) {
	if req.Type == "" {
		req.Type = KeyGeneral
	}
	if !keyTypes[req.Type] {
		return nil, E(KindInvalid, fmt.Sprintf("unknown key type %q (general, embedded, chrome, edge)", req.Type), nil)
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > maxTextField || len(req.Description) > 1024 {
		return nil, E(KindInvalid, "a key needs a name of at most 256 bytes", nil)
	}
	if req.AccountID == "" && p != nil {
		req.AccountID = p.AccountID
	}
	now := r.now()
	if !req.ExpiresAt.IsZero() && !req.ExpiresAt.After(now) {
		return nil, E(KindInvalid, "expiry is in the past", nil)
	}
	if !req.ExpiresAt.Before(maxKeyExpiry) {
		return nil, E(KindInvalid, "the expiry must be before "+maxKeyExpiry.Format(time.RFC3339)+"; give none for a key that never expires", nil)
	}
	req.AllowedIPs = normalizePrefixes(req.AllowedIPs)
	value, publicID, err := apikey.Generate()
	if err != nil {
		return nil, internal("generating key", err)
	}
	var out *CreatedKey
	err = r.store.Update(ctx, func(tx Tx) error {
		if err := authorize(tx, p, PermModifyAPIKey, req.AccountID); err != nil {
			return err
		}
		if err := checkKeyQuota(tx, req.AccountID, p.Actor()); err != nil {
			return err
		}
		k := &APIKey{
			ID: newID(), AccountID: req.AccountID, Type: req.Type, Name: req.Name,
			Description: req.Description, Group: req.Group, Active: !req.Inactive,
			AllowUnauthenticated: req.AllowUnauthenticated, AllowUntrustedEndpoints: req.AllowUntrustedEndpoints,
			AutoTrust: req.AutoTrust, FullAPIAccess: req.FullAPIAccess, ExpiresAt: req.ExpiresAt.UTC(),
			AllowedIPs: req.AllowedIPs, CreatedBy: p.Actor(), CreatedAt: now, UpdatedAt: now,
		}
		if req.ExpiresAt.IsZero() {
			k.ExpiresAt = time.Time{}
		}
		if err := tx.CreateAPIKey(k); err != nil {
			return internal("creating key", err)
		}
		v := &KeyValue{ID: newID(), KeyID: k.ID, PublicID: publicID, SecretHash: apikey.Hash(value), Description: "initial value", CreatedAt: now}
		if err := tx.CreateKeyValue(v); err != nil {
			return internal("creating key value", err)
		}
		out = &CreatedKey{Key: *k, ValueID: v.ID, Value: value}
		return audit(tx, now, p.Actor(), "apikey.create", k.AccountID, "apikey:"+k.ID, OutcomeSuccess, req.Remote,
			map[string]string{"name": k.Name, "type": string(k.Type), "auto_trust": fmt.Sprint(k.AutoTrust),
				"allow_untrusted_endpoints": fmt.Sprint(k.AllowUntrustedEndpoints), "allow_unauthenticated": fmt.Sprint(k.AllowUnauthenticated)})
	})
	if err != nil {
		r.auditQuota(ctx, "apikey.create", "", req.Remote, err)
		return nil, err
	}
	r.publish(Event{Type: protocol.EventAPIKeyCreated, AccountID: out.Key.AccountID, At: now})
	return out, nil
}

// ListAPIKeys lists the keys of accountID, or with "" those of every
// account where the caller holds ViewAPIKey, account by account (in the
// order of ListAccounts), as every list without an account does. Errors:
// KindUnauthenticated, KindNotFound, KindPermission.
func (r *Registry) ListAPIKeys(ctx context.Context, p *Principal, accountID string) ([]APIKey, error) {
	var keys []APIKey
	err := r.store.View(ctx, func(tx Tx) error {
		if p == nil {
			return E(KindUnauthenticated, "sign in first", nil)
		}
		if accountID != "" {
			if err := authorize(tx, p, PermViewAPIKey, accountID); err != nil {
				return err
			}
			var err error
			if keys, err = tx.ListAPIKeys(accountID); err != nil {
				return internal("listing keys", err)
			}
			return nil
		}
		accts, err := visibleAccounts(tx, p, PermViewAPIKey)
		if err != nil {
			return err
		}
		order := make(map[string]int, len(accts))
		for i, a := range accts {
			order[a.ID] = i
		}
		all, err := tx.ListAPIKeys("")
		if err != nil {
			return internal("listing keys", err)
		}
		for _, k := range all {
			if _, ok := order[k.AccountID]; ok {
				keys = append(keys, k)
			}
		}
		slices.SortStableFunc(keys, func(a, b APIKey) int { return order[a.AccountID] - order[b.AccountID] })
		return nil
	})
	return keys, err
}

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
//
// It is long because every field is checked, applied and audited in the one
// transaction that also decides, from the result, whether the caller may
// hand the key out.
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
	r.publish(Event{Type: protocol.EventAPIKeyUpdated, AccountID: out.Key.AccountID, At: now})
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
	r.publish(Event{Type: protocol.EventAPIKeyDeleted, AccountID: k.AccountID, At: now})
	return nil
}
