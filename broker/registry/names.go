package registry

import (
	"context"
	"errors"
	"strings"
)

// NameQuery lists ids to name: accounts, roles, users and API keys.
type NameQuery struct {
	Accounts, Roles, Users, Keys []string
}

// Names maps ids to names, for showing a name beside an id (issue 12): an
// account's name, a role's name, a user's username, a key's name. An id
// is missing when the thing does not exist or the caller may not see it.
type Names struct {
	Accounts, Roles, Users, Keys map[string]string
}

// Account returns the name of account id, or "". A nil Names knows none.
func (n *Names) Account(id string) string {
	return n.lookup(func(n *Names) map[string]string { return n.Accounts }, id)
}

// Role returns the name of role id, or "".
func (n *Names) Role(id string) string {
	return n.lookup(func(n *Names) map[string]string { return n.Roles }, id)
}

// User returns the username of user id, or "".
func (n *Names) User(id string) string {
	return n.lookup(func(n *Names) map[string]string { return n.Users }, id)
}

// Key returns the name of API key id, or "".
func (n *Names) Key(id string) string {
	return n.lookup(func(n *Names) map[string]string { return n.Keys }, id)
}

func (n *Names) lookup(m func(*Names) map[string]string, id string) string {
	if n == nil {
		return ""
	}
	return m(n)[id]
}

// Actor names the actor of an audit event or a key's creator ("user:<id>",
// "key:<id>"): the username or the key's name, or "" when unknown here.
func (n *Names) Actor(actor string) string {
	if id, ok := strings.CutPrefix(actor, "user:"); ok {
		return n.User(id)
	}
	if id, ok := strings.CutPrefix(actor, "key:"); ok {
		return n.Key(id)
	}
	return ""
}

// ActorIDs adds to q the user and key ids of actors ("user:<id>",
// "key:<id>"), for Names.Actor.
func (q *NameQuery) ActorIDs(actors ...string) {
	for _, a := range actors {
		if id, ok := strings.CutPrefix(a, "user:"); ok {
			q.Users = append(q.Users, id)
		} else if id, ok := strings.CutPrefix(a, "key:"); ok {
			q.Keys = append(q.Keys, id)
		}
	}
}

// ResolveNames names what q lists that the caller may see: an account it
// holds any grant at or above; a built-in role, or a custom role of such an
// account or of one above it (the roles ListRoles shows); a user where it
// holds ViewUser; a key where it holds ViewAPIKey. It never fails for an
// id it cannot name. Errors: KindUnauthenticated.
func (r *Registry) ResolveNames(ctx context.Context, p *Principal, q NameQuery) (*Names, error) {
	out := &Names{Accounts: map[string]string{}, Roles: map[string]string{}, Users: map[string]string{}, Keys: map[string]string{}}
	err := r.store.View(ctx, func(tx Tx) error {
		if p == nil {
			return E(KindUnauthenticated, "sign in first", nil)
		}
		chains := map[string][]string{}
		names := map[string]string{}
		seen, above := map[string]bool{}, map[string]bool{}
		err := forEachAccount(tx, func(a *Account, chain []string) {
			chains[a.ID], names[a.ID] = chain, a.Name
			if p.sees(chain) {
				seen[a.ID] = true
				for _, id := range chain {
					above[id] = true
				}
			}
		})
		if err != nil {
			return err
		}
		for _, id := range q.Accounts {
			if seen[id] {
				out.Accounts[id] = names[id]
			}
		}
		for _, id := range q.Roles {
			if _, done := out.Roles[id]; done || id == "" {
				continue
			}
			role, err := tx.GetRole(id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return internal("looking up role", err)
			}
			if role.BuiltIn || above[role.AccountID] {
				out.Roles[id] = role.Name
			}
		}
		for _, id := range q.Users {
			if _, done := out.Users[id]; done || id == "" {
				continue
			}
			u, err := tx.GetUser(id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return internal("looking up user", err)
			}
			if p.check(chains[u.AccountID], PermViewUser) == nil {
				out.Users[id] = u.Username
			}
		}
		for _, id := range q.Keys {
			if _, done := out.Keys[id]; done || id == "" {
				continue
			}
			k, err := tx.GetAPIKey(id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return internal("looking up key", err)
			}
			if p.check(chains[k.AccountID], PermViewAPIKey) == nil {
				out.Keys[id] = k.Name
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sees reports whether p holds any grant at the account whose chain is
// given (itself first): whether the account is visible to p at all.
func (p *Principal) sees(chain []string) bool {
	return KindOf(p.check(chain, "")) != KindNotFound
}
