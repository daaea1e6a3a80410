package registry

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/edgetrust/edgetrust/broker/token"
)

// Principal is an authenticated admin or user acting on the API.
type Principal struct {
	UserID    string
	Username  string
	AccountID string // the user's own account (for a key: the key's account)
	// KeyID is set when the caller authenticated with an API key (SPEC K1):
	// it then acts as the key's run-as user.
	KeyID string
	// SessionID is the session (refresh-token chain) of the user token the
	// caller presented; "" for a key, or a token that names none.
	SessionID string
	grants    []resolvedGrant
}

type resolvedGrant struct {
	accountID string
	perms     []Permission
}

// Actor is the audit name of p.
func (p *Principal) Actor() string {
	if p.KeyID != "" {
		return "key:" + p.KeyID
	}
	return "user:" + p.UserID
}

// SignInRequest is an administrator's sign-in with a password (SPEC S3b).
type SignInRequest struct {
	Username  string
	Password  string
	AccountID string // needed only when the username exists in several accounts
	Remote    netip.Addr
}

// SignIn checks a username and password and issues a user token. It is
// rate-limited per address and per username and audited. Every failure looks
// the same: KindUnauthenticated (or KindRateLimited).
func (r *Registry) SignIn(ctx context.Context, req SignInRequest) (*TokenPair, *User, error) {
	now := r.now()
	fail := E(KindUnauthenticated, "sign-in failed: wrong username or password (name the account if the username exists in several)", nil)
	if !r.signIn.allow("addr:"+addrString(req.Remote), now) || !r.signIn.allow("user:"+strings.ToLower(req.Username), now) {
		r.auditSignIn(ctx, req, "", "", "rate limited")
		return nil, nil, E(KindRateLimited, "too many sign-in attempts; wait a minute and try again", nil)
	}
	if req.Username == "" || req.Password == "" || len(req.Username) > maxTextField || len(req.Password) > 1024 {
		return nil, nil, fail
	}
	var users []User
	err := r.store.View(ctx, func(tx Tx) error {
		var err error
		users, err = tx.FindUsers(UserFilter{Username: req.Username, AccountID: req.AccountID})
		return err
	})
	if err != nil {
		return nil, nil, internal("finding user", err)
	}
	// Only local accounts with a password can sign in; with several matches
	// the caller must name the account.
	users = slices.DeleteFunc(users, func(u User) bool { return u.PasswordHash == "" })
	if len(users) != 1 {
		_, _ = checkPassword(dummyHash(), req.Password)
		reason := "unknown user"
		if len(users) > 1 {
			reason = "username not unique; no account named"
		}
		r.auditSignIn(ctx, req, "", "", reason)
		return nil, nil, fail
	}
	u := users[0]
	ok, err := checkPassword(u.PasswordHash, req.Password)
	if err != nil || !ok || u.Disabled {
		reason := "wrong password"
		if u.Disabled {
			reason = "user disabled"
		}
		r.auditSignIn(ctx, req, u.ID, u.AccountID, reason)
		return nil, nil, fail
	}
	// A user of a disabled account (or one below it) cannot sign in: the
	// vendor's switch holds over the customer's administrators too.
	err = r.store.View(ctx, func(tx Tx) error { return accountLive(tx, u.AccountID) })
	if errors.Is(err, errAccountDisabled) {
		r.auditSignIn(ctx, req, u.ID, u.AccountID, "account disabled")
		return nil, nil, fail
	} else if err != nil {
		return nil, nil, internal("signing in", err)
	}
	var is *issued
	err = r.store.Update(ctx, func(tx Tx) error {
		var err error
		is, err = r.issue(tx, now, token.Claims{Subject: u.ID, Account: u.AccountID, Type: token.TypeUser}, "")
		if err != nil {
			return err
		}
		return audit(tx, now, "user:"+u.ID, "auth.signin", u.AccountID, "user:"+u.ID, OutcomeSuccess, req.Remote, nil)
	})
	if err != nil {
		return nil, nil, internal("signing in", err)
	}
	tp, err := r.mint(is)
	if err != nil {
		return nil, nil, err
	}
	u.PasswordHash = ""
	return tp, &u, nil
}

func (r *Registry) auditSignIn(ctx context.Context, req SignInRequest, userID, account, reason string) {
	now := r.now()
	target := "username:" + req.Username
	if userID != "" {
		target = "user:" + userID
	}
	_ = r.store.Update(ctx, func(tx Tx) error {
		return audit(tx, now, "anonymous", "auth.signin", account, target, OutcomeFailure, req.Remote, map[string]string{"reason": reason})
	})
}

// Authenticate verifies a user access token and returns the principal with
// its current grants (a revoked role takes effect at once). A token issued
// through an endpoint stops working as soon as that endpoint is no longer
// trusted; a token revoked (RFC 7009) or whose session was ended (SPEC S6)
// stops working at once. Errors: KindUnauthenticated.
func (r *Registry) Authenticate(ctx context.Context, accessToken string) (*Principal, error) {
	fail := func(err error) (*Principal, error) {
		return nil, E(KindUnauthenticated, "missing, invalid or expired user token; sign in again", err)
	}
	c, err := r.signer.Verify(accessToken)
	if err != nil {
		return fail(err)
	}
	if c.Type != token.TypeUser {
		return fail(errors.New("not a user token"))
	}
	var p *Principal
	err = r.store.View(ctx, func(tx Tx) error {
		u, err := tx.GetUser(c.Subject)
		if err != nil {
			return err
		}
		if u.Disabled {
			return errors.New("user disabled")
		}
		if err := accountLive(tx, u.AccountID); err != nil {
			return err
		}
		if err := tokenLive(tx, c); err != nil {
			return err
		}
		if c.Endpoint != "" {
			if _, err := trustedEndpoint(tx, c.Endpoint); err != nil {
				return err
			}
		}
		p = &Principal{UserID: u.ID, Username: u.Username, AccountID: u.AccountID, SessionID: c.Session}
		p.grants, err = grantsOf(tx, u.ID)
		return err
	})
	if err != nil {
		return fail(err)
	}
	return p, nil
}

// errTokenDead is the cause of refusing an access token that verifies but
// was revoked or whose session ended.
var errTokenDead = errors.New("access token revoked or its session ended")

// tokenLive refuses, with errTokenDead, an access token that was revoked
// (RFC 7009) or whose session was ended or caught reusing a spent refresh
// token (SPEC T2, S6); a store failure is an internal error.
func tokenLive(tx Tx, c *token.Claims) error {
	revoked, err := tx.AccessTokenRevoked(c.ID)
	if err != nil {
		return internal("looking up revocation", err)
	}
	if revoked {
		return errTokenDead
	}
	if c.Session == "" {
		return nil
	}
	ended, err := tx.RefreshChainRevoked(c.Session)
	if err != nil {
		return internal("looking up session", err)
	}
	if ended {
		return errTokenDead
	}
	return nil
}

// authorize checks that p holds perm at accountID (through a grant at the
// account or an ancestor). An account p cannot see at all answers
// KindNotFound, so ids cannot be probed; one it sees without perm answers
// KindPermission.
func authorize(tx Tx, p *Principal, perm Permission, accountID string) error {
	_, err := authorizedChain(tx, p, perm, accountID)
	return err
}

// authorizedChain is authorize that also returns the ids of accountID's
// chain (itself first), for callers that go on to check what p may hand
// out there (holdsAll).
func authorizedChain(tx Tx, p *Principal, perm Permission, accountID string) ([]string, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	chain, err := ancestors(tx, accountID)
	if errors.Is(err, ErrNotFound) {
		return nil, E(KindNotFound, "not found", err)
	}
	if err != nil {
		return nil, internal("walking account tree", err)
	}
	ids := accountIDs(chain)
	if err := p.check(ids, perm); err != nil {
		return nil, err
	}
	return ids, nil
}

// check decides perm for an account given its chain of ids (itself first).
func (p *Principal) check(chain []string, perm Permission) error {
	sees := false
	for _, g := range p.grants {
		if !slices.Contains(chain, g.accountID) {
			continue
		}
		sees = true
		if slices.Contains(g.perms, perm) {
			return nil
		}
	}
	if !sees {
		return E(KindNotFound, "not found", nil)
	}
	return E(KindPermission, "you lack the "+string(perm)+" permission for this account", nil)
}

// visibleAccounts returns the accounts where p holds perm, from one read of
// the account table.
func visibleAccounts(tx Tx, p *Principal, perm Permission) ([]Account, error) {
	var out []Account
	err := forEachAccount(tx, func(a *Account, chain []string) {
		if p.check(chain, perm) == nil {
			out = append(out, *a)
		}
	})
	return out, err
}

// grantsOf returns a user's grants with their roles' permissions.
func grantsOf(tx Tx, userID string) ([]resolvedGrant, error) {
	grants, err := tx.ListGrants(userID)
	if err != nil {
		return nil, fmt.Errorf("listing grants: %w", err)
	}
	var out []resolvedGrant
	for _, g := range grants {
		role, err := tx.GetRole(g.RoleID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("looking up role: %w", err)
		}
		out = append(out, resolvedGrant{accountID: g.AccountID, perms: role.Permissions})
	}
	return out, nil
}

// chainIDs returns the ids of an account and its ancestors, nearest first.
func chainIDs(tx Tx, accountID string) ([]string, error) {
	chain, err := ancestors(tx, accountID)
	if err != nil {
		return nil, internal("walking account tree", err)
	}
	return accountIDs(chain), nil
}

// holdsAll checks that p holds every one of perms at the account whose
// chain is given; it is how no one hands out a right they lack (roles,
// grants, a key's run-as identity). Errors: KindPermission.
func (p *Principal) holdsAll(chain []string, perms []Permission) error {
	for _, perm := range perms {
		if err := p.check(chain, perm); err != nil {
			return E(KindPermission, "you cannot hand out the "+string(perm)+" permission: you lack it at this account", nil)
		}
	}
	return nil
}

// covers checks that p holds, at each grant's account, every permission of
// grants: p may not take over or hand out a more powerful identity.
func (p *Principal) covers(tx Tx, grants []resolvedGrant) error {
	for _, g := range grants {
		chain, err := chainIDs(tx, g.accountID)
		if err != nil {
			return err
		}
		if err := p.holdsAll(chain, g.perms); err != nil {
			return err
		}
	}
	return nil
}

// auditDenied records, in its own transaction, an action p was refused for
// want of rights (KindPermission) or on something p cannot see
// (KindNotFound), so that every attempt to climb is on the trail. The row
// belongs to p's own account: the caller's administrators see it, and so
// does everyone above. Other errors are not recorded here.
func (r *Registry) auditDenied(ctx context.Context, p *Principal, action, target string, remote netip.Addr, err error) {
	if p == nil {
		return
	}
	switch KindOf(err) {
	case KindPermission, KindNotFound:
	default:
		return
	}
	now := r.now()
	_ = r.store.Update(ctx, func(tx Tx) error {
		return audit(tx, now, p.Actor(), action, p.AccountID, target, OutcomeFailure, remote,
			map[string]string{"reason": PublicMessage(err)})
	})
}
