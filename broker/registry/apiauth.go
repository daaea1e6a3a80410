package registry

import (
	"context"
	"errors"
	"net/netip"
	"time"
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
			r.auditRefusal(ctx, "auth.apikey", err, c.Remote, "")
		}
		return nil, err
	}
	if c.UserToken != "" {
		return r.Authenticate(ctx, c.UserToken)
	}
	return p, nil
}

// usageResolution is how fresh a value's "last used" and an endpoint's
// "last seen" are kept: a use within this time of the recorded one, from the
// same address, writes nothing. A busy device's logins and calls would
// otherwise rewrite the same two rows on every request.
const usageResolution = time.Minute

// fresh reports whether a use at now from `from` adds nothing to one
// recorded at `last` from `lastFrom`.
func fresh(last time.Time, lastFrom string, now time.Time, from string) bool {
	return !last.IsZero() && lastFrom == from && now.Sub(last) >= 0 && now.Sub(last) < usageResolution
}

// recordUse records a key value's use by a call (it consumes no use, K8).
func recordUse(tx Tx, now time.Time, ku *keyUse, remote netip.Addr) error {
	from := addrString(remote)
	if fresh(ku.value.LastUsedAt, ku.value.LastUsedFrom, now, from) {
		return nil
	}
	if err := tx.RecordKeyUse(ku.value.ID, now, from, false); err != nil {
		return internal("recording key use", err)
	}
	ku.value.LastUsedAt, ku.value.LastUsedFrom = now, from
	return nil
}

// seen records that an endpoint was seen now from remote.
func seen(tx Tx, now time.Time, ep *Endpoint, remote netip.Addr) error {
	from := addrString(remote)
	if fresh(ep.LastSeenAt, ep.LastSeenFrom, now, from) {
		return nil
	}
	if err := tx.TouchEndpoint(ep.ID, now, from); err != nil && !errors.Is(err, ErrNotFound) {
		return internal("touching endpoint", err)
	}
	ep.LastSeenAt, ep.LastSeenFrom = now, from
	return nil
}
