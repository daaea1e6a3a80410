package registry

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// SignInRequest is an administrator's sign-in with a password (SPEC S3b).
type SignInRequest struct {
	Username  string
	Password  string
	AccountID string // needed only when the username exists in several accounts
	// DeviceToken is the device token of an earlier successful sign-in
	// of this user from this client ("" = none): see SignIn.
	DeviceToken string
	Remote      netip.Addr
}

// SignInResult is a successful sign-in.
type SignInResult struct {
	Tokens *TokenPair
	User   *User
	// DeviceToken marks the client as one this user signed in from (a
	// new one on each sign-in); the client keeps it and sends it back.
	DeviceToken string
}

// SignInLimits limit failed sign-ins (issue 15; OWASP's device cookies).
// A client without a device token of the user is limited per (user,
// address), per address, and per user (a lockout that bounds guessing
// spread over many addresses). A client with one is limited only by the
// failures of that device token, so no flood from elsewhere locks out a
// client the user has signed in from before.
type SignInLimits struct {
	PerUserAddress FailureLimit // 0 = 5 a minute
	PerAddress     FailureLimit // 0 = 20 a minute
	PerUser        FailureLimit // 0 = 10 a minute (clients without a device token)
	PerDevice      FailureLimit // 0 = 10 a minute (one device token)
	DeviceTokenTTL time.Duration
}

// DefaultSignInLimits are the limits a zero SignInLimits means.
var DefaultSignInLimits = SignInLimits{
	PerUserAddress: FailureLimit{N: 5, Per: time.Minute},
	PerAddress:     FailureLimit{N: 20, Per: time.Minute},
	PerUser:        FailureLimit{N: 10, Per: time.Minute},
	PerDevice:      FailureLimit{N: 10, Per: time.Minute},
	DeviceTokenTTL: 30 * 24 * time.Hour,
}

// tokenSignInDevice is the token_type of a sign-in device token. It names
// no user as a user token does: its subject is "signin-device:<user id>",
// so no relying service can take it for a user token (docs/tokens.md).
const (
	tokenSignInDevice   = "signin_device"
	signInDeviceSubject = "signin-device:"
)

type signInGuard struct {
	lim                          SignInLimits
	userAddr, addr, user, device *failureCounts
}

// SignInDeviceTokenTTL is how long a sign-in device token lasts (a
// console keeps its cookie as long).
func (r *Registry) SignInDeviceTokenTTL() time.Duration { return r.signInGuard.lim.DeviceTokenTTL }

func newSignInGuard(l SignInLimits) *signInGuard {
	d := DefaultSignInLimits
	or := func(v, def FailureLimit) FailureLimit {
		if v.N <= 0 || v.Per <= 0 {
			return def
		}
		return v
	}
	l.PerUserAddress = or(l.PerUserAddress, d.PerUserAddress)
	l.PerAddress = or(l.PerAddress, d.PerAddress)
	l.PerUser = or(l.PerUser, d.PerUser)
	l.PerDevice = or(l.PerDevice, d.PerDevice)
	if l.DeviceTokenTTL <= 0 {
		l.DeviceTokenTTL = d.DeviceTokenTTL
	}
	return &signInGuard{lim: l, userAddr: newFailureCounts("user:", l.PerUserAddress.Per), addr: newFailureCounts("addr:", l.PerAddress.Per),
		user: newFailureCounts("user:", l.PerUser.Per), device: newFailureCounts("dev:", l.PerDevice.Per)}
}

// signInScopes are the scopes a sign-in attempt is checked and counted
// under (signInGuard.over, fail).
type signInScopes struct {
	device         string // "dev:<jti>" of a valid device token of the user, or ""
	userAddr, addr string
	user           string
}

func (g *signInGuard) over(sc signInScopes, now time.Time) (bool, time.Duration) {
	if sc.device != "" {
		return g.device.over(sc.device, g.lim.PerDevice.N, now)
	}
	retry := time.Duration(0)
	over := false
	for _, c := range []struct {
		fc    *failureCounts
		scope string
		n     int
	}{{g.userAddr, sc.userAddr, g.lim.PerUserAddress.N}, {g.addr, sc.addr, g.lim.PerAddress.N}, {g.user, sc.user, g.lim.PerUser.N}} {
		if o, rt := c.fc.over(c.scope, c.n, now); o {
			over, retry = true, max(retry, rt)
		}
	}
	return over, retry
}

// fail counts a failed attempt. A client with a device token counts under
// it and under its own address (so once the token is past its failures it
// is limited there as any client), never under the user: failures of
// known clients do not move the lockout of the others, nor the reverse.
func (g *signInGuard) fail(sc signInScopes, now time.Time) {
	g.userAddr.add(now, sc.userAddr)
	g.addr.add(now, sc.addr)
	if sc.device != "" {
		g.device.add(now, sc.device)
		return
	}
	g.user.add(now, sc.user)
}

// untrustedScopes are the scopes of a password attempt for username from
// remote by a client without a device token.
func untrustedScopes(username string, remote netip.Addr) signInScopes {
	return signInScopes{
		userAddr: "user:" + strings.ToLower(username) + "|" + addrScope(remote),
		addr:     addrScope(remote),
		user:     "user:" + strings.ToLower(username),
	}
}

// passwordLimited returns the limited answer when a password attempt for
// username from remote without a device token is limited now, else nil.
// Device logins with a password (login.go) share these counts with the
// admin sign-in, so neither path adds guesses to the other's.
func (r *Registry) passwordLimited(username string, remote netip.Addr, now time.Time) error {
	if over, retry := r.signInGuard.over(untrustedScopes(username, remote), now); over {
		return r.limited(RateLimitSignIn, retry, nil)
	}
	return nil
}

// passwordFailed counts a wrong password for username from remote
// (without a device token).
func (r *Registry) passwordFailed(username string, remote netip.Addr, now time.Time) {
	r.signInGuard.fail(untrustedScopes(username, remote), now)
}

// deviceOf returns the jti of tok when it is a valid sign-in device token
// of userID, or "".
func (r *Registry) deviceOf(tok, userID string) string {
	if tok == "" || userID == "" {
		return ""
	}
	c, err := r.signer.Verify(tok)
	if err != nil || c.Type != tokenSignInDevice || c.Subject != signInDeviceSubject+userID || c.ID == "" {
		return ""
	}
	return "dev:" + c.ID
}

// SignIn checks a username and password and issues a user token and a new
// device token (SPEC S3b). Failures are limited as SignInLimits says: a
// client sending a valid device token of the user is limited only by that
// token's own failures (past them it counts as a client without one); any
// other client per (user, address), per address and per user. A limited
// attempt is refused before the password is checked. Every failure looks
// the same: KindUnauthenticated, or KindRateLimited with RetryAfter;
// both are audited.
func (r *Registry) SignIn(ctx context.Context, req SignInRequest) (*SignInResult, error) {
	now := r.now()
	fail := E(KindUnauthenticated, "sign-in failed: wrong username or password (name the account if the username exists in several)", nil)
	if req.Username == "" || req.Password == "" || len(req.Username) > maxTextField || len(req.Password) > 1024 || len(req.DeviceToken) > 4096 {
		return nil, fail
	}
	var users []User
	err := r.store.View(ctx, func(tx Tx) error {
		var err error
		users, err = tx.FindUsers(UserFilter{Username: req.Username, AccountID: req.AccountID})
		return err
	})
	if err != nil {
		return nil, internal("finding user", err)
	}
	// Only local accounts with a password can sign in; with several matches
	// the caller must name the account.
	users = slices.DeleteFunc(users, func(u User) bool { return u.PasswordHash == "" })
	var u *User
	if len(users) == 1 {
		u = &users[0]
	}
	g := r.signInGuard
	sc := untrustedScopes(req.Username, req.Remote)
	if u != nil {
		sc.device = r.deviceOf(req.DeviceToken, u.ID)
		if sc.device != "" {
			if over, _ := g.device.over(sc.device, g.lim.PerDevice.N, now); over {
				sc.device = "" // a device token past its failures is no better than none
			}
		}
	}
	if over, retry := g.over(sc, now); over {
		// Folded: a flood of limited attempts writes a row a minute per
		// source, not one per attempt.
		r.auditFolded(ctx, "auth.signin", AuditEvent{Time: now, Actor: "anonymous", Target: "username:" + req.Username,
			Outcome: OutcomeFailure, Remote: addrString(req.Remote), Detail: map[string]string{"reason": "rate limited"}}, req.Remote)
		return nil, r.limited(RateLimitSignIn, retry, nil)
	}
	if u == nil {
		_, _ = checkPassword(dummyHash(), req.Password)
		reason := "unknown user"
		if len(users) > 1 {
			reason = "username not unique; no account named"
		}
		g.fail(sc, now)
		r.auditSignIn(ctx, req, "", "", reason)
		return nil, fail
	}
	ok, err := checkPassword(u.PasswordHash, req.Password)
	if err != nil || !ok || u.Disabled {
		reason := "wrong password"
		if u.Disabled {
			reason = "user disabled"
		}
		g.fail(sc, now)
		r.auditSignIn(ctx, req, u.ID, u.AccountID, reason)
		return nil, fail
	}
	// A user of a disabled account (or one below it) cannot sign in: the
	// vendor's switch holds over the customer's administrators too.
	err = r.store.View(ctx, func(tx Tx) error { return accountLive(tx, u.AccountID) })
	if errors.Is(err, errAccountDisabled) {
		r.auditSignIn(ctx, req, u.ID, u.AccountID, "account disabled")
		return nil, fail
	} else if err != nil {
		return nil, internal("signing in", err)
	}
	var is *issued
	err = r.store.Update(ctx, func(tx Tx) error {
		var err error
		is, err = r.issue(tx, now, userClaims(u, ""), "")
		if err != nil {
			return err
		}
		var detail map[string]string
		if sc.device != "" {
			detail = map[string]string{"device": "known"}
		}
		return audit(tx, now, "user:"+u.ID, "auth.signin", u.AccountID, "user:"+u.ID, OutcomeSuccess, req.Remote, detail)
	})
	if err != nil {
		return nil, internal("signing in", err)
	}
	tp, err := r.mint(is)
	if err != nil {
		return nil, err
	}
	dev, err := r.signer.Mint(Claims{Subject: signInDeviceSubject + u.ID, Account: u.AccountID, Type: tokenSignInDevice,
		IssuedAt: now, ExpiresAt: now.Add(g.lim.DeviceTokenTTL)})
	if err != nil {
		return nil, internal("minting device token", err)
	}
	out := *u
	out.PasswordHash = ""
	return &SignInResult{Tokens: tp, User: &out, DeviceToken: dev}, nil
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
