package registry

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/edgetrust/edgetrust/protocol"
)

// Clone detection (SPEC R24, docs/clones.md). An endpoint's identity is
// its key and its refresh token; a copy of both on a second host is a
// clone. Refresh tokens rotate (T2), and each names the token it was
// issued for (RefreshToken.ParentID). Both copies start from one token:
// the first to present it gets a successor; the second presents a token
// that is spent but whose successor nobody has used, which is exactly
// what an agent whose answer was lost presents, so it too gets a
// successor (a retry). Only when both successors are used is there a
// second holder: a lost answer's successor is never used, since nobody
// received it. A token the store does not know (the broker restored from
// a backup) is refused as invalid and suspects nothing.

// maxSuccessors bounds the successors one token may have: the first and
// the retries of lost answers. Past it a spent token presented again is a
// reuse (T2), and its chain is revoked.
const maxSuccessors = 8

// lostAnswer reports whether rt, a spent and unrevoked token presented
// again, is the retry of a lost answer: an endpoint's token, unexpired,
// presented with the endpoint's key, none of whose successors has been
// used, and fewer than maxSuccessors of them. Otherwise it is a reuse. A
// keyless endpoint has no key to prove with: its retry is served on the
// token alone, and a copy that then uses its successor is caught as a
// clone (detectClone) rather than as a reuse.
func (r *Registry) lostAnswer(tx Tx, now time.Time, rt *RefreshToken, jkt string) (bool, error) {
	if rt.SubjectType != SubjectEndpoint || !rt.ExpiresAt.After(now) {
		return false, nil
	}
	ep, err := tx.GetEndpoint(rt.SubjectID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, internal("looking up endpoint", err)
	}
	if ep.KeyThumbprint != "" && ep.KeyThumbprint != jkt {
		return false, nil // not the holder of the key: a copy of the token only
	}
	next, err := tx.ListRefreshSuccessors(rt.ID)
	if err != nil {
		return false, internal("reading successors", err)
	}
	if len(next) >= maxSuccessors {
		return false, nil
	}
	for _, s := range next {
		if !s.UsedAt.IsZero() {
			return false, nil // the chain moved on past rt
		}
	}
	return true, nil
}

// detectClone looks, in tx, at rt, an endpoint's token consumed just now
// by the holder of ep's key seen from remote: when another successor of
// rt's parent has been used, two holders of one identity refresh, and the
// endpoint is marked (Endpoint.CloneSuspectedAt) and audited
// (endpoint.clone_suspected). When ep's account locks suspected clones out
// (AccountSettings.LockOutClones), ep is untrusted as well, which revokes
// every token of it: lockedOut is true, and the caller commits and refuses
// the refresh. It returns the events to publish after the commit.
func (r *Registry) detectClone(tx Tx, now time.Time, rt *RefreshToken, ep *Endpoint, remote netip.Addr) (events []Event, lockedOut bool, err error) {
	if rt.ParentID == "" {
		return nil, false, nil
	}
	siblings, err := tx.ListRefreshSuccessors(rt.ParentID)
	if err != nil {
		return nil, false, internal("reading successors", err)
	}
	var other *RefreshToken
	for i := range siblings {
		if siblings[i].ID != rt.ID && !siblings[i].UsedAt.IsZero() {
			other = &siblings[i]
			break
		}
	}
	if other == nil {
		return nil, false, nil
	}
	lockOut := false
	if a, err := tx.GetAccount(ep.AccountID); err == nil {
		lockOut = a.Settings.LockOutClones
	} else if !errors.Is(err, ErrNotFound) {
		return nil, false, internal("looking up account", err)
	}
	if err := tx.SetEndpointCloneSuspected(ep.ID, now); err != nil {
		return nil, false, internal("marking endpoint", err)
	}
	ep.CloneSuspectedAt = now
	detail := map[string]string{
		"chain": rt.ChainID, "parent_token_id": rt.ParentID,
		"token_id": rt.ID, "other_token_id": other.ID,
		"other_used_at":      other.UsedAt.UTC().Format(time.RFC3339),
		"previous_seen_from": ep.LastSeenFrom,
		"lock_out":           boolString(lockOut),
		"state":              string(ep.State),
	}
	if err := audit(tx, now, "system", "endpoint.clone_suspected", ep.AccountID, "endpoint:"+ep.ID, OutcomeSuccess, remote, detail); err != nil {
		return nil, false, err
	}
	events = append(events, Event{Type: protocol.EventEndpointCloneSuspected, EndpointID: ep.ID, AccountID: ep.AccountID, State: ep.State, At: now})
	if !lockOut {
		return events, false, nil
	}
	ev, err := applyAction(tx, now, "system", ep, ActionUntrust, "", remote)
	if err != nil {
		return nil, false, err
	}
	if ev != nil {
		events = append(events, *ev)
	}
	return events, true, nil
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// ClearCloneMark clears an endpoint's clone mark (Endpoint.CloneSuspectedAt)
// once an administrator has dealt with the copies (docs/clones.md). It
// changes no trust: an endpoint a lock-out untrusted stays untrusted until
// approved. Clearing an endpoint with no mark is a no-op (no audit row).
// Errors: KindUnauthenticated, KindNotFound, KindPermission.
func (r *Registry) ClearCloneMark(ctx context.Context, p *Principal, endpointID string, remote netip.Addr) (*Endpoint, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	now := r.now()
	var ep *Endpoint
	err := r.store.Update(ctx, func(tx Tx) error {
		var err error
		if ep, err = endpointFor(tx, p, PermModifyEndpoint, endpointID); err != nil {
			return err
		}
		if ep.CloneSuspectedAt.IsZero() {
			return nil
		}
		if err := tx.SetEndpointCloneSuspected(ep.ID, time.Time{}); err != nil {
			return internal("clearing the clone mark", err)
		}
		was := ep.CloneSuspectedAt
		ep.CloneSuspectedAt = time.Time{}
		return audit(tx, now, p.Actor(), "endpoint.clone_clear", ep.AccountID, "endpoint:"+ep.ID, OutcomeSuccess, remote,
			map[string]string{"clone_suspected_at": was.UTC().Format(time.RFC3339), "state": string(ep.State)})
	})
	if err != nil {
		return nil, err
	}
	return ep, nil
}
