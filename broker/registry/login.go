package registry

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/edgetrust/edgetrust/broker/token"
)

// Login types (SPEC S1).
const (
	LoginSessionUser       = "session_user"
	LoginSessionUserDomain = "session_user_domain"
	LoginUPN               = "upn"
	LoginPassword          = "password"
	LoginCardID            = "card_id"
	LoginShortID           = "short_id"
)

// LoginRequest is a user login from a device (SPEC S1–S3a, S7).
type LoginRequest struct {
	APIKey string
	// DeviceToken is the device access token of the endpoint; required
	// unless the key allows untrusted endpoints (S2).
	DeviceToken string
	// JKT is the thumbprint of the key the caller proved on its transport
	// ("" if none). A token bound to a key is accepted only with that proof.
	JKT      string
	Type     string
	Username string
	Domain   string
	UPN      string
	Remote   netip.Addr
}

// Login issues a user token for the person logged in on a device. Session
// types through a trusted endpoint are secure logins (S3): the transport
// vouches for the OS user. Users are looked up only in the endpoint's own
// account and a user holding any role is refused (S3a); an unknown user is
// created without roles unless the account forbids it (S7). Errors:
// KindInvalid, KindInvalidClient, KindAccessDenied, KindUnknownUser,
// KindLoginRefused.
func (r *Registry) Login(ctx context.Context, req LoginRequest) (*TokenPair, error) {
	switch req.Type {
	case LoginSessionUser, LoginSessionUserDomain, LoginUPN:
	case LoginPassword, LoginCardID, LoginShortID:
		return nil, E(KindInvalid, fmt.Sprintf("login type %q is not available on this broker yet", req.Type), nil)
	default:
		return nil, E(KindInvalid, fmt.Sprintf("unknown login type %q", req.Type), nil)
	}
	if err := validateLoginNames(&req); err != nil {
		return nil, err
	}
	var dev *token.Claims
	if req.DeviceToken != "" {
		c, err := r.signer.Verify(req.DeviceToken)
		if err != nil || c.Type != token.TypeDevice {
			return nil, E(KindAccessDenied, "device token is invalid or expired", err)
		}
		if c.JKT != "" && c.JKT != req.JKT {
			return nil, E(KindAccessDenied, "device token is bound to another key", nil)
		}
		dev = c
	}
	now := r.now()
	var tp *TokenPair

	err := r.store.Update(ctx, func(tx Tx) error {
		tp = nil
		target := ""
		if dev != nil {
			target = dev.Account
		}
		ku, err := r.checkKey(tx, now, req.APIKey, target, req.Remote)
		if err != nil {
			return err
		}
		account := ku.target.ID
		endpointID := ""
		if dev != nil {
			ep, err := trustedEndpoint(tx, dev.Subject)
			if err != nil {
				return err
			}
			account, endpointID = ep.AccountID, ep.ID
		} else if !ku.key.AllowUntrustedEndpoints {
			return E(KindAccessDenied, "a trusted endpoint's device token is required", nil)
		}
		u, err := r.findOrCreateSessionUser(tx, now, account, &req)
		if err != nil {
			return err
		}

		grants, err := tx.ListGrants(u.ID)
		if err != nil {
			return internal("listing grants", err)
		}
		if len(grants) > 0 || u.Disabled {
			return E(KindLoginRefused, "this user cannot log in through a device", nil)
		}
		tp, err = r.issue(tx, now, token.Claims{Subject: u.ID, Account: u.AccountID, Type: token.TypeUser, Endpoint: endpointID}, "")
		if err != nil {
			return err
		}
		return audit(tx, now, actorOf(endpointID, ku.key.ID), "login."+req.Type, account, "user:"+u.ID, OutcomeSuccess, req.Remote,
			map[string]string{"username": u.Username, "key_id": ku.key.ID})
	})
	if err != nil {
		r.auditLoginFailure(ctx, &req, dev, err)
		return nil, err
	}
	return tp, nil
}

func actorOf(endpointID, keyID string) string {
	if endpointID != "" {
		return "endpoint:" + endpointID
	}
	return "key:" + keyID
}

func (r *Registry) auditLoginFailure(ctx context.Context, req *LoginRequest, dev *token.Claims, err error) {
	if KindOf(err) == KindInvalidClient {
		r.auditRefusal(ctx, "login."+req.Type, err, req.Remote, req.Username)
		return
	}
	if KindOf(err) == KindInternal {
		return
	}
	now := r.now()
	actor, account := "anonymous", ""
	if dev != nil {
		actor, account = "endpoint:"+dev.Subject, dev.Account
	}
	_ = r.store.Update(ctx, func(tx Tx) error {
		return audit(tx, now, actor, "login."+req.Type, account, "username:"+req.Username, OutcomeFailure, req.Remote,
			map[string]string{"reason": KindOf(err).String()})
	})
}

func validateLoginNames(req *LoginRequest) error {
	for name, v := range map[string]string{"username": req.Username, "domain": req.Domain, "upn": req.UPN} {
		if len(v) > maxTextField || strings.ContainsAny(v, "\x00\r\n") {
			return E(KindInvalid, name+" is too long or has control characters", nil)
		}
	}
	switch req.Type {
	case LoginUPN:
		if req.UPN == "" && req.Username == "" {
			return E(KindInvalid, "upn is required", nil)
		}
	case LoginSessionUserDomain:
		if req.Username == "" || req.Domain == "" {
			return E(KindInvalid, "username and domain are required", nil)
		}
	default:
		if req.Username == "" {
			return E(KindInvalid, "username is required", nil)
		}
	}
	return nil
}

// findOrCreateSessionUser finds the user a session login names in account,
// creating it (S7) when the account allows it. session_user names a user
// without a domain; session_user_domain one with that domain; upn the user
// with that UPN or, failing that, the user and domain it spells.
func (r *Registry) findOrCreateSessionUser(tx Tx, now time.Time, account string, req *LoginRequest) (*User, error) {
	u := &User{AccountID: account, Source: UserSourceSession}
	switch req.Type {
	case LoginUPN:
		upn := req.UPN
		if upn == "" {
			upn = req.Username
		}
		u.UPN = upn
		u.Username, u.Domain, _ = strings.Cut(upn, "@")
		found, err := findUser(tx, UserFilter{AccountID: account, UPN: upn}, nil)
		if err != nil || found != nil {
			return found, err
		}
	case LoginSessionUserDomain:
		u.Username, u.Domain = req.Username, req.Domain
	default:
		u.Username = req.Username
	}
	found, err := findUser(tx, UserFilter{AccountID: account, Username: u.Username, Domain: u.Domain},
		func(c *User) bool { return strings.EqualFold(c.Domain, u.Domain) })
	if err != nil || found != nil {
		return found, err
	}
	acct, err := tx.GetAccount(account)
	if err != nil {
		return nil, internal("looking up account", err)
	}
	if acct.DenyUserCreation {
		return nil, E(KindUnknownUser, "unknown user", nil)
	}
	u.ID, u.CreatedAt, u.UpdatedAt = newID(), now, now
	if err := tx.CreateUser(u); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, E(KindConflict, "user created concurrently; retry", err)
		}
		return nil, internal("creating user", err)
	}
	if err := audit(tx, now, "system", "user.create", account, "user:"+u.ID, OutcomeSuccess, netip.Addr{},
		map[string]string{"username": u.Username, "source": UserSourceSession}); err != nil {
		return nil, err
	}
	return u, nil
}

// findUser returns the first user matching f (and keep, when set), or nil.
func findUser(tx Tx, f UserFilter, keep func(*User) bool) (*User, error) {
	users, err := tx.FindUsers(f)
	if err != nil {
		return nil, internal("finding user", err)
	}
	for i := range users {
		if keep == nil || keep(&users[i]) {
			return &users[i], nil
		}
	}
	return nil, nil
}
