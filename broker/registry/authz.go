package registry

import (
	"errors"
	"fmt"
	"slices"
)

// authorize checks that p holds perm at accountID (through a grant at the
// account or an ancestor). An account p cannot see at all answers
// KindNotFound, so ids cannot be probed; one it sees without perm answers
// KindPermission.
func authorize(tx Tx, p *Principal, perm Permission, accountID string) error {
	_, err := authorizedChain(tx, p, perm, accountID)
	return err
}

// authorizedChain is authorize that also returns the ids of accountID's
// chain (itself first), for callers that go on to check what p may hand
// out there (holdsAll).
func authorizedChain(tx Tx, p *Principal, perm Permission, accountID string) ([]string, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	chain, err := ancestors(tx, accountID)
	if errors.Is(err, ErrNotFound) {
		return nil, E(KindNotFound, "not found", err)
	}
	if err != nil {
		return nil, internal("walking account tree", err)
	}
	ids := accountIDs(chain)
	if err := p.check(ids, perm); err != nil {
		return nil, err
	}
	return ids, nil
}

// check decides perm for an account given its chain of ids (itself first).
func (p *Principal) check(chain []string, perm Permission) error {
	sees := false
	for _, g := range p.grants {
		if !slices.Contains(chain, g.accountID) {
			continue
		}
		sees = true
		if slices.Contains(g.perms, perm) {
			return nil
		}
	}
	if !sees {
		return E(KindNotFound, "not found", nil)
	}
	return E(KindPermission, "you lack the "+string(perm)+" permission for this account", nil)
}

// visibleAccounts returns the accounts where p holds perm, from one read of
// the account table.
func visibleAccounts(tx Tx, p *Principal, perm Permission) ([]Account, error) {
	var out []Account
	err := forEachAccount(tx, func(a *Account, chain []string) {
		if p.check(chain, perm) == nil {
			out = append(out, *a)
		}
	})
	return out, err
}

// grantsOf returns a user's grants with their roles' permissions.
func grantsOf(tx Tx, userID string) ([]resolvedGrant, error) {
	grants, err := tx.ListGrants(userID)
	if err != nil {
		return nil, fmt.Errorf("listing grants: %w", err)
	}
	var out []resolvedGrant
	for _, g := range grants {
		role, err := tx.GetRole(g.RoleID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("looking up role: %w", err)
		}
		out = append(out, resolvedGrant{accountID: g.AccountID, perms: role.Permissions})
	}
	return out, nil
}

// chainIDs returns the ids of an account and its ancestors, nearest first.
func chainIDs(tx Tx, accountID string) ([]string, error) {
	chain, err := ancestors(tx, accountID)
	if err != nil {
		return nil, internal("walking account tree", err)
	}
	return accountIDs(chain), nil
}

// holdsAll checks that p holds every one of perms at the account whose
// chain is given; it is how no one hands out a right they lack (roles,
// grants, a key's run-as identity). Errors: KindPermission.
func (p *Principal) holdsAll(chain []string, perms []Permission) error {
	for _, perm := range perms {
		if err := p.check(chain, perm); err != nil {
			return E(KindPermission, "you cannot hand out the "+string(perm)+" permission: you lack it at this account", nil)
		}
	}
	return nil
}

// covers checks that p holds, at each grant's account, every permission of
// grants: p may not take over or hand out a more powerful identity.
func (p *Principal) covers(tx Tx, grants []resolvedGrant) error {
	for _, g := range grants {
		chain, err := chainIDs(tx, g.accountID)
		if err != nil {
			return err
		}
		if err := p.holdsAll(chain, g.perms); err != nil {
			return err
		}
	}
	return nil
}

// Holds reports whether p holds perm at some account. It decides only
// what a user interface shows (a page, a button); every use case checks
// the permission again at the account it acts on.
func (p *Principal) Holds(perm Permission) bool {
	if p == nil {
		return false
	}
	for _, g := range p.grants {
		if slices.Contains(g.perms, perm) {
			return true
		}
	}
	return false
}
