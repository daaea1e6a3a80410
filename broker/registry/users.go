package registry

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/edgetrust/edgetrust/protocol"
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
		chain, err := authorizedChain(tx, p, PermModifyUser, req.AccountID)
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
		r.publish(Event{Type: protocol.EventAPIKeyUpdated, AccountID: a, At: at})
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
