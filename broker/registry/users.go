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

// CreateRoleRequest creates a custom role in AccountID ("" = the caller's own).
type CreateRoleRequest struct {
	AccountID   string
	Name        string
	Permissions []Permission
	Remote      netip.Addr
}

// Password bounds for users created or changed through the API.
const (
	minPasswordLen = 8
	maxPasswordLen = 1024
)

func checkNewPassword(pw string) error {
	if len(pw) < minPasswordLen || len(pw) > maxPasswordLen {
		return E(KindInvalid, fmt.Sprintf("a password must be %d to %d bytes long", minPasswordLen, maxPasswordLen), nil)
	}
	return nil
}

// hashNewPassword checks and hashes a password outside any transaction
// (Argon2id is slow on purpose); "" stays "" (no password sign-in).
func hashNewPassword(pw string) (string, error) {
	if pw == "" {
		return "", nil
	}
	if err := checkNewPassword(pw); err != nil {
		return "", err
	}
	h, err := HashPassword(pw)
	if err != nil {
		return "", internal("hashing password", err)
	}
	return h, nil
}

// checkUserFields checks the optional text fields of a user.
func checkUserFields(fields map[string]string) error {
	for name, v := range fields {
		if err := checkText(name, v, maxTextField); err != nil {
			return err
		}
	}
	return nil
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

// checkUniqueIDs refuses a card id or short id another user of the account
// already has (SPEC S4).
func checkUniqueIDs(tx Tx, accountID, selfID, cardID, shortID string) error {
	if cardID == "" && shortID == "" {
		return nil
	}
	users, err := tx.FindUsers(UserFilter{AccountID: accountID})
	if err != nil {
		return internal("finding users", err)
	}
	for _, u := range users {
		if u.ID == selfID {
			continue
		}
		if cardID != "" && strings.EqualFold(u.CardID, cardID) {
			return E(KindConflict, "another user of this account has this card id", nil)
		}
		if shortID != "" && strings.EqualFold(u.ShortID, shortID) {
			return E(KindConflict, "another user of this account has this short id", nil)
		}
	}
	return nil
}

// userWithGrants returns u without its password hash and the grants of it
// at accounts in visible (nil = all).
func userWithGrants(tx Tx, u User, visible map[string]bool) (*UserWithGrants, error) {
	grants, err := tx.ListGrants(u.ID)
	if err != nil {
		return nil, internal("listing grants", err)
	}
	if visible != nil {
		grants = slices.DeleteFunc(grants, func(g Grant) bool { return !visible[g.AccountID] })
	}
	u.PasswordHash = ""
	return &UserWithGrants{User: u, Grants: grants}, nil
}

// userFor returns a user p may act on with perm. One that does not exist,
// or that p cannot see, answers KindNotFound.
func userFor(tx Tx, p *Principal, perm Permission, id string) (*User, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	u, err := tx.GetUser(id)
	if errors.Is(err, ErrNotFound) {
		return nil, E(KindNotFound, "not found", err)
	}
	if err != nil {
		return nil, internal("looking up user", err)
	}
	if err := authorize(tx, p, perm, u.AccountID); err != nil {
		return nil, err
	}
	return u, nil
}

// forEachAccount calls fn with every account and the ids of its chain
// (itself first), from one read of the account table.
func forEachAccount(tx Tx, fn func(a *Account, chain []string)) error {
	all, err := tx.ListAccounts()
	if err != nil {
		return internal("listing accounts", err)
	}
	byID := make(map[string]*Account, len(all))
	for i := range all {
		byID[all[i].ID] = &all[i]
	}
	get := func(id string) (*Account, error) {
		if a, ok := byID[id]; ok {
			return a, nil
		}
		return nil, fmt.Errorf("account %s: %w", id, ErrNotFound)
	}
	for i := range all {
		chain, err := walkUp(all[i].ID, get)
		if err != nil {
			return internal("walking account tree", err)
		}
		fn(&all[i], accountIDs(chain))
	}
	return nil
}

// accountSets returns the ids of the accounts where p holds perm, and the
// same set with every ancestor added.
func accountSets(tx Tx, p *Principal, perm Permission) (visible, withAncestors map[string]bool, err error) {
	visible, withAncestors = map[string]bool{}, map[string]bool{}
	err = forEachAccount(tx, func(a *Account, chain []string) {
		if p.check(chain, perm) != nil {
			return
		}
		visible[a.ID] = true
		for _, id := range chain {
			withAncestors[id] = true
		}
	})
	if err != nil {
		return nil, nil, err
	}
	return visible, withAncestors, nil
}

// CreateUser creates a user; the caller needs ModifyUser at the account and
// every permission of the roles it grants. Errors: KindInvalid,
// KindNotFound, KindPermission, KindConflict (the username exists in the
// account).
func (r *Registry) CreateUser(ctx context.Context, p *Principal, req CreateUserRequest) (*UserWithGrants, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	username, err := cleanName("a username", req.Username)
	if err != nil {
		return nil, err
	}
	if err := checkUserFields(map[string]string{"domain": req.Domain, "upn": req.UPN, "email": req.Email,
		"card id": req.CardID, "short id": req.ShortID}); err != nil {
		return nil, err
	}
	hash, err := hashNewPassword(req.Password)
	if err != nil {
		return nil, err
	}
	if req.AccountID == "" {
		req.AccountID = p.AccountID
	}
	now := r.now()
	var out *UserWithGrants
	err = r.store.Update(ctx, func(tx Tx) error {
		if err := authorize(tx, p, PermModifyUser, req.AccountID); err != nil {
			return err
		}
		chain, err := chainIDs(tx, req.AccountID)
		if err != nil {
			return err
		}
		var roles []*Role
		for _, ref := range req.Roles {
			role, err := resolveRole(tx, ref, req.AccountID)
			if err != nil {
				return err
			}
			if err := p.holdsAll(chain, role.Permissions); err != nil {
				return err
			}
			if !slices.ContainsFunc(roles, func(r *Role) bool { return r.ID == role.ID }) {
				roles = append(roles, role)
			}
		}
		if err := checkUniqueIDs(tx, req.AccountID, "", req.CardID, req.ShortID); err != nil {
			return err
		}
		u := &User{ID: newID(), AccountID: req.AccountID, Username: username, Domain: req.Domain, UPN: req.UPN,
			Email: req.Email, CardID: req.CardID, ShortID: req.ShortID, PasswordHash: hash,
			Source: UserSourceLocal, CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateUser(u); err != nil {
			if errors.Is(err, ErrConflict) {
				return E(KindConflict, fmt.Sprintf("a user named %q exists in this account", username), err)
			}
			return internal("creating user", err)
		}
		names := make([]string, len(roles))
		for i, role := range roles {
			names[i] = role.Name
		}
		if err := audit(tx, now, p.Actor(), "user.create", u.AccountID, "user:"+u.ID, OutcomeSuccess, req.Remote,
			map[string]string{"username": u.Username, "domain": u.Domain, "source": u.Source,
				"password": fmt.Sprint(hash != ""), "roles": strings.Join(names, ",")}); err != nil {
			return err
		}
		for _, role := range roles {
			if err := createGrant(tx, now, p, u, role, u.AccountID, req.Remote); err != nil {
				return err
			}
		}
		out, err = userWithGrants(tx, *u, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
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

// ListUsers lists the users of accountID ("" = every account where the
// caller holds ViewUser), with their grants at accounts the caller sees.
// Errors: KindNotFound, KindPermission.
func (r *Registry) ListUsers(ctx context.Context, p *Principal, accountID string) ([]UserWithGrants, error) {
	var out []UserWithGrants
	err := r.store.View(ctx, func(tx Tx) error {
		if p == nil {
			return E(KindUnauthenticated, "sign in first", nil)
		}
		if accountID != "" {
			if err := authorize(tx, p, PermViewUser, accountID); err != nil {
				return err
			}
		}
		visible, _, err := accountSets(tx, p, PermViewUser)
		if err != nil {
			return err
		}
		users, err := tx.FindUsers(UserFilter{AccountID: accountID})
		if err != nil {
			return internal("finding users", err)
		}
		for _, u := range users {
			if !visible[u.AccountID] {
				continue
			}
			uw, err := userWithGrants(tx, u, visible)
			if err != nil {
				return err
			}
			out = append(out, *uw)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetUser returns one user. Errors: KindNotFound, KindPermission.
func (r *Registry) GetUser(ctx context.Context, p *Principal, id string) (*UserWithGrants, error) {
	var out *UserWithGrants
	err := r.store.View(ctx, func(tx Tx) error {
		u, err := userFor(tx, p, PermViewUser, id)
		if err != nil {
			return err
		}
		visible, _, err := accountSets(tx, p, PermViewUser)
		if err != nil {
			return err
		}
		out, err = userWithGrants(tx, *u, visible)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// deactivateKeysRunningAs deactivates every active key that runs as the
// user (SPEC K10) and returns the accounts of the keys it changed.
func deactivateKeysRunningAs(tx Tx, now time.Time, actor, userID, reason string, remote netip.Addr) ([]string, error) {
	keys, err := tx.ListAPIKeysRunningAs(userID)
	if err != nil {
		return nil, internal("listing keys", err)
	}
	var accounts []string
	for i := range keys {
		k := &keys[i]
		if !k.Active {
			continue
		}
		k.Active, k.UpdatedAt = false, now
		if err := tx.UpdateAPIKey(k); err != nil {
			return nil, internal("deactivating key", err)
		}
		if err := audit(tx, now, actor, "apikey.update", k.AccountID, "apikey:"+k.ID, OutcomeSuccess, remote,
			map[string]string{"active": "false", "reason": reason, "run_as_user_id": userID}); err != nil {
			return nil, err
		}
		accounts = append(accounts, k.AccountID)
	}
	return accounts, nil
}

func (r *Registry) publishKeyChanges(accounts []string, at time.Time) {
	for _, a := range accounts {
		r.bus.Publish(Event{Type: "apikey.updated", AccountID: a, At: at})
	}
}

// UpdateUser changes a user; the caller needs ModifyUser at its account and
// every permission the user holds (no taking over a stronger identity).
// Disabling a user disables every key that runs as it (SPEC K10) and
// revokes its refresh tokens; a caller cannot disable itself. Errors:
// KindInvalid, KindNotFound, KindPermission, KindConflict.
func (r *Registry) UpdateUser(ctx context.Context, p *Principal, id string, u UserUpdate) (*UserWithGrants, error) {
	fields := map[string]string{}
	for name, v := range map[string]*string{"domain": u.Domain, "upn": u.UPN, "email": u.Email, "card id": u.CardID, "short id": u.ShortID} {
		if v != nil {
			fields[name] = *v
		}
	}
	if err := checkUserFields(fields); err != nil {
		return nil, err
	}
	var hash string
	if u.Password != nil {
		var err error
		if hash, err = hashNewPassword(*u.Password); err != nil {
			return nil, err
		}
	}
	now := r.now()
	var out *UserWithGrants
	var keyAccounts []string
	err := r.store.Update(ctx, func(tx Tx) error {
		keyAccounts = nil
		user, err := userFor(tx, p, PermModifyUser, id)
		if err != nil {
			return err
		}
		if user.ID != p.UserID || p.KeyID != "" { // a key holder is not the user it runs as
			grants, err := grantsOf(tx, user.ID)
			if err != nil {
				return internal("listing grants", err)
			}
			if err := p.covers(tx, grants); err != nil {
				return err
			}
		}
		changed := map[string]string{}
		set := func(field string, dst *string, v *string) {
			if v != nil && *dst != *v {
				*dst = *v
				changed[field] = *v
			}
		}
		set("domain", &user.Domain, u.Domain)
		set("upn", &user.UPN, u.UPN)
		set("email", &user.Email, u.Email)
		set("card_id", &user.CardID, u.CardID)
		set("short_id", &user.ShortID, u.ShortID)
		if u.Password != nil {
			user.PasswordHash = hash
			changed["password"] = map[bool]string{true: "set", false: "removed"}[hash != ""]
		}
		disabling := false
		if u.Disabled != nil && *u.Disabled != user.Disabled {
			if *u.Disabled && user.ID == p.UserID {
				return E(KindInvalid, "you cannot disable yourself", nil)
			}
			disabling = *u.Disabled
			user.Disabled = *u.Disabled
			changed["disabled"] = fmt.Sprint(user.Disabled)
		}
		if hasAny(changed, "card_id", "short_id") {
			if err := checkUniqueIDs(tx, user.AccountID, user.ID, user.CardID, user.ShortID); err != nil {
				return err
			}
		}
		if len(changed) > 0 {
			user.UpdatedAt = now
			if err := tx.UpdateUser(user); err != nil {
				if errors.Is(err, ErrConflict) {
					return E(KindConflict, "another user of this account has these names", err)
				}
				return internal("updating user", err)
			}
			if err := audit(tx, now, p.Actor(), "user.update", user.AccountID, "user:"+user.ID, OutcomeSuccess, u.Remote, changed); err != nil {
				return err
			}
		}
		if disabling {
			if keyAccounts, err = deactivateKeysRunningAs(tx, now, p.Actor(), user.ID, "run-as user disabled", u.Remote); err != nil {
				return err
			}
			if err := tx.RevokeRefreshTokensOf(SubjectUser, user.ID, now); err != nil {
				return internal("revoking tokens", err)
			}
		}
		visible, _, err := accountSets(tx, p, PermViewUser)
		if err != nil {
			return err
		}
		out, err = userWithGrants(tx, *user, visible)
		return err
	})
	if err != nil {
		return nil, err
	}
	r.publishKeyChanges(keyAccounts, now)
	return out, nil
}

// DeleteUser deletes a user, disables every key that runs as it (SPEC K10)
// and revokes its refresh tokens. A caller cannot delete itself, nor a user
// holding permissions it lacks. Errors: KindInvalid, KindNotFound,
// KindPermission.
func (r *Registry) DeleteUser(ctx context.Context, p *Principal, id string, remote netip.Addr) error {
	now := r.now()
	var keyAccounts []string
	err := r.store.Update(ctx, func(tx Tx) error {
		keyAccounts = nil
		user, err := userFor(tx, p, PermModifyUser, id)
		if err != nil {
			return err
		}
		if user.ID == p.UserID {
			return E(KindInvalid, "you cannot delete yourself", nil)
		}
		grants, err := grantsOf(tx, user.ID)
		if err != nil {
			return internal("listing grants", err)
		}
		if err := p.covers(tx, grants); err != nil {
			return err
		}
		if keyAccounts, err = deactivateKeysRunningAs(tx, now, p.Actor(), user.ID, "run-as user deleted", remote); err != nil {
			return err
		}
		if err := tx.RevokeRefreshTokensOf(SubjectUser, user.ID, now); err != nil {
			return internal("revoking tokens", err)
		}
		if err := tx.DeleteUser(user.ID); err != nil {
			return internal("deleting user", err)
		}
		return audit(tx, now, p.Actor(), "user.delete", user.AccountID, "user:"+user.ID, OutcomeSuccess, remote,
			map[string]string{"username": user.Username, "domain": user.Domain})
	})
	if err != nil {
		return err
	}
	r.publishKeyChanges(keyAccounts, now)
	return nil
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
	if err := authorize(tx, p, PermModifyUser, accountID); err != nil {
		return nil, nil, "", err
	}
	chain, err := chainIDs(tx, accountID)
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
		if err := authorize(tx, p, PermModifyUser, req.AccountID); err != nil {
			return err
		}
		chain, err := chainIDs(tx, req.AccountID)
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
		if err := authorize(tx, p, PermModifyUser, role.AccountID); err != nil {
			return err
		}
		chain, err := chainIDs(tx, role.AccountID)
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
