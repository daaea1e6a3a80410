package registry

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// CreateRoleRequest creates a custom role in AccountID ("" = the caller's own).
type CreateRoleRequest struct {
	AccountID   string
	Name        string
	Permissions []Permission
	Remote      netip.Addr
}

// resolveRole finds a role by id or (case-insensitive) name among the
// built-in roles and the custom roles of accountID and its ancestors, the
// nearest first. Errors: KindInvalid.
func resolveRole(tx Tx, ref, accountID string) (*Role, error) {
	chain, err := chainIDs(tx, accountID)
	if err != nil {
		return nil, err
	}
	roles, err := tx.ListRoles()
	if err != nil {
		return nil, internal("listing roles", err)
	}
	rank := func(r *Role) int { // -1: not usable here
		if r.BuiltIn || r.AccountID == "" {
			return len(chain)
		}
		return slices.Index(chain, r.AccountID)
	}
	var best *Role
	bestRank := -1
	for i := range roles {
		r := &roles[i]
		n := rank(r)
		if n < 0 {
			continue
		}
		if r.ID == ref {
			return r, nil
		}
		if strings.EqualFold(r.Name, ref) && (best == nil || n < bestRank) {
			best, bestRank = r, n
		}
	}
	if best == nil {
		return nil, E(KindInvalid, fmt.Sprintf("no role %q at this account", ref), nil)
	}
	return best, nil
}

func createGrant(tx Tx, now time.Time, p *Principal, u *User, role *Role, accountID string, remote netip.Addr) error {
	g := &Grant{UserID: u.ID, RoleID: role.ID, AccountID: accountID, CreatedAt: now}
	if err := tx.CreateGrant(g); err != nil {
		if errors.Is(err, ErrConflict) {
			return E(KindConflict, "the user already holds this role at this account", err)
		}
		return internal("creating grant", err)
	}
	return audit(tx, now, p.Actor(), "grant.create", accountID, "user:"+u.ID, OutcomeSuccess, remote,
		map[string]string{"role_id": role.ID, "role": role.Name, "username": u.Username})
}

// grantTarget resolves the user, account and role of a grant p changes:
// p needs ModifyUser at the user's account, the account must be the user's
// or one below it, and p must hold every permission of the role there.
func grantTarget(tx Tx, p *Principal, userID, roleRef, accountID string) (*User, *Role, string, error) {
	user, err := userFor(tx, p, PermModifyUser, userID)
	if err != nil {
		return nil, nil, "", err
	}
	if accountID == "" {
		accountID = user.AccountID
	}
	chain, err := authorizedChain(tx, p, PermModifyUser, accountID)
	if err != nil {
		return nil, nil, "", err
	}
	if !slices.Contains(chain, user.AccountID) {
		return nil, nil, "", E(KindInvalid, "a role is granted at the user's own account or an account below it", nil)
	}
	role, err := resolveRole(tx, roleRef, accountID)
	if err != nil {
		return nil, nil, "", err
	}
	if err := p.holdsAll(chain, role.Permissions); err != nil {
		return nil, nil, "", err
	}
	return user, role, accountID, nil
}

// Grant gives user userID the role (id or name) at accountID ("" = the
// user's own account, else an account below it); the caller needs
// ModifyUser there and cannot grant permissions it lacks there. Errors:
// KindInvalid, KindNotFound, KindPermission, KindConflict (already held).
func (r *Registry) Grant(ctx context.Context, p *Principal, userID, role, accountID string, remote netip.Addr) (*Grant, error) {
	now := r.now()
	var out *Grant
	err := r.store.Update(ctx, func(tx Tx) error {
		user, rl, acct, err := grantTarget(tx, p, userID, role, accountID)
		if err != nil {
			return err
		}
		if err := createGrant(tx, now, p, user, rl, acct, remote); err != nil {
			return err
		}
		out = &Grant{UserID: user.ID, RoleID: rl.ID, AccountID: acct, CreatedAt: now}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Ungrant removes a grant; the caller needs what Grant needs. Errors:
// KindInvalid, KindNotFound, KindPermission.
func (r *Registry) Ungrant(ctx context.Context, p *Principal, userID, role, accountID string, remote netip.Addr) error {
	now := r.now()
	return r.store.Update(ctx, func(tx Tx) error {
		user, rl, acct, err := grantTarget(tx, p, userID, role, accountID)
		if err != nil {
			return err
		}
		if err := tx.DeleteGrant(user.ID, rl.ID, acct); err != nil {
			if errors.Is(err, ErrNotFound) {
				return E(KindNotFound, "the user holds no such grant", err)
			}
			return internal("deleting grant", err)
		}
		return audit(tx, now, p.Actor(), "grant.delete", acct, "user:"+user.ID, OutcomeSuccess, remote,
			map[string]string{"role_id": rl.ID, "role": rl.Name, "username": user.Username})
	})
}

// CreateRole creates a custom role; the caller needs ModifyUser at the
// account and every permission it puts in the role. Its name must not be
// a built-in role's or another role's of the account. Errors: KindInvalid,
// KindNotFound, KindPermission, KindConflict.
func (r *Registry) CreateRole(ctx context.Context, p *Principal, req CreateRoleRequest) (*Role, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	name, err := cleanName("a role name", req.Name)
	if err != nil {
		return nil, err
	}
	if len(req.Permissions) == 0 {
		return nil, E(KindInvalid, "a role needs at least one permission", nil)
	}
	var perms []Permission
	for _, perm := range AllPermissions { // dedupe, in the stable order
		if slices.Contains(req.Permissions, perm) {
			perms = append(perms, perm)
		}
	}
	for _, perm := range req.Permissions {
		if !slices.Contains(AllPermissions, perm) {
			known := make([]string, len(AllPermissions))
			for i, a := range AllPermissions {
				known[i] = string(a)
			}
			return nil, E(KindInvalid, fmt.Sprintf("unknown permission %q (known: %s)", perm, strings.Join(known, ", ")), nil)
		}
	}
	if req.AccountID == "" {
		req.AccountID = p.AccountID
	}
	now := r.now()
	var out *Role
	err = r.store.Update(ctx, func(tx Tx) error {
		chain, err := authorizedChain(tx, p, PermModifyUser, req.AccountID)
		if err != nil {
			return err
		}
		if err := p.holdsAll(chain, perms); err != nil {
			return err
		}
		roles, err := tx.ListRoles()
		if err != nil {
			return internal("listing roles", err)
		}
		for _, other := range roles {
			if strings.EqualFold(other.Name, name) && (other.BuiltIn || other.AccountID == req.AccountID) {
				return E(KindConflict, fmt.Sprintf("a role named %q exists", other.Name), nil)
			}
		}
		role := &Role{ID: newID(), AccountID: req.AccountID, Name: name, Permissions: perms, CreatedAt: now}
		if err := tx.CreateRole(role); err != nil {
			return internal("creating role", err)
		}
		strs := make([]string, len(perms))
		for i, perm := range perms {
			strs[i] = string(perm)
		}
		out = role
		return audit(tx, now, p.Actor(), "role.create", role.AccountID, "role:"+role.ID, OutcomeSuccess, req.Remote,
			map[string]string{"name": role.Name, "permissions": strings.Join(strs, ",")})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListRoles lists the built-in roles and the custom roles usable at the
// accounts where the caller holds ViewUser (theirs and their ancestors').
func (r *Registry) ListRoles(ctx context.Context, p *Principal) ([]Role, error) {
	var out []Role
	err := r.store.View(ctx, func(tx Tx) error {
		if p == nil {
			return E(KindUnauthenticated, "sign in first", nil)
		}
		_, usable, err := accountSets(tx, p, PermViewUser)
		if err != nil {
			return err
		}
		roles, err := tx.ListRoles()
		if err != nil {
			return internal("listing roles", err)
		}
		for _, role := range roles {
			if role.BuiltIn || usable[role.AccountID] {
				out = append(out, role)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteRole deletes a custom role and its grants; the caller needs
// ModifyUser at the role's account and every permission of the role.
// Built-in roles cannot be deleted (KindInvalid). Errors: KindInvalid,
// KindNotFound, KindPermission.
func (r *Registry) DeleteRole(ctx context.Context, p *Principal, id string, remote netip.Addr) error {
	now := r.now()
	return r.store.Update(ctx, func(tx Tx) error {
		if p == nil {
			return E(KindUnauthenticated, "sign in first", nil)
		}
		role, err := tx.GetRole(id)
		if errors.Is(err, ErrNotFound) {
			return E(KindNotFound, "not found", err)
		}
		if err != nil {
			return internal("looking up role", err)
		}
		if role.BuiltIn || role.AccountID == "" {
			return E(KindInvalid, "a built-in role cannot be deleted", nil)
		}
		chain, err := authorizedChain(tx, p, PermModifyUser, role.AccountID)
		if err != nil {
			return err
		}
		if err := p.holdsAll(chain, role.Permissions); err != nil {
			return err
		}
		if err := tx.DeleteRole(role.ID); err != nil {
			return internal("deleting role", err)
		}
		return audit(tx, now, p.Actor(), "role.delete", role.AccountID, "role:"+role.ID, OutcomeSuccess, remote,
			map[string]string{"name": role.Name})
	})
}
