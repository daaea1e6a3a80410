package registry

import "context"

// ListAudit lists audit events of the accounts where the caller holds
// ViewAuditLog (f.AccountIDs narrows them further), oldest first. Events
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
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
