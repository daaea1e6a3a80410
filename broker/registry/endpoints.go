package registry

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/edgetrust/edgetrust/protocol"
)

// ListEndpoints lists endpoints matching f among the accounts where the
// caller holds ViewEndpoint (f.AccountIDs narrows them further), ordered by
// registration time, then id. f.After pages: the list starts after that
// endpoint; one that does not exist, or that the caller cannot list,
// answers KindInvalid naming it. Each endpoint's KeyName is set where the
// caller may view its key. Errors: KindUnauthenticated, KindInvalid, and
// KindNotFound or KindPermission for an account named in f.
func (r *Registry) ListEndpoints(ctx context.Context, p *Principal, f EndpointFilter) ([]Endpoint, error) {
	var eps []Endpoint
	err := r.store.View(ctx, func(tx Tx) error {
		eps = nil
		if p == nil {
			return E(KindUnauthenticated, "sign in first", nil)
		}
		if len(f.AccountIDs) > 0 {
			for _, id := range f.AccountIDs {
				if err := authorize(tx, p, PermViewEndpoint, id); err != nil {
					return err
				}
			}
		} else {
			visible, err := visibleAccounts(tx, p, PermViewEndpoint)
			if err != nil {
				return err
			}
			for _, a := range visible {
				f.AccountIDs = append(f.AccountIDs, a.ID)
			}
		}
		if f.After != "" {
			// A cursor the caller cannot list would tell where it is.
			c, err := tx.GetEndpoint(f.After)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return internal("looking up endpoint cursor", err)
			}
			if err != nil || !slices.Contains(f.AccountIDs, c.AccountID) {
				return E(KindInvalid, fmt.Sprintf("after: no endpoint %q in this list (deleted, or never listed here); start the list again without it", f.After), err)
			}
		}
		if len(f.AccountIDs) == 0 {
			return nil // sees no account: nothing (a nil filter would mean all)
		}
		var err error
		eps, err = tx.ListEndpoints(f)
		if errors.Is(err, ErrNotFound) && f.After != "" {
			return E(KindInvalid, fmt.Sprintf("after: no endpoint %q in this list (deleted, or never listed here); start the list again without it", f.After), err)
		}
		if err != nil {
			return internal("listing endpoints", err)
		}
		return nameKeys(tx, p, eps)
	})
	return eps, err
}

// nameKeys sets the KeyName of eps whose key still exists and the caller
// may view (ViewApiKey at the key's account): a table shows names where
// people look for names (issue 12). Each key is read once.
func nameKeys(tx Tx, p *Principal, eps []Endpoint) error {
	names := map[string]string{}
	for i := range eps {
		id := eps[i].KeyID
		if id == "" {
			continue
		}
		name, ok := names[id]
		if !ok {
			k, err := tx.GetAPIKey(id)
			switch {
			case errors.Is(err, ErrNotFound):
			case err != nil:
				return internal("looking up key", err)
			default:
				switch err := authorize(tx, p, PermViewAPIKey, k.AccountID); {
				case err == nil:
					name = k.Name
				case KindOf(err) == KindInternal:
					return err
				}
			}
			names[id] = name
		}
		eps[i].KeyName = name
	}
	return nil
}

// Action is an admin decision on an endpoint (SPEC E5).
type Action string

// Actions.
const (
	ActionApprove Action = "approve"
	ActionReject  Action = "reject"
	ActionUntrust Action = "untrust"
)

var transitions = map[Action]struct {
	from []State
	to   State
}{
	ActionApprove: {[]State{StatePending, StateRejected, StateUntrusted}, StateTrusted},
	ActionReject:  {[]State{StatePending}, StateRejected},
	ActionUntrust: {[]State{StateTrusted}, StateUntrusted},
}

// checkAction validates an action and returns the permission it needs.
func checkAction(action Action) (Permission, error) {
	if action == ActionDelete {
		return PermDeleteEndpoint, nil
	}
	if _, ok := transitions[action]; !ok {
		return "", E(KindInvalid, fmt.Sprintf("unknown action %q (approve, reject, untrust, delete)", action), nil)
	}
	return PermModifyEndpoint, nil
}

// applyAction applies action to ep, which the caller may act on, in tx:
// the state change (or deletion), the token revocations it implies and its
// audit row, recorded as auditAction ("" = "endpoint.<action>"). It
// updates ep in place and returns the event to publish after the commit,
// or nil for a no-op (approving a trusted endpoint). A transition not
// allowed answers KindConflict. Decide, DeleteEndpoint, DecideMany and
// Sweep all go through it.
func applyAction(tx Tx, now time.Time, actor string, ep *Endpoint, action Action, auditAction string, remote netip.Addr) (*Event, error) {
	if auditAction == "" {
		auditAction = "endpoint." + string(action)
	}
	if action == ActionDelete {
		if err := tx.RevokeRefreshTokensOf(SubjectEndpoint, ep.ID, now); err != nil {
			return nil, internal("revoking tokens", err)
		}
		if err := tx.DeleteEndpoint(ep.ID); err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil, E(KindNotFound, "not found", err)
			}
			return nil, internal("deleting endpoint", err)
		}
		if err := audit(tx, now, actor, auditAction, ep.AccountID, "endpoint:"+ep.ID, OutcomeSuccess, remote,
			map[string]string{"state": string(ep.State)}); err != nil {
			return nil, err
		}
		ep.State = StateDeleted
		return &Event{Type: protocol.EventEndpointDeleted, EndpointID: ep.ID, AccountID: ep.AccountID, State: StateDeleted, At: now}, nil
	}
	tr, ok := transitions[action]
	if !ok {
		return nil, E(KindInvalid, fmt.Sprintf("unknown action %q", action), nil)
	}
	if action == ActionApprove && ep.State == StateTrusted {
		return nil, nil
	}
	if action == ActionApprove && pendingExpired(ep, now) {
		// Checked again here, in the deciding transaction: the sweep
		// purges expired requests only now and then (SPEC E3, R8).
		return nil, E(KindConflict, fmt.Sprintf("the registration request expired at %s and can no longer be approved: the device must register again",
			ep.DeviceCodeExpiresAt.UTC().Format(time.RFC3339)), nil)
	}
	d := Decision{Action: string(action), By: actor, At: now}
	err := tx.TransitionEndpoint(ep.ID, tr.from, tr.to, d)
	if errors.Is(err, ErrConflict) {
		return nil, E(KindConflict, fmt.Sprintf("cannot %s an endpoint that is %s", action, ep.State), err)
	}
	if errors.Is(err, ErrNotFound) {
		return nil, E(KindNotFound, "not found", err)
	}
	if err != nil {
		return nil, internal("changing endpoint state", err)
	}
	if tr.to == StateUntrusted {
		if err := tx.RevokeRefreshTokensOf(SubjectEndpoint, ep.ID, now); err != nil {
			return nil, internal("revoking tokens", err)
		}
	}
	from := ep.State
	ep.State, ep.LastDecision, ep.LastDecisionBy, ep.LastDecisionAt, ep.UpdatedAt = tr.to, d.Action, d.By, d.At, now
	if tr.to == StateTrusted {
		ep.ApprovedBy, ep.ApprovedAt = actor, now // only approvals: an untrust keeps them
	}
	if err := audit(tx, now, actor, auditAction, ep.AccountID, "endpoint:"+ep.ID, OutcomeSuccess, remote,
		map[string]string{"from": string(from), "to": string(tr.to)}); err != nil {
		return nil, err
	}
	return &Event{Type: protocol.EndpointEvent(string(ep.State)), EndpointID: ep.ID, AccountID: ep.AccountID, State: ep.State, At: now}, nil
}

// Decide applies an admin action to one endpoint, takes effect at once and
// pushes it to a connected agent. Approving a trusted endpoint is a no-op;
// any other transition not allowed answers KindConflict. Untrusting revokes
// the endpoint's refresh tokens and those of users who logged in through
// it; ActionDelete deletes it (as DeleteEndpoint, and the result's State is
// StateDeleted). Errors: KindInvalid, KindNotFound, KindPermission,
// KindConflict.
func (r *Registry) Decide(ctx context.Context, p *Principal, endpointID string, action Action, remote netip.Addr) (*Endpoint, error) {
	perm, err := checkAction(action)
	if err != nil {
		return nil, err
	}
	now := r.now()
	var ep *Endpoint
	var ev *Event
	err = r.store.Update(ctx, func(tx Tx) error {
		var err error
		ep, err = endpointFor(tx, p, perm, endpointID)
		if err != nil {
			return err
		}
		ev, err = applyAction(tx, now, p.Actor(), ep, action, "", remote)
		return err
	})
	if err != nil {
		r.obs.Decision(string(action), decisionOutcome(err))
		return nil, err
	}
	if ev != nil {
		r.obs.Decision(string(action), "success")
		r.publish(*ev)
	} else {
		r.obs.Decision(string(action), BulkNoop)
	}
	return ep, nil
}

// DeleteEndpoint deletes an endpoint in any state, revokes its tokens and
// tells a connected agent (E4a). Errors: KindNotFound, KindPermission.
func (r *Registry) DeleteEndpoint(ctx context.Context, p *Principal, endpointID string, remote netip.Addr) error {
	_, err := r.Decide(ctx, p, endpointID, ActionDelete, remote)
	return err
}

// GetEndpoint returns one endpoint the caller holds ViewEndpoint at. An
// endpoint of an account the caller cannot see answers KindNotFound, as an
// unknown id does; one of an account it sees without ViewEndpoint answers
// KindPermission. Errors: KindUnauthenticated (p is nil), KindNotFound,
// KindPermission.
func (r *Registry) GetEndpoint(ctx context.Context, p *Principal, id string) (*Endpoint, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	var out *Endpoint
	err := r.store.View(ctx, func(tx Tx) error {
		var err error
		if out, err = endpointFor(tx, p, PermViewEndpoint, id); err != nil {
			return err
		}
		one := []Endpoint{*out}
		if err := nameKeys(tx, p, one); err != nil {
			return err
		}
		out = &one[0]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// trustedEndpoint returns the endpoint when it is trusted now. A missing or
// untrusted endpoint answers KindAccessDenied; a store failure stays an
// internal error, never a trust decision.
func trustedEndpoint(tx Tx, id string) (*Endpoint, error) {
	ep, err := tx.GetEndpoint(id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, internal("looking up endpoint", err)
	}
	if err != nil || ep.State != StateTrusted {
		return nil, E(KindAccessDenied, "endpoint is not trusted", err)
	}
	// An endpoint of a disabled account is refused like an untrusted one
	// (issue 10): its tokens, refreshes and logins stop at once.
	if err := accountLive(tx, ep.AccountID); err != nil {
		return nil, E(KindAccessDenied, "endpoint is not trusted", err)
	}
	return ep, nil
}

// endpointFor returns an endpoint p may act on with perm. One that does not
// exist, or that p cannot see, answers KindNotFound.
func endpointFor(tx Tx, p *Principal, perm Permission, id string) (*Endpoint, error) {
	ep, err := tx.GetEndpoint(id)
	if errors.Is(err, ErrNotFound) {
		return nil, E(KindNotFound, "not found", err)
	}
	if err != nil {
		return nil, internal("looking up endpoint", err)
	}
	if err := authorize(tx, p, perm, ep.AccountID); err != nil {
		return nil, err
	}
	return ep, nil
}
