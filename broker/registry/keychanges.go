package registry

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/edgetrust/edgetrust/protocol"
)

// keylessMarkerPrefix starts the fingerprint of a keyless re-registration:
// a keyless endpoint has no key to tell its device from anyone holding the
// API key and its client id, so each such registration is a key change of
// its own, named by a random marker its device code carries too.
const keylessMarkerPrefix = "keyless-"

func newKeylessMarker() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return keylessMarkerPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// refusedAttempt is the cause of a refusal that must leave an audit row
// although the transaction that refused it rolls back (a key change that
// would replace a pending one, a keyless registration where keys are
// required, an approval naming another fingerprint).
type refusedAttempt struct {
	actor, account, target string
	detail                 map[string]string // with "reason"
	keyChange              bool              // a registration refused as a key change
}

func (f *refusedAttempt) Error() string { return f.detail["reason"] }

// auditRefused records the refusal f under action in its own transaction.
func (r *Registry) auditRefused(ctx context.Context, action string, f *refusedAttempt, remote netip.Addr) {
	now := r.now()
	_ = r.store.Update(ctx, func(tx Tx) error {
		return audit(tx, now, f.actor, action, f.account, f.target, OutcomeFailure, remote, f.detail)
	})
}

// auditRegisterRefusal records a registration refused with a
// refusedAttempt (key refusals go through auditRefusal).
func (r *Registry) auditRegisterRefusal(ctx context.Context, err error, remote netip.Addr) {
	var f *refusedAttempt
	if !errors.As(err, &f) {
		return
	}
	if f.keyChange {
		r.auditRefused(ctx, "endpoint.key_change.request", f, remote)
	} else {
		r.auditRefused(ctx, "endpoint.register", f, remote)
	}
}

// requestKeyChange records an unproven registration for a known endpoint
// as a pending key change (SPEC E4): always pending, whatever the API
// key's trust flag; the endpoint, its key and its description stay as they
// are until an admin approves the change. thumb is the registration's key
// ("" = none). A registration without a key for an endpoint that has one
// is refused: an approval could only weaken it. For an endpoint without a
// key, a registration without one is a key change too (issue 10): its
// fingerprint is a keyless marker.
//
// A pending change is never replaced: the same key sent again (a retry)
// answers as the first did; any other is refused with KindConflict and
// audited, so what an admin lists is what he approves.
func (r *Registry) requestKeyChange(tx Tx, now time.Time, req *RegisterRequest, ku *keyUse, ep *Endpoint, thumb string, res *RegisterResult) error {
	if thumb == "" && ep.KeyThumbprint != "" {
		return E(KindInvalid, "this endpoint has a public key: sign the registration with it, or send the new key for an admin to approve", nil)
	}
	if err := tx.RecordKeyUse(ku.value.ID, now, addrString(req.Remote), false); err != nil {
		return internal("recording key use", err)
	}
	pending, err := tx.GetKeyChange(ep.ID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return internal("looking up key change", err)
	}
	answer := func(fingerprint string) {
		res.Endpoint, res.KeyChange, res.changeThumb = *ep, true, fingerprint
		res.Endpoint.State = StatePending
	}
	if pending != nil && thumb != "" && pending.KeyThumbprint == thumb {
		answer(thumb) // the same key again: a retry after a lost answer
		return nil
	}
	fingerprint := thumb
	if fingerprint == "" {
		fingerprint = newKeylessMarker()
	}
	detail := map[string]string{"old_key_fingerprint": ep.KeyThumbprint, "new_key_fingerprint": fingerprint,
		"new_key_type": req.KeyType, "state": string(ep.State)}
	err = ErrConflict
	if pending == nil {
		err = tx.CreateKeyChange(&KeyChange{
			EndpointID: ep.ID, AccountID: ep.AccountID, KeyType: req.KeyType, PublicKey: req.PublicKey,
			KeyThumbprint: fingerprint, KeyID: ku.key.ID, KeyValueID: ku.value.ID,
			Description: req.Description, Hostname: req.Hostname, OS: req.OS, Version: req.Version,
			RequestedAt: now, RequestedFrom: addrString(req.Remote),
		})
	}
	if errors.Is(err, ErrConflict) {
		detail["reason"] = "a key change is already pending"
		if pending != nil {
			detail["pending_key_fingerprint"] = pending.KeyThumbprint
		}
		return E(KindConflict, "a key change of this endpoint already awaits an administrator's decision; another can be asked once it is approved or rejected",
			&refusedAttempt{actor: "key:" + ku.key.ID, account: ep.AccountID, target: "endpoint:" + ep.ID, detail: detail, keyChange: true})
	}
	if err != nil {
		return internal("storing key change", err)
	}
	answer(fingerprint)
	return audit(tx, now, "key:"+ku.key.ID, "endpoint.key_change.request", ep.AccountID, "endpoint:"+ep.ID, OutcomeSuccess, req.Remote, detail)
}

// PendingKeyChange is a pending key change with the endpoint it is for.
type PendingKeyChange struct {
	Change   KeyChange
	Endpoint Endpoint
}

// ListKeyChanges lists the pending key changes of the endpoints the caller
// may view (ViewEndpoint), in the account accountID only when it is not "".
// Errors: KindUnauthenticated, KindNotFound, KindPermission.
func (r *Registry) ListKeyChanges(ctx context.Context, p *Principal, accountID string) ([]PendingKeyChange, error) {
	var out []PendingKeyChange
	err := r.store.View(ctx, func(tx Tx) error {
		if p == nil {
			return E(KindUnauthenticated, "sign in first", nil)
		}
		var ids []string
		if accountID != "" {
			if err := authorize(tx, p, PermViewEndpoint, accountID); err != nil {
				return err
			}
			ids = []string{accountID}
		} else {
			visible, err := visibleAccounts(tx, p, PermViewEndpoint)
			if err != nil {
				return err
			}
			for _, a := range visible {
				ids = append(ids, a.ID)
			}
			if len(ids) == 0 {
				return nil // nil would mean every account
			}
		}
		kcs, err := tx.ListKeyChanges(ids)
		if err != nil {
			return internal("listing key changes", err)
		}
		for _, kc := range kcs {
			ep, err := tx.GetEndpoint(kc.EndpointID)
			if err != nil {
				return internal("looking up endpoint", err)
			}
			out = append(out, PendingKeyChange{Change: kc, Endpoint: *ep})
		}
		return nil
	})
	return out, err
}

// SameFingerprint reports whether the fingerprint an admin gave names the
// pending key change's fingerprint: as listed, or with the "TYPE:" (or
// "sha256:") prefix the CLI's tables show it with.
func SameFingerprint(given, pending string) bool {
	given = strings.TrimSpace(given)
	if given == "" || pending == "" {
		return false
	}
	if given == pending {
		return true
	}
	i := strings.LastIndexByte(given, ':')
	return i >= 0 && given[i+1:] == pending
}

// maxGivenFingerprint bounds the fingerprint an admin gave as the audit
// trail keeps it.
const maxGivenFingerprint = 128

// ApproveKeyChange puts an endpoint's pending key change in force, when
// its fingerprint is the one the admin gives (the one he saw in the list):
// the new key replaces the old one (a keyless re-registration's device code
// becomes the endpoint's), the description, hostname, OS and version the
// registration sent replace the endpoint's (those it left empty stay), the
// endpoint keeps its state, and the refresh tokens of the old key (and
// those of users who logged in through it) are revoked. A connected agent
// holding the new key is pushed the endpoint's state. Errors: KindInvalid
// (no fingerprint), KindNotFound (no such endpoint, or no pending change),
// KindPermission, KindConflict (the pending change has another
// fingerprint; audited).
func (r *Registry) ApproveKeyChange(ctx context.Context, p *Principal, endpointID, fingerprint string, remote netip.Addr) (*Endpoint, error) {
	if strings.TrimSpace(fingerprint) == "" {
		return nil, E(KindInvalid, `give the fingerprint of the new key as "endpoints key-changes" shows it: approval puts in force only the key you saw`, nil)
	}
	return r.decideKeyChange(ctx, p, endpointID, fingerprint, true, remote)
}

// RejectKeyChange drops an endpoint's pending key change; the old key
// stays, and a new change may be asked. fingerprint "" rejects whichever
// change is pending; otherwise it must be the pending one's. Errors as
// ApproveKeyChange, but for KindInvalid.
func (r *Registry) RejectKeyChange(ctx context.Context, p *Principal, endpointID, fingerprint string, remote netip.Addr) (*Endpoint, error) {
	return r.decideKeyChange(ctx, p, endpointID, fingerprint, false, remote)
}

func (r *Registry) decideKeyChange(ctx context.Context, p *Principal, endpointID, fingerprint string, approve bool, remote netip.Addr) (*Endpoint, error) {
	now := r.now()
	var ep *Endpoint
	err := r.store.Update(ctx, func(tx Tx) error {
		var err error
		ep, err = endpointFor(tx, p, PermModifyEndpoint, endpointID)
		if err != nil {
			return err
		}
		kc, err := tx.GetKeyChange(ep.ID)
		if errors.Is(err, ErrNotFound) {
			return E(KindNotFound, "this endpoint has no pending key change", err)
		}
		if err != nil {
			return internal("looking up key change", err)
		}
		detail := map[string]string{"old_key_fingerprint": ep.KeyThumbprint, "new_key_fingerprint": kc.KeyThumbprint}
		if fingerprint != "" && !SameFingerprint(fingerprint, kc.KeyThumbprint) {
			given := strings.TrimSpace(fingerprint)
			if len(given) > maxGivenFingerprint {
				given = given[:maxGivenFingerprint]
			}
			detail["reason"], detail["given_fingerprint"] = "fingerprint mismatch", given
			return E(KindConflict, `the pending key change has another fingerprint than the one given: list the key changes again ("endpoints key-changes") and decide the one shown`,
				&refusedAttempt{actor: p.Actor(), account: ep.AccountID, target: "endpoint:" + ep.ID, detail: detail})
		}
		switch err := tx.DeleteKeyChange(ep.ID, kc.KeyThumbprint); {
		case errors.Is(err, ErrNotFound):
			return E(KindNotFound, "this endpoint has no pending key change", err)
		case errors.Is(err, ErrConflict):
			return E(KindConflict, "the key change was decided meanwhile; list the key changes again", err)
		case err != nil:
			return internal("deleting key change", err)
		}
		if !approve {
			return audit(tx, now, p.Actor(), "endpoint.key_change.reject", ep.AccountID, "endpoint:"+ep.ID, OutcomeSuccess, remote, detail)
		}
		if kc.KeyType == "" {
			// A keyless re-registration: the endpoint stays keyless, and the
			// device code of that registration is now the one that answers.
			if err := tx.RebindDeviceCode(ep.ID, kc.KeyThumbprint, ""); err != nil && !errors.Is(err, ErrNotFound) {
				return internal("rebinding device code", err)
			}
		} else {
			ep.KeyType, ep.PublicKey, ep.KeyThumbprint = kc.KeyType, kc.PublicKey, kc.KeyThumbprint
		}
		for _, f := range []struct {
			dst *string
			v   string
		}{
			{&ep.Description, kc.Description}, {&ep.Hostname, kc.Hostname}, {&ep.OS, kc.OS}, {&ep.Version, kc.Version},
		} {
			if f.v != "" {
				*f.dst = f.v
			}
		}
		ep.UpdatedAt = now
		if err := tx.UpdateEndpoint(ep); err != nil {
			return internal("updating endpoint", err)
		}
		if err := tx.RevokeRefreshTokensOf(SubjectEndpoint, ep.ID, now); err != nil {
			return internal("revoking tokens", err)
		}
		return audit(tx, now, p.Actor(), "endpoint.key_change.approve", ep.AccountID, "endpoint:"+ep.ID, OutcomeSuccess, remote, detail)
	})
	if err != nil {
		if approve {
			r.auditDecisionRefusal(ctx, "endpoint.key_change.approve", err, remote)
		} else {
			r.auditDecisionRefusal(ctx, "endpoint.key_change.reject", err, remote)
		}
		return nil, err
	}
	if approve {
		// The state is unchanged: an agent already told it ignores the event;
		// one with the new key, told "pending", now receives its tokens.
		r.publish(Event{Type: protocol.EventEndpointKeyChange, EndpointID: ep.ID, AccountID: ep.AccountID, State: ep.State, At: now})
	}
	return ep, nil
}

// auditDecisionRefusal records a key-change decision refused with a
// refusedAttempt.
func (r *Registry) auditDecisionRefusal(ctx context.Context, action string, err error, remote netip.Addr) {
	var f *refusedAttempt
	if errors.As(err, &f) {
		r.auditRefused(ctx, action, f, remote)
	}
}
