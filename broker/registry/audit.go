package registry

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// ListAudit lists audit events of the accounts where the caller holds
// ViewAuditLog (f.AccountIDs narrows them further), oldest first (newest
// first with f.Desc), each user actor named (ActorName). Events
// tied to no account (a refused key that named none, a sign-in with an
// unknown username) are shown to callers holding ViewAuditLog at a root
// account. A caller who sees no account gets an empty list. Errors:
// KindUnauthenticated, and KindNotFound or KindPermission for an account
// named in f.
func (r *Registry) ListAudit(ctx context.Context, p *Principal, f AuditFilter) ([]AuditEvent, error) {
	var out []AuditEvent
	err := r.store.View(ctx, func(tx Tx) error {
		if p == nil {
			return E(KindUnauthenticated, "sign in first", nil)
		}
		if len(f.AccountIDs) > 0 {
			for _, id := range f.AccountIDs {
				if err := authorize(tx, p, PermViewAuditLog, id); err != nil {
					return err
				}
			}
		} else {
			ids, root := []string{}, false
			err := forEachAccount(tx, func(a *Account, chain []string) {
				if p.check(chain, PermViewAuditLog) != nil {
					return
				}
				ids = append(ids, a.ID)
				root = root || a.ParentID == ""
			})
			if root {
				ids = append(ids, "")
			}
			if err != nil {
				return err
			}
			if len(ids) == 0 {
				return nil // sees no account: nothing (a nil filter would mean all)
			}
			f.AccountIDs = ids
		}
		var err error
		out, err = tx.ListAudit(f)
		if err != nil {
			return internal("listing audit events", err)
		}
		return nameActors(tx, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// nameActors sets the ActorName of events whose actor is a user that still
// exists; each user is read once.
func nameActors(tx Tx, events []AuditEvent) error {
	names := map[string]string{}
	for i := range events {
		id, ok := strings.CutPrefix(events[i].Actor, "user:")
		if !ok || id == "" {
			continue
		}
		name, ok := names[id]
		if !ok {
			u, err := tx.GetUser(id)
			switch {
			case errors.Is(err, ErrNotFound):
			case err != nil:
				return internal("looking up user", err)
			default:
				name = u.Username
			}
			names[id] = name
		}
		events[i].ActorName = name
	}
	return nil
}

// auditDenied records, in its own transaction, an action p was refused for
// want of rights (KindPermission) or on something p cannot see
// (KindNotFound), so that every attempt to climb is on the trail. The row
// belongs to p's own account: the caller's administrators see it, and so
// does everyone above. Other errors are not recorded here.
func (r *Registry) auditDenied(ctx context.Context, p *Principal, action, target string, remote netip.Addr, err error) {
	if p == nil {
		return
	}
	switch KindOf(err) {
	case KindPermission, KindNotFound:
	default:
		return
	}
	now := r.now()
	_ = r.store.Update(ctx, func(tx Tx) error {
		return audit(tx, now, p.Actor(), action, p.AccountID, target, OutcomeFailure, remote,
			map[string]string{"reason": PublicMessage(err)})
	})
}

// audit appends one audit row in tx.
func audit(tx Tx, at time.Time, actor, action, account, target, outcome string, remote netip.Addr, detail map[string]string) error {
	ev := &AuditEvent{Time: at, Actor: actor, Action: action, AccountID: account, Target: target, Outcome: outcome, Detail: detail}
	if remote.IsValid() {
		ev.Remote = remote.String()
	}
	if err := tx.AppendAudit(ev); err != nil {
		return fmt.Errorf("writing audit %s: %w", action, err)
	}
	return nil
}
