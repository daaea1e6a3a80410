package registry

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
)

// ActionDelete deletes endpoints in bulk (SPEC E5).
const ActionDelete Action = "delete"

// BulkRequest applies one action to many endpoints: those named by IDs, or
// every endpoint matching Filter among the accounts where the caller may act
// (exactly one of the two must be given).
type BulkRequest struct {
	Action Action
	IDs    []string
	Filter *EndpointFilter
	Remote netip.Addr
}

// Bulk outcomes, per endpoint.
const (
	BulkOK       = "ok"
	BulkNoop     = "noop"
	BulkConflict = "conflict"
	BulkNotFound = "not_found"
	// BulkForbidden: the caller sees the endpoint's account but lacks the
	// permission the action needs there.
	BulkForbidden = "forbidden"
)

// bulkChunk is how many endpoints one transaction of DecideMany handles: few
// transactions for speed, but none that holds the write lock for long.
const bulkChunk = 500

// maxBulkIDs bounds one DecideMany call by ids.
const maxBulkIDs = 100000

// BulkResult is the outcome for one endpoint. State is its state after the
// action (StateDeleted when deleted).
type BulkResult struct {
	ID      string
	Outcome string
	State   State
	Error   string
}

// DecideMany applies an action to many endpoints and reports per id, in
// the order of IDs (or of registration for a filter). Each change is
// committed with its audit row and pushed like a single Decide; endpoints
// are handled in transactions of up to 500, and each transaction's events
// are published after its commit. An endpoint the caller cannot see is
// not_found; one whose account it sees without the permission is
// forbidden; a transition not allowed is conflict; approving a trusted
// endpoint is noop. Errors (for the whole call): KindInvalid,
// KindUnauthenticated, KindNotFound and KindPermission (for accounts named
// in the filter); on an internal error the chunks before it stay committed.
func (r *Registry) DecideMany(ctx context.Context, p *Principal, req BulkRequest) ([]BulkResult, error) {
	perm, err := checkAction(req.Action)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	if (len(req.IDs) == 0) == (req.Filter == nil) {
		return nil, E(KindInvalid, "give either endpoint ids or a filter", nil)
	}
	if len(req.IDs) > maxBulkIDs {
		return nil, E(KindInvalid, fmt.Sprintf("at most %d endpoint ids at once", maxBulkIDs), nil)
	}
	ids := req.IDs
	if req.Filter != nil {
		if ids, err = r.matchingIDs(ctx, p, perm, *req.Filter); err != nil {
			return nil, err
		}
	} else {
		seen := make(map[string]bool, len(ids))
		ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool {
			dup := seen[id]
			seen[id] = true
			return dup
		})
	}
	out := make([]BulkResult, 0, len(ids))
	for chunk := range slices.Chunk(ids, bulkChunk) {
		res, events, err := r.decideChunk(ctx, p, perm, req.Action, chunk, req.Remote)
		if err != nil {
			return nil, err
		}
		for _, ev := range events {
			r.publish(ev)
		}
		for _, br := range res {
			r.obs.Decision(string(req.Action), bulkOutcomes[br.Outcome])
		}
		out = append(out, res...)
	}
	return out, nil
}

// matchingIDs returns the ids of the endpoints matching f among the
// accounts where p holds perm.
func (r *Registry) matchingIDs(ctx context.Context, p *Principal, perm Permission, f EndpointFilter) ([]string, error) {
	var ids []string
	err := r.store.View(ctx, func(tx Tx) error {
		if len(f.AccountIDs) > 0 {
			for _, id := range f.AccountIDs {
				if err := authorize(tx, p, perm, id); err != nil {
					return err
				}
			}
		} else {
			visible, _, err := accountSets(tx, p, perm)
			if err != nil {
				return err
			}
			f.AccountIDs = make([]string, 0, len(visible))
			for id := range visible {
				f.AccountIDs = append(f.AccountIDs, id)
			}
			if len(f.AccountIDs) == 0 {
				return nil
			}
		}
		f.IDs = nil
		eps, err := tx.ListEndpoints(f)
		if err != nil {
			return internal("listing endpoints", err)
		}
		ids = make([]string, len(eps))
		for i := range eps {
			ids[i] = eps[i].ID
		}
		return nil
	})
	return ids, err
}

// decideChunk applies action to the endpoints ids in one transaction.
func (r *Registry) decideChunk(ctx context.Context, p *Principal, perm Permission, action Action, ids []string, remote netip.Addr) ([]BulkResult, []Event, error) {
	now := r.now()
	var results []BulkResult
	var events []Event
	err := r.store.Update(ctx, func(tx Tx) error {
		results, events = make([]BulkResult, 0, len(ids)), nil
		// Accounts p cannot see at all answer not_found; those it sees
		// without perm, forbidden.
		allowed, seen := map[string]bool{}, map[string]bool{}
		err := forEachAccount(tx, func(a *Account, chain []string) {
			switch err := p.check(chain, perm); {
			case err == nil:
				allowed[a.ID], seen[a.ID] = true, true
			case KindOf(err) == KindPermission:
				seen[a.ID] = true
			}
		})
		if err != nil {
			return err
		}
		eps, err := tx.ListEndpoints(EndpointFilter{IDs: ids})
		if err != nil {
			return internal("listing endpoints", err)
		}
		byID := make(map[string]*Endpoint, len(eps))
		for i := range eps {
			byID[eps[i].ID] = &eps[i]
		}
		for _, id := range ids {
			ep := byID[id]
			res := BulkResult{ID: id}
			switch {
			case ep == nil || !seen[ep.AccountID]:
				res.Outcome, res.Error = BulkNotFound, "not found"
			case !allowed[ep.AccountID]:
				res.Outcome, res.State = BulkForbidden, ep.State
				res.Error = "you lack the " + string(perm) + " permission for this account"
			default:
				ev, err := applyAction(tx, now, p.Actor(), ep, action, "", remote)
				switch {
				case err == nil && ev == nil:
					res.Outcome, res.State = BulkNoop, ep.State
				case err == nil:
					res.Outcome, res.State = BulkOK, ep.State
					events = append(events, *ev)
				case KindOf(err) == KindConflict:
					res.Outcome, res.State, res.Error = BulkConflict, ep.State, PublicMessage(err)
				default:
					return err
				}
			}
			results = append(results, res)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return results, events, nil
}
