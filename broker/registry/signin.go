package registry

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
)

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
		r.obs.RateLimited(RateLimitSignIn)
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
		is, err = r.issue(tx, now, userClaims(&u, ""), "")
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
