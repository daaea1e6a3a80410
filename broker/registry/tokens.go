package registry

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// issueDevice issues device tokens for ep in tx. acct, when not nil, is
// ep's account as read in tx already (it saves reading it again).
func (r *Registry) issueDevice(tx Tx, now time.Time, ep *Endpoint, acct *Account) (*issued, error) {
	c := Claims{Subject: ep.ID, Account: ep.AccountID, Type: TokenDevice, JKT: ep.KeyThumbprint}
	if acct != nil && acct.ID == ep.AccountID {
		return r.issueWith(tx, now, r.lifetimesFrom(acct), c, "")
	}
	return r.issue(tx, now, c, "")
}

// userClaims are the claims of a user token for u, logged in through
// endpointID ("" for a sign-in): its subject and account, and the names a
// relying service shows without asking the broker (docs/tokens.md).
func userClaims(u *User, endpointID string) Claims {
	return Claims{Subject: u.ID, Account: u.AccountID, Type: TokenUser, Endpoint: endpointID,
		PreferredUsername: u.Username, UPN: u.UPN, Email: u.Email, Domain: u.Domain}
}

// IssueDeviceTokens returns fresh tokens for a trusted endpoint whose key has
// the thumbprint jkt (proven by the caller's transport), connected from
// remote: the endpoint is seen. It is how a connected agent receives the
// tokens of a pushed approval. Errors: KindNotFound, KindAccessDenied (not
// trusted, or another key).
func (r *Registry) IssueDeviceTokens(ctx context.Context, endpointID, jkt string, remote netip.Addr) (*TokenPair, error) {
	now := r.now()
	var is *issued
	err := r.store.Update(ctx, func(tx Tx) error {
		ep, err := tx.GetEndpoint(endpointID)
		if errors.Is(err, ErrNotFound) {
			return E(KindNotFound, "no such endpoint", err)
		}
		if err != nil {
			return internal("looking up endpoint", err)
		}
		if ep.State != StateTrusted || ep.KeyThumbprint != jkt {
			return E(KindAccessDenied, "endpoint is not trusted", nil)
		}
		if err := seen(tx, now, ep, remote); err != nil {
			return err
		}
		is, err = r.issueDevice(tx, now, ep, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.mint(is)
}

// Refresh exchanges a refresh token for a new pair in the same chain (SPEC
// T2). jkt is the thumbprint of the key the caller proved ("" if none); a
// token bound to a key is refreshed only by its holder. remote is the
// caller's address: a device refreshing is seen from there. Reusing a spent
// token revokes its chain. Errors: KindInvalidGrant, KindAccessDenied.
func (r *Registry) Refresh(ctx context.Context, refreshToken, jkt string, remote netip.Addr) (*TokenPair, error) {
	return r.refresh(ctx, refreshToken, jkt, "", "", remote)
}

// RefreshUser is Refresh for user tokens only: a device's refresh token
// presented here is refused without being spent.
func (r *Registry) RefreshUser(ctx context.Context, refreshToken string) (*TokenPair, error) {
	return r.refresh(ctx, refreshToken, "", SubjectUser, "", netip.Addr{})
}

// refresh rotates a refresh token; subject "" accepts any subject type,
// subjectID "" any subject. A device refreshing is seen from remote.
//
// An endpoint's spent token whose successors are all unused is the
// immediately previous token of its chain, presented again because the
// answer carrying its successor was lost: it gets another successor
// (token.retry), up to maxSuccessors, and nothing is revoked. Any other
// spent token is a reuse (T2): its chain is revoked. A successor used when
// another successor of the same token was used already is two holders of
// one identity: a clone is suspected (SPEC R24, clones.go).
func (r *Registry) refresh(ctx context.Context, refreshToken, jkt, subject, subjectID string, remote netip.Addr) (*TokenPair, error) {
	now := r.now()
	var is *issued
	var reuse *RefreshToken
	var events []Event
	var lockedOut bool
	err := r.store.Update(ctx, func(tx Tx) error {
		is, reuse, events, lockedOut = nil, nil, nil, false
		rt, err := tx.ConsumeRefreshToken(hashOpaque(refreshToken), now)
		retry := false
		switch {
		case errors.Is(err, ErrNotFound):
			return E(KindInvalidGrant, "refresh token is invalid", err)
		case errors.Is(err, ErrConflict):
			if rt == nil || rt.UsedAt.IsZero() || !rt.RevokedAt.IsZero() {
				return E(KindInvalidGrant, "refresh token is spent, revoked or expired", err)
			}
			if retry, err = r.lostAnswer(tx, now, rt, jkt); err != nil {
				return err
			}
			if !retry {
				// A spent token presented again: someone holds a copy. Revoke the
				// chain (committed below) but never change the endpoint's trust.
				reuse = rt
				if err := tx.RevokeRefreshChain(rt.ChainID, now); err != nil {
					return internal("revoking chain", err)
				}
				return audit(tx, now, rt.SubjectType+":"+rt.SubjectID, "token.reuse", rt.AccountID, rt.ChainID, OutcomeFailure, netip.Addr{}, nil)
			}
		case err != nil:
			return internal("consuming refresh token", err)
		}
		if (subject != "" && rt.SubjectType != subject) || (subjectID != "" && rt.SubjectID != subjectID) {
			// Returning an error rolls the consumption back.
			return E(KindInvalidGrant, "refresh token is invalid", errors.New("wrong subject type"))
		}
		if rt.SubjectType == SubjectEndpoint {
			var err error
			is, events, lockedOut, err = r.refreshEndpoint(tx, now, rt, jkt, remote, retry)
			return err // a lock-out commits, and the caller is refused below
		}
		u, err := tx.GetUser(rt.SubjectID)
		if err != nil || u.Disabled {
			return E(KindInvalidGrant, "user is unknown or disabled", err)
		}
		if err := accountLive(tx, u.AccountID); err != nil {
			return E(KindInvalidGrant, "user is unknown or disabled", err)
		}
		if rt.EndpointID != "" {
			if _, err := trustedEndpoint(tx, rt.EndpointID); err != nil {
				return err
			}
		}
		lt, err := r.lifetimesOf(tx, u.AccountID)
		if err != nil {
			return err
		}
		is, err = r.issueChild(tx, now, lt, userClaims(u, rt.EndpointID), rt.ChainID, rt.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, ev := range events {
		r.publish(ev)
	}
	if lockedOut {
		return nil, E(KindAccessDenied, "endpoint is not trusted", errors.New("clone suspected: the account locks suspected clones out"))
	}
	if reuse != nil {
		return nil, E(KindInvalidGrant, "refresh token is spent, revoked or expired", errors.New("reuse detected; chain revoked"))
	}
	return r.mint(is)
}

// refreshEndpoint issues the successor of rt, an endpoint's refresh token
// consumed in tx (or, with retry, presented again after a lost answer),
// for the holder of the key jkt seen from remote. It returns the events to
// publish after the commit, and lockedOut when a suspected clone untrusted
// the endpoint (nothing is issued; the Update must commit).
func (r *Registry) refreshEndpoint(tx Tx, now time.Time, rt *RefreshToken, jkt string, remote netip.Addr, retry bool) (is *issued, events []Event, lockedOut bool, err error) {
	ep, err := trustedEndpoint(tx, rt.SubjectID)
	if err != nil {
		return nil, nil, false, err
	}
	if ep.KeyThumbprint != "" && ep.KeyThumbprint != jkt {
		return nil, nil, false, E(KindInvalidGrant, "refresh token is bound to another key", nil)
	}
	if retry {
		if err := audit(tx, now, "endpoint:"+ep.ID, "token.retry", rt.AccountID, rt.ChainID, OutcomeSuccess, remote,
			map[string]string{"token_id": rt.ID}); err != nil {
			return nil, nil, false, err
		}
	} else if events, lockedOut, err = r.detectClone(tx, now, rt, ep, remote); err != nil || lockedOut {
		return nil, events, lockedOut, err
	}
	if err := seen(tx, now, ep, remote); err != nil {
		return nil, nil, false, err
	}
	lt, err := r.lifetimesOf(tx, ep.AccountID)
	if err != nil {
		return nil, nil, false, err
	}
	c := Claims{Subject: ep.ID, Account: ep.AccountID, Type: TokenDevice, JKT: ep.KeyThumbprint}
	is, err = r.issueChild(tx, now, lt, c, rt.ChainID, rt.ID)
	return is, events, false, err
}

// TokenPair is an access token with its refresh token.
type TokenPair struct {
	AccessToken      string
	TokenType        string // "Bearer"
	ExpiresIn        time.Duration
	RefreshToken     string
	RefreshExpiresIn time.Duration
}

// refreshPrefix marks edgetrust refresh tokens for secret scanners.
const refreshPrefix = "etr_"

// lifetimes are the token lifetimes that apply to one account (SPEC T2).
type lifetimes struct{ device, user, refresh time.Duration }

// lifetimesOf returns the account's own token lifetimes, the broker's
// defaults where it sets none.
func (r *Registry) lifetimesOf(tx Tx, accountID string) (lifetimes, error) {
	a, err := tx.GetAccount(accountID)
	if errors.Is(err, ErrNotFound) {
		return r.lifetimesFrom(nil), nil
	}
	if err != nil {
		return lifetimes{}, internal("looking up account", err)
	}
	return r.lifetimesFrom(a), nil
}

// lifetimesFrom returns the token lifetimes of account a (nil = the
// broker's defaults).
func (r *Registry) lifetimesFrom(a *Account) lifetimes {
	lt := lifetimes{device: r.deviceTTL, user: r.userTTL, refresh: r.refreshTTL}
	if a == nil {
		return lt
	}
	lt.device = orDefault(a.Settings.DeviceTokenTTL, lt.device)
	lt.user = orDefault(a.Settings.UserTokenTTL, lt.user)
	lt.refresh = orDefault(a.Settings.RefreshTTL, lt.refresh)
	return lt
}

// issued is a token pair issued in a transaction whose access token is not
// signed yet. The refresh token is stored in the transaction; the access
// token is signed by mint once that transaction has committed, so that
// signing (Ed25519 and JSON) never holds the store's single writer.
type issued struct {
	claims Claims
	pair   TokenPair // without AccessToken
}

// mint signs the access token of is, which an Update issued and that Update
// returned nil (is is committed); a nil is gives a nil pair. A token is
// handed out only through mint, so never before its refresh token is
// durable.
func (r *Registry) mint(is *issued) (*TokenPair, error) {
	if is == nil {
		return nil, nil
	}
	access, err := r.signer.Mint(is.claims)
	if err != nil {
		return nil, internal("minting token", err)
	}
	tp := is.pair
	tp.AccessToken = access
	return &tp, nil
}

// issue issues, in tx, an access token for c and a refresh token in chain
// (a new chain when chain is ""), with the lifetimes of c's account. The
// caller mints the access token once tx has committed.
func (r *Registry) issue(tx Tx, now time.Time, c Claims, chain string) (*issued, error) {
	lt, err := r.lifetimesOf(tx, c.Account)
	if err != nil {
		return nil, err
	}
	return r.issueWith(tx, now, lt, c, chain)
}

// issueWith is issue with the lifetimes of c's account already known.
func (r *Registry) issueWith(tx Tx, now time.Time, lt lifetimes, c Claims, chain string) (*issued, error) {
	return r.issueChild(tx, now, lt, c, chain, "")
}

// issueChild is issueWith for the successor of the refresh token parent
// ("" for the first token of a chain): the link that tells a lost answer
// from a clone (SPEC R24).
func (r *Registry) issueChild(tx Tx, now time.Time, lt lifetimes, c Claims, chain, parent string) (*issued, error) {
	ttl := lt.user
	if c.Type == TokenDevice {
		ttl = lt.device
	}
	c.IssuedAt = now
	c.ExpiresAt = now.Add(ttl)
	if chain == "" {
		chain = newID()
	}
	if c.Type == TokenUser {
		c.Session = chain // ending the session (S6) ends this token at once
	}
	secret, hash := newOpaque(refreshPrefix)
	rt := &RefreshToken{
		ID: newID(), Hash: hash, ChainID: chain, AccountID: c.Account,
		IssuedAt: now, ExpiresAt: now.Add(lt.refresh), EndpointID: c.Endpoint, ParentID: parent,
	}
	switch c.Type {
	case TokenDevice:
		rt.SubjectType, rt.SubjectID = SubjectEndpoint, c.Subject
	default:
		rt.SubjectType, rt.SubjectID = SubjectUser, c.Subject
	}
	if err := tx.CreateRefreshToken(rt); err != nil {
		return nil, fmt.Errorf("storing refresh token: %w", err)
	}
	return &issued{claims: c, pair: TokenPair{TokenType: "Bearer", ExpiresIn: ttl, RefreshToken: secret, RefreshExpiresIn: lt.refresh}}, nil
}
