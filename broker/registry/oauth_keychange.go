package registry

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// requestKeyChange records a registration for a known endpoint with another
// public key as a pending key change (SPEC E4): always pending, whatever the
// API key's trust flag; the endpoint and its old key stay as they are until
// an admin approves the change. A registration without a key for an
// endpoint that has one is refused: an approval could only weaken it.
func (r *Registry) requestKeyChange(tx Tx, now time.Time, req *RegisterRequest, ku *keyUse, ep *Endpoint, thumb string, res *RegisterResult) error {
	if thumb == "" {
		return E(KindInvalid, "this endpoint has a public key: sign the registration with it, or send the new key for an admin to approve", nil)
	}
	if err := tx.RecordKeyUse(ku.value.ID, now, addrString(req.Remote), false); err != nil {
		return internal("recording key use", err)
	}
	kc := &KeyChange{
		EndpointID: ep.ID, AccountID: ep.AccountID, KeyType: req.KeyType, PublicKey: req.PublicKey,
		KeyThumbprint: thumb, KeyID: ku.key.ID, KeyValueID: ku.value.ID,
		RequestedAt: now, RequestedFrom: addrString(req.Remote),
	}
	if err := tx.PutKeyChange(kc); err != nil {
		return internal("storing key change", err)
	}
	res.Endpoint, res.KeyChange = *ep, true
	res.Endpoint.State = StatePending
	return audit(tx, now, "key:"+ku.key.ID, "endpoint.key_change.request", ep.AccountID, "endpoint:"+ep.ID, OutcomeSuccess, req.Remote,
		map[string]string{"old_key_fingerprint": ep.KeyThumbprint, "new_key_fingerprint": thumb, "new_key_type": req.KeyType, "state": string(ep.State)})
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

// ApproveKeyChange puts an endpoint's pending key change in force: the new
// key replaces the old one, the endpoint keeps its state, and the refresh
// tokens bound to the old key (and those of users who logged in through
// it) are revoked. A connected agent holding the new key is pushed the
// endpoint's state. Errors: KindNotFound (no such endpoint, or no pending
// change), KindPermission.
func (r *Registry) ApproveKeyChange(ctx context.Context, p *Principal, endpointID string, remote netip.Addr) (*Endpoint, error) {
	return r.decideKeyChange(ctx, p, endpointID, true, remote)
}

// RejectKeyChange drops an endpoint's pending key change; the old key stays.
// Errors as ApproveKeyChange.
func (r *Registry) RejectKeyChange(ctx context.Context, p *Principal, endpointID string, remote netip.Addr) (*Endpoint, error) {
	return r.decideKeyChange(ctx, p, endpointID, false, remote)
}

func (r *Registry) decideKeyChange(ctx context.Context, p *Principal, endpointID string, approve bool, remote netip.Addr) (*Endpoint, error) {
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
		if err := tx.DeleteKeyChange(ep.ID); err != nil {
			return internal("deleting key change", err)
		}
		detail := map[string]string{"old_key_fingerprint": ep.KeyThumbprint, "new_key_fingerprint": kc.KeyThumbprint}
		if !approve {
			return audit(tx, now, p.Actor(), "endpoint.key_change.reject", ep.AccountID, "endpoint:"+ep.ID, OutcomeSuccess, remote, detail)
		}
		ep.KeyType, ep.PublicKey, ep.KeyThumbprint, ep.UpdatedAt = kc.KeyType, kc.PublicKey, kc.KeyThumbprint, now
		if err := tx.UpdateEndpoint(ep); err != nil {
			return internal("updating endpoint", err)
		}
		if err := tx.RevokeRefreshTokensOf(SubjectEndpoint, ep.ID, now); err != nil {
			return internal("revoking tokens", err)
		}
		return audit(tx, now, p.Actor(), "endpoint.key_change.approve", ep.AccountID, "endpoint:"+ep.ID, OutcomeSuccess, remote, detail)
	})
	if err != nil {
		return nil, err
	}
	if approve {
		// The state is unchanged: an agent already told it ignores the event;
		// one with the new key, told "pending", now receives its tokens.
		r.bus.Publish(Event{Type: "endpoint.key_changed", EndpointID: ep.ID, AccountID: ep.AccountID, State: ep.State, At: now})
	}
	return ep, nil
}
