package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// testCacheGeneration: the meta row registry.CacheGenerationKey takes a
// value it never had before in every transaction that writes what a login
// decides on (accounts, users, roles, grants, keys, key values, endpoint
// state and key), stays when only a last use or last sighting (and an
// endpoint's updated_at) is written or a new endpoint is added, and a
// rolled-back write leaves it as it was
// (registry/readcache.go).
func testCacheGeneration(t *testing.T, s registry.Store) {
	seedKey(t, s)
	update(t, s, func(tx registry.Tx) error {
		if err := tx.CreateKeyValue(&registry.KeyValue{ID: "kv-1", KeyID: "key-1", PublicID: "pub-1", SecretHash: []byte("h"), CreatedAt: at(0)}); err != nil {
			return err
		}
		if err := tx.CreateUser(&registry.User{ID: "u1", AccountID: acctA, Username: "one"}); err != nil {
			return err
		}
		if err := tx.CreateRole(&registry.Role{ID: "role-1", AccountID: acctA, Name: "R"}); err != nil {
			return err
		}
		return tx.CreateEndpoint(&registry.Endpoint{ID: "ep-1", AccountID: acctA, State: registry.StateTrusted, RegisteredAt: at(0)})
	})
	gen := func() string {
		t.Helper()
		var g string
		view(t, s, func(tx registry.Tx) (err error) {
			g, err = tx.GetMeta(registry.CacheGenerationKey)
			return err
		})
		if g == "" {
			t.Fatal("no cache generation")
		}
		return g
	}
	seen := map[string]bool{}
	last := gen()
	seen[last] = true
	step := func(name string, changes bool, fn func(tx registry.Tx) error) {
		t.Helper()
		if err := s.Update(t.Context(), fn); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		g := gen()
		switch {
		case changes && g == last:
			t.Errorf("%s: the cache generation stayed %s", name, g)
		case changes && seen[g]:
			t.Errorf("%s: the cache generation went back to %s, a value it had before", name, g)
		case !changes && g != last:
			t.Errorf("%s: the cache generation changed (%s -> %s); it must not", name, last, g)
		}
		seen[g], last = true, g
	}
	step("update account", true, func(tx registry.Tx) error {
		a, err := tx.GetAccount(acctA)
		if err != nil {
			return err
		}
		a.Disabled = true
		return tx.UpdateAccount(a)
	})
	step("create account", true, func(tx registry.Tx) error {
		return tx.CreateAccount(&registry.Account{ID: "acct-c", ParentID: acctRoot, Name: "C", Type: registry.AccountCustomer, CreatedAt: at(0)})
	})
	step("create user", true, func(tx registry.Tx) error {
		return tx.CreateUser(&registry.User{ID: "u2", AccountID: acctA, Username: "two"})
	})
	step("update user", true, func(tx registry.Tx) error {
		u, err := tx.GetUser("u1")
		if err != nil {
			return err
		}
		u.Disabled = true
		return tx.UpdateUser(u)
	})
	step("create grant", true, func(tx registry.Tx) error {
		return tx.CreateGrant(&registry.Grant{UserID: "u1", RoleID: "role-1", AccountID: acctA, CreatedAt: at(0)})
	})
	step("delete grant", true, func(tx registry.Tx) error { return tx.DeleteGrant("u1", "role-1", acctA) })
	step("update key", true, func(tx registry.Tx) error {
		k, err := tx.GetAPIKey("key-1")
		if err != nil {
			return err
		}
		k.Active = false
		return tx.UpdateAPIKey(k)
	})
	step("revoke key value", true, func(tx registry.Tx) error {
		v, err := tx.GetKeyValueByPublicID("pub-1")
		if err != nil {
			return err
		}
		v.RevokedAt = at(time.Hour)
		return tx.UpdateKeyValue(v)
	})
	step("consume a key use", true, func(tx registry.Tx) error { return tx.RecordKeyUse("kv-1", at(time.Hour), "192.0.2.1", true) })
	step("record a key use", false, func(tx registry.Tx) error { return tx.RecordKeyUse("kv-1", at(2*time.Hour), "192.0.2.2", false) })
	step("touch endpoint", false, func(tx registry.Tx) error { return tx.TouchEndpoint("ep-1", at(time.Hour), "192.0.2.3") })
	step("new endpoint", false, func(tx registry.Tx) error {
		return tx.CreateEndpoint(&registry.Endpoint{ID: "ep-2", AccountID: acctA, State: registry.StatePending, RegisteredAt: at(0)})
	})
	step("re-registration changing nothing but the time", false, func(tx registry.Tx) error {
		e, err := tx.GetEndpoint("ep-1")
		if err != nil {
			return err
		}
		e.UpdatedAt, e.LastSeenAt, e.LastSeenFrom = at(2*time.Hour), at(2*time.Hour), "192.0.2.4"
		return tx.UpdateEndpoint(e)
	})
	step("untrust endpoint", true, func(tx registry.Tx) error {
		return tx.TransitionEndpoint("ep-1", []registry.State{registry.StateTrusted}, registry.StateUntrusted,
			registry.Decision{Action: "untrust", By: "user:u9", At: at(time.Hour)})
	})
	step("update endpoint", true, func(tx registry.Tx) error {
		e, err := tx.GetEndpoint("ep-1")
		if err != nil {
			return err
		}
		e.KeyThumbprint = "other"
		return tx.UpdateEndpoint(e)
	})
	step("delete endpoint", true, func(tx registry.Tx) error { return tx.DeleteEndpoint("ep-2") })
	// A write that rolls back.
	before := gen()
	err := s.Update(t.Context(), func(tx registry.Tx) error {
		if err := tx.DeleteGrant("u9", "role-1", acctA); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("DeleteGrant of no grant: %v", err)
		}
		if err := tx.CreateGrant(&registry.Grant{UserID: "u2", RoleID: "role-1", AccountID: acctA, CreatedAt: at(0)}); err != nil {
			return err
		}
		return errors.New("roll back")
	})
	if err == nil {
		t.Fatal("the rolled-back Update succeeded")
	}
	if g := gen(); g != before {
		t.Errorf("a rolled-back grant changed the cache generation (%s -> %s)", before, g)
	}
}
