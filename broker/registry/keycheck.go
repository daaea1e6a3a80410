package registry

import (
	"context"
	"errors"
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
	v, err := tx.GetKeyValueByPublicID(publicID)
	if errors.Is(err, ErrNotFound) {
		// Hash anyway so an unknown id takes as long as a wrong secret.
		apikey.Verify(value, make([]byte, 32))
		gone, err := tx.GetDeletedKeyValue(publicID)
		if errors.Is(err, ErrNotFound) {
			return refuse(refusal{reason: "unknown", publicID: publicID})
		}
		if err != nil {
			return nil, internal("looking up deleted key value", err)
		}
		return refuse(refusal{reason: "key deleted", publicID: publicID, keyID: gone.KeyID, account: gone.AccountID})
	}
	if err != nil {
		return nil, internal("looking up key value", err)
	}
	if !apikey.Verify(value, v.SecretHash) {
		return refuse(refusal{reason: "wrong secret", publicID: publicID, keyID: v.KeyID})
	}
	k, err := tx.GetAPIKey(v.KeyID)
	if err != nil {
		return nil, internal("looking up key", err)
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
		return nil, internal("walking account tree", err)
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
	ev := AuditEvent{Time: now, Actor: actor, Action: action, AccountID: f.account, Target: target,
		Outcome: OutcomeFailure, Remote: addrString(remote), Detail: detail}
	rows, writeNow := r.refusals.note(ev, now)
	if !writeNow {
		_ = r.writeRefusals(ctx, rows)
		return
	}
	err = r.store.Update(ctx, func(tx Tx) error {
		if err := appendRows(tx, rows); err != nil {
			return err
		}
		return audit(tx, now, actor, action, f.account, target, OutcomeFailure, remote, detail)
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
