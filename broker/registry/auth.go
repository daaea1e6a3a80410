package registry

import (
	"context"
	"errors"
	"net/netip"
)

// CallCredentials are what a call of the API (other than sign-in and
// device login) presented (SPEC S5, K1, K11).
type CallCredentials struct {
	APIKey    string // an API key value; "" = none
	UserToken string // a user access token; "" = none
	Remote    netip.Addr
	// Admin marks the admin routes (accounts, users, roles, keys,
	// endpoints, audit): a key is accepted on them only with full API
	// access (K1). A user's own routes (sessions) need no such key.
	Admin bool
}

// AuthenticateCall decides who makes an API call (SPEC S5, K1, K8, K11):
//
//   - a user token alone: its user (as Authenticate); administrators sign in
//     without an API key (S3b);
//   - an API key and a user token: the key must pass every check of K8 and,
//     on an admin route, have full API access; the caller is the token's
//     user with the user's own rights;
//   - an API key alone: the key must pass K8, allow unauthenticated
//     requests (S5) and, on an admin route, have full API access; the
//     caller acts as the key's run-as identity: its run-as role at the key's
//     account or, without one, its run-as user's grants limited to the
//     key's account and below. A key with neither, or whose run-as user is
//     gone or disabled, is refused. Its actions are audited as "key:<id>".
//
// Errors: KindUnauthenticated (no credentials, or a user token that is not
// valid now) and KindInvalidClient for every refusal of a key, whatever
// the reason, which goes only to the audit trail ("auth.apikey") and the
// log.
func (r *Registry) AuthenticateCall(ctx context.Context, c CallCredentials) (*Principal, error) {
	switch {
	case c.APIKey == "" && c.UserToken == "":
		return nil, E(KindUnauthenticated, "no credentials", nil)
	case c.APIKey == "":
		return r.Authenticate(ctx, c.UserToken)
	}
	if err := r.admitKey(ctx, "auth.apikey", c.APIKey, c.Remote, ""); err != nil {
		return nil, err
	}
	now := r.now()
	var p *Principal
	err := r.store.Update(ctx, func(tx Tx) error {
		p = nil
		ku, err := r.checkKey(tx, now, c.APIKey, "", c.Remote)
		if err != nil {
			return err
		}
		k := ku.key
		if c.Admin && !k.FullAPIAccess {
			return ku.refuse("no full API access")
		}
		if c.UserToken != "" {
			// The user acts; the key only admitted the call.
			return recordUse(tx, now, ku, c.Remote)
		}
		if !k.AllowUnauthenticated {
			return ku.refuse("no user token, and the key does not allow unauthenticated requests")
		}
		pr := &Principal{AccountID: k.AccountID, KeyID: k.ID}
		if k.RunAsUserID != "" {
			u, err := tx.GetUser(k.RunAsUserID)
			if errors.Is(err, ErrNotFound) {
				return ku.refuse("run-as user unknown")
			}
			if err != nil {
				return internal("looking up user", err)
			}
			if u.Disabled {
				return ku.refuse("run-as user disabled")
			}
			pr.UserID, pr.Username = u.ID, u.Username
		}
		switch {
		case k.RunAsRoleID != "":
			role, err := tx.GetRole(k.RunAsRoleID)
			if errors.Is(err, ErrNotFound) {
				return ku.refuse("run-as role unknown")
			} else if err != nil {
				return internal("looking up role", err)
			}
			pr.grants = runAsRoleGrants(k, role)
		case k.RunAsUserID == "":
			return ku.refuse("no run-as user or role")
		default:
			if pr.grants, err = runAsUserGrants(tx, k); err != nil {
				return err
			}
		}
		if err := recordUse(tx, now, ku, c.Remote); err != nil {
			return err
		}
		p = pr
		return audit(tx, now, pr.Actor(), "auth.apikey", k.AccountID, "apikey:"+k.ID, OutcomeSuccess, c.Remote,
			map[string]string{"key_public_id": ku.value.PublicID})
	})
	if err != nil {
		if KindOf(err) == KindInvalidClient {
			err = r.keyRefused(ctx, "auth.apikey", err, c.Remote, "")
		}
		return nil, err
	}
	if c.UserToken != "" {
		return r.Authenticate(ctx, c.UserToken)
	}
	return p, nil
}

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

// Authenticate verifies a user access token and returns the principal with
// its current grants (a revoked role takes effect at once). A token issued
// through an endpoint stops working as soon as that endpoint is no longer
// trusted; a token revoked (RFC 7009) or whose session was ended (SPEC S6)
// stops working at once. Errors: KindUnauthenticated for every refusal;
// KindInternal (KindUnavailable while the broker cannot read fresh state)
// when the store fails: no verdict on the token, which a caller told
// "sign in again" would drop.
func (r *Registry) Authenticate(ctx context.Context, accessToken string) (*Principal, error) {
	fail := func(err error) (*Principal, error) {
		return nil, E(KindUnauthenticated, "missing, invalid or expired user token; sign in again", err)
	}
	c, err := r.signer.Verify(accessToken)
	if err != nil {
		return fail(err)
	}
	if c.Type != TokenUser {
		return fail(errors.New("not a user token"))
	}
	var p *Principal
	var refused error
	err = r.store.View(ctx, func(tx Tx) error {
		p, refused = nil, nil
		refuse := func(err error) error { refused = err; return nil }
		u, err := tx.GetUser(c.Subject)
		switch {
		case errors.Is(err, ErrNotFound):
			return refuse(err)
		case err != nil:
			return internal("looking up user", err)
		case u.Disabled:
			return refuse(errors.New("user disabled"))
		}
		if err := accountLive(tx, u.AccountID); errors.Is(err, errAccountDisabled) {
			return refuse(err)
		} else if err != nil {
			return err
		}
		if err := tokenLive(tx, c); errors.Is(err, errTokenDead) {
			return refuse(err)
		} else if err != nil {
			return err
		}
		if c.Endpoint != "" {
			if _, err := trustedEndpoint(tx, c.Endpoint); KindOf(err) == KindAccessDenied {
				return refuse(err)
			} else if err != nil {
				return err
			}
		}
		grants, err := grantsOf(tx, u.ID)
		if err != nil {
			return internal("reading grants", err)
		}
		p = &Principal{UserID: u.ID, Username: u.Username, AccountID: u.AccountID, SessionID: c.Session, grants: grants}
		return nil
	})
	if err != nil {
		return nil, internal("authenticating a user token", err)
	}
	if refused != nil {
		return fail(refused)
	}
	return p, nil
}

// errTokenDead is the cause of refusing an access token that verifies but
// was revoked or whose session ended.
var errTokenDead = errors.New("access token revoked or its session ended")

// tokenLive refuses, with errTokenDead, an access token that was revoked
// (RFC 7009) or whose session was ended or caught reusing a spent refresh
// token (SPEC T2, S6); a store failure is an internal error.
func tokenLive(tx Tx, c *Claims) error {
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

// AuthenticateKey authenticates an admin API call made with an API key
// and no user token (SPEC K1, K11, S5): AuthenticateCall with only the key,
// on an admin route.
func (r *Registry) AuthenticateKey(ctx context.Context, value string, remote netip.Addr) (*Principal, error) {
	return r.AuthenticateCall(ctx, CallCredentials{APIKey: value, Remote: remote, Admin: true})
}
