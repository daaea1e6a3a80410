package registry

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/edgetrust/edgetrust/broker/apikey"
)

// keyUse is a key that passed every check of SPEC K8 for a target account.
type keyUse struct {
	key    *APIKey
	value  *KeyValue
	target *Account // the account the caller acts on: the key's own or a descendant
}

// refusal is why a key was refused; it goes to the audit trail, never to the caller.
type refusal struct {
	reason   string
	publicID string
	keyID    string
	account  string
}

func (f *refusal) Error() string { return "api key refused: " + f.reason }

// errKeyRefused is what every caller sees, whatever the reason (SPEC K8).
func errKeyRefused(f *refusal) error {
	return E(KindInvalidClient, "invalid client credentials", f)
}

// refuse refuses the key of u for reason (errKeyRefused), naming its value,
// key and account in the audit trail.
func (u *keyUse) refuse(reason string) error {
	return errKeyRefused(&refusal{reason: reason, publicID: u.value.PublicID, keyID: u.key.ID, account: u.key.AccountID})
}

// checkKey verifies value for targetAccountID ("" = the key's own account)
// from address remote. It returns a *refusal (wrapped by errKeyRefused) for
// every K8 reason.
func (r *Registry) checkKey(tx Tx, now time.Time, value, targetAccountID string, remote netip.Addr) (*keyUse, error) {
	refuse := func(f refusal) (*keyUse, error) { return nil, errKeyRefused(&f) }
	publicID, err := apikey.Parse(value)
	if err != nil {
		return refuse(refusal{reason: "malformed"})
	}
	r.keyChecks.Add(1)
	v, err := tx.GetKeyValueByPublicID(publicID)
	if errors.Is(err, ErrNotFound) {
		// Hash anyway so an unknown id takes as long as a wrong secret.
		apikey.Verify(value, make([]byte, 32))
		gone, err := tx.GetDeletedKeyValue(publicID)
		if errors.Is(err, ErrNotFound) {
			return refuse(refusal{reason: "unknown", publicID: publicID})
		}
		if err != nil {
			return nil, storeUnavailable("looking up deleted key value", err)
		}
		return refuse(refusal{reason: "key deleted", publicID: publicID, keyID: gone.KeyID, account: gone.AccountID})
	}
	if err != nil {
		return nil, storeUnavailable("looking up key value", err)
	}
	if !apikey.Verify(value, v.SecretHash) {
		return refuse(refusal{reason: "wrong secret", publicID: publicID, keyID: v.KeyID})
	}
	k, err := tx.GetAPIKey(v.KeyID)
	if err != nil {
		return nil, storeUnavailable("looking up key", err)
	}
	f := refusal{publicID: publicID, keyID: k.ID, account: k.AccountID}
	switch {
	case !v.RevokedAt.IsZero():
		f.reason = "value revoked"
	case !v.ExpiresAt.IsZero() && !now.Before(v.ExpiresAt):
		f.reason = "value expired"
	case !k.Active:
		f.reason = "key inactive"
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		f.reason = "key expired"
	case !ipAllowed(k.AllowedIPs, remote):
		f.reason = "address not allowed"
	}
	if f.reason != "" {
		return refuse(f)
	}
	if targetAccountID == "" {
		targetAccountID = k.AccountID
	}
	chain, err := ancestors(tx, targetAccountID)
	if errors.Is(err, ErrNotFound) {
		f.reason = "unknown target account"
		return refuse(f)
	}
	if err != nil {
		return nil, storeUnavailable("walking account tree", err)
	}
	target := chain[0]
	if !slices.Contains(accountIDs(chain), k.AccountID) {
		f.reason = "key does not belong to the target account or an ancestor"
		return refuse(f)
	}
	if slices.ContainsFunc(chain, func(a *Account) bool { return a.Disabled }) {
		f.reason = "account disabled"
		return refuse(f)
	}
	return &keyUse{key: k, value: v, target: target}, nil
}

func ipAllowed(allowed []netip.Prefix, remote netip.Addr) bool {
	if len(allowed) == 0 {
		return true
	}
	remote = remote.Unmap()
	for _, p := range allowed {
		if p.Contains(remote) {
			return true
		}
	}
	return false
}

// storeUnavailable is a store failure while checking a key: the caller is
// told to try again (KindUnavailable), and nothing is counted against it
// (issue 15: a store error is no failed presentation).
func storeUnavailable(what string, err error) error {
	if k := KindOf(err); k != KindInternal {
		return err
	}
	return E(KindUnavailable, "the broker cannot check the key now; try again shortly", fmt.Errorf("%s: %w", what, err))
}

// The key gate (issue 15): failed key presentations are counted per source
// address (IPv6 by /64) and per key public id, in memory, merged through
// the store at most once a second (MergeFailures). Once either has reached
// its limit, a presentation from that address or for that id is first
// checked here, outside the use case's transaction: format and checksum
// (no store), then one read of the value by its public id and its secret's
// hash. A value that passes goes on to the use case, so a valid key behind
// a site's NAT is admitted while a misconfigured neighbour is limited, and
// a leaked public id hammered by others still admits its holder. Anything
// else gets the limited answer (KindLimited), the same whatever the
// reason, and never reaches the use case (checkKey). Limited answers are
// not counted: the count is of presentations that reached the key check,
// so a limited caller gets about the limit's worth of them a window and
// the count falls back by itself.

// admitKey is the gate before a use case that checks value from remote.
// It returns nil to go on, or a KindLimited or KindUnavailable error.
// action and target name the use case in the audit trail.
func (r *Registry) admitKey(ctx context.Context, action, value string, remote netip.Addr, target string) error {
	now := r.now()
	publicID, perr := apikey.Parse(value)
	overAddr, retry := r.addrFails.over(addrScope(remote), r.keyLimits.PerAddress.N, now)
	overKey := false
	if perr == nil {
		var rk time.Duration
		overKey, rk = r.keyFails.over("key:"+publicID, r.keyLimits.PerKey.N, now)
		retry = max(retry, rk)
	}
	if !overAddr && !overKey {
		return nil
	}
	f := &refusal{reason: "malformed", publicID: publicID}
	if perr == nil {
		var ok bool
		err := r.store.View(ctx, func(tx Tx) error {
			ok = false
			v, err := tx.GetKeyValueByPublicID(publicID)
			if errors.Is(err, ErrNotFound) {
				apikey.Verify(value, make([]byte, 32))
				return nil
			}
			if err != nil {
				return err
			}
			f.keyID = v.KeyID
			ok = apikey.Verify(value, v.SecretHash)
			return nil
		})
		if err != nil {
			return storeUnavailable("looking up key value", err)
		}
		if ok {
			return nil
		}
		f.reason = "unknown or wrong secret"
	}
	scope := "key public id"
	if overAddr {
		scope = "address"
	}
	f.reason = "limited (" + scope + "): " + f.reason
	err := errKeyRefused(f)
	r.auditRefusal(ctx, action, err, remote, target)
	return r.limited(RateLimitKey, retry, err)
}

// keyRefused counts a refused key presentation (err holds a *refusal)
// against its address and public id, audits it (folded, auditRefusal) and
// returns the answer: err itself, or the limited answer when the address
// or the id has reached its limit. Other errors are returned as they are.
func (r *Registry) keyRefused(ctx context.Context, action string, err error, remote netip.Addr, target string) error {
	var f *refusal
	if !errors.As(err, &f) {
		return err
	}
	now := r.now()
	// Limited if the scope had reached its limit before this failure: a
	// valid secret refused later (revoked, spent) from a limited address,
	// or requests that passed the gate together.
	scope := addrScope(remote)
	over, retry := r.addrFails.over(scope, r.keyLimits.PerAddress.N, now)
	r.addrFails.add(now, scope)
	if f.publicID != "" {
		ok, rk := r.keyFails.over("key:"+f.publicID, r.keyLimits.PerKey.N, now)
		r.keyFails.add(now, "key:"+f.publicID)
		over, retry = over || ok, max(retry, rk)
	}
	r.auditRefusal(ctx, action, err, remote, target)
	if over {
		return r.limited(RateLimitKey, retry, err)
	}
	return err
}

// limited is the one place a limited answer is made (kind: RateLimitKey
// for key presentations, RateLimitSignIn for passwords), so that it is
// observed (metrics) and, with Config.OnLimited, told.
func (r *Registry) limited(kind string, retry time.Duration, cause error) error {
	r.obs.RateLimited(kind)
	if r.onLimited != nil {
		r.onLimited(kind)
	}
	if kind == RateLimitSignIn {
		return E(KindRateLimited, "too many failed sign-in attempts; wait and try again", &retryAfter{after: retry, cause: cause})
	}
	return E(KindLimited, "too many failed attempts; wait and try again", &retryAfter{after: retry, cause: cause})
}

// auditRefusal records a refused key in its own transaction: the caller's
// transaction is rolled back, but the security decision must be kept.
// Repeated refusals of one kind from one source are folded (refusals.go):
// the first of a window is written at once, the repeats as one count row
// when the window has closed.
func (r *Registry) auditRefusal(ctx context.Context, action string, err error, remote netip.Addr, target string) {
	var f *refusal
	if !errors.As(err, &f) {
		return
	}
	r.obs.KeyRefused(f.reason)
	now := r.now()
	detail := map[string]string{"reason": f.reason}
	if f.publicID != "" {
		detail["key_public_id"] = f.publicID
	}
	if f.keyID != "" {
		detail["key_id"] = f.keyID
	}
	actor := "anonymous" // the value named no key we know
	if f.keyID != "" {
		actor = "key:" + f.keyID
	}
	r.auditFolded(ctx, action, AuditEvent{Time: now, Actor: actor, AccountID: f.account, Target: target,
		Outcome: OutcomeFailure, Remote: addrString(remote), Detail: detail}, remote)
}

// auditFolded writes ev, a failure row of action, folded with its repeats
// (refusals.go): the first of a window at once, the repeats as one count
// row later.
func (r *Registry) auditFolded(ctx context.Context, action string, ev AuditEvent, remote netip.Addr) {
	ev.Action = action
	rows, writeNow := r.refusals.note(ev, ev.Time)
	if !writeNow {
		_ = r.writeRefusals(ctx, rows)
		return
	}
	err := r.store.Update(ctx, func(tx Tx) error {
		if err := appendRows(tx, rows); err != nil {
			return err
		}
		return audit(tx, ev.Time, ev.Actor, action, ev.AccountID, ev.Target, ev.Outcome, remote, ev.Detail)
	})
	if err != nil {
		r.refusals.failed(rows)
	}
}

// RefusalReason returns the internal reason of a key refusal in err, for
// logs only, or "".
func RefusalReason(err error) string {
	var f *refusal
	if errors.As(err, &f) {
		return f.reason
	}
	return ""
}
