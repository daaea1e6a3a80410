package storetest

import (
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// testAccounts is long by design: one conformance table, read top to bottom
// like the contract it checks.
func testAccounts(t *testing.T, s registry.Store) {
	// Created out of order, with a CreatedAt tie broken by ID.
	accounts := []registry.Account{
		{ID: "c", ParentID: "a", Name: "C", Type: registry.AccountCustomer, CreatedAt: at(time.Hour)},
		{ID: "a", Name: "Vendor", Type: registry.AccountVendor, CreatedAt: at(0), UpdatedAt: at(time.Minute)},
		{
			ID: "b", ParentID: "a", Name: "Customer B", Type: registry.AccountCustomer,
			Disabled: true, TrustAllEndpoints: true, DenyUserCreation: true,
			Settings: registry.AccountSettings{
				DeviceTokenTTL: 5*time.Minute + 1, UserTokenTTL: 2 * time.Hour, RefreshTTL: 30 * 24 * time.Hour,
				KeyQuota: 7, EndpointQuota: 1000, StaleAfter: 90*24*time.Hour + 123456789, DeleteStale: true,
				RequireEndpointKeys: true, RequireDPoP: true, PendingPerKeyValue: 7, PendingPerAccount: 70, LockOutClones: true,
			},
			CreatedAt: at(time.Hour), UpdatedAt: at(2 * time.Hour),
		},
	}
	update(t, s, func(tx registry.Tx) error {
		for i := range accounts {
			if err := tx.CreateAccount(&accounts[i]); err != nil {
				return err
			}
		}
		return nil
	})

	t.Run("round trip", func(t *testing.T) {
		view(t, s, func(tx registry.Tx) error {
			for _, want := range accounts {
				got, err := tx.GetAccount(want.ID)
				if err != nil {
					t.Fatalf("GetAccount(%q): %v", want.ID, err)
				}
				if d := diff(&want, got); d != "" {
					t.Errorf("GetAccount(%q) mismatch (-want +got):\n%s", want.ID, d)
				}
			}
			return nil
		})
	})

	t.Run("list ordered by CreatedAt then ID", func(t *testing.T) {
		view(t, s, func(tx registry.Tx) error {
			got, err := tx.ListAccounts()
			if err != nil {
				t.Fatalf("ListAccounts: %v", err)
			}
			want := []registry.Account{accounts[1], accounts[2], accounts[0]}
			if d := diff(want, got); d != "" {
				t.Errorf("ListAccounts mismatch (-want +got):\n%s", d)
			}
			return nil
		})
	})

	t.Run("errors", func(t *testing.T) {
		err := s.Update(t.Context(), func(tx registry.Tx) error {
			return tx.CreateAccount(&registry.Account{ID: "a", Name: "again", CreatedAt: at(0)})
		})
		wantErr(t, "CreateAccount duplicate", err, registry.ErrConflict)
		view(t, s, func(tx registry.Tx) error {
			_, err := tx.GetAccount("nope")
			wantErr(t, "GetAccount missing", err, registry.ErrNotFound)
			return nil
		})
		err = s.Update(t.Context(), func(tx registry.Tx) error {
			return tx.UpdateAccount(&registry.Account{ID: "nope", Name: "x"})
		})
		wantErr(t, "UpdateAccount missing", err, registry.ErrNotFound)
	})

	// Names are unique among the accounts of one parent, compared by
	// registry.AccountNameKey (Unicode case folding, not ASCII only).
	t.Run("names unique among siblings", func(t *testing.T) {
		err := s.Update(t.Context(), func(tx registry.Tx) error {
			return tx.CreateAccount(&registry.Account{ID: "b2", ParentID: "a", Name: "CUSTOMER b", CreatedAt: at(0)})
		})
		wantErr(t, "CreateAccount with a sibling's name in other case", err, registry.ErrConflict)
		renamed := accounts[0] // "c", below "a" like "b"
		renamed.Name = "customer B"
		err = s.Update(t.Context(), func(tx registry.Tx) error { return tx.UpdateAccount(&renamed) })
		wantErr(t, "UpdateAccount to a sibling's name", err, registry.ErrConflict)
		err = s.Update(t.Context(), func(tx registry.Tx) error {
			for _, a := range []registry.Account{
				{ID: "u1", ParentID: "a", Name: "Ärzte Süd"},
				{ID: "u2", ParentID: "b", Name: "ÄRZTE SÜD"}, // another parent: allowed
			} {
				if err := tx.CreateAccount(&a); err != nil {
					t.Errorf("CreateAccount(%q): %v", a.ID, err)
				}
			}
			err := tx.CreateAccount(&registry.Account{ID: "u3", ParentID: "a", Name: "ärzte SÜD"})
			wantErr(t, "CreateAccount with a sibling's non-ASCII name in other case", err, registry.ErrConflict)
			return errRollback
		})
		wantErr(t, "rolled-back Update", err, errRollback)
	})

	t.Run("update", func(t *testing.T) {
		want := accounts[0]
		want.ParentID = "b"
		want.Name = "C renamed"
		want.Type = registry.AccountVendor
		want.Disabled = true
		want.TrustAllEndpoints = true
		want.DenyUserCreation = true
		want.Settings = registry.AccountSettings{
			DeviceTokenTTL: time.Minute, UserTokenTTL: time.Hour, RefreshTTL: 24 * time.Hour,
			KeyQuota: 1, EndpointQuota: 2, StaleAfter: time.Hour, DeleteStale: true,
			RequireEndpointKeys: true, RequireDPoP: true, PendingPerKeyValue: 7, PendingPerAccount: 70, LockOutClones: true,
		}
		want.UpdatedAt = at(3 * time.Hour)
		update(t, s, func(tx registry.Tx) error { return tx.UpdateAccount(&want) })
		view(t, s, func(tx registry.Tx) error {
			got, err := tx.GetAccount(want.ID)
			if err != nil {
				t.Fatalf("GetAccount: %v", err)
			}
			if d := diff(&want, got); d != "" {
				t.Errorf("after UpdateAccount (-want +got):\n%s", d)
			}
			// Flags and settings can be cleared and times zeroed again.
			want.Disabled, want.TrustAllEndpoints, want.DenyUserCreation = false, false, false
			want.Settings = registry.AccountSettings{}
			want.UpdatedAt = time.Time{}
			return nil
		})
		update(t, s, func(tx registry.Tx) error { return tx.UpdateAccount(&want) })
		view(t, s, func(tx registry.Tx) error {
			got, err := tx.GetAccount(want.ID)
			if err != nil {
				t.Fatalf("GetAccount: %v", err)
			}
			if d := diff(&want, got); d != "" {
				t.Errorf("after second UpdateAccount (-want +got):\n%s", d)
			}
			return nil
		})
	})
}

// testUsers is long by design: one conformance table, read top to bottom
// like the contract it checks.
func testUsers(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	alice := registry.User{
		ID: "u-alice", AccountID: acctA, Username: "Alice", Domain: "CORP", UPN: "alice@corp.example",
		Email: "alice@example.com", CardID: "0042-7781", ShortID: "A1",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Source:       registry.UserSourceLocal, CreatedAt: at(0), UpdatedAt: at(time.Second),
	}
	bob := registry.User{
		ID: "u-bob", AccountID: acctA, Username: "bob", Source: registry.UserSourceSession,
		Disabled: true, CreatedAt: at(time.Second),
	}
	update(t, s, func(tx registry.Tx) error {
		for _, u := range []registry.User{alice, bob} {
			if err := tx.CreateUser(&u); err != nil {
				return err
			}
		}
		return nil
	})

	t.Run("round trip", func(t *testing.T) {
		view(t, s, func(tx registry.Tx) error {
			for _, want := range []registry.User{alice, bob} {
				got, err := tx.GetUser(want.ID)
				if err != nil {
					t.Fatalf("GetUser(%q): %v", want.ID, err)
				}
				if d := diff(&want, got); d != "" {
					t.Errorf("GetUser(%q) mismatch (-want +got):\n%s", want.ID, d)
				}
			}
			_, err := tx.GetUser("nope")
			wantErr(t, "GetUser missing", err, registry.ErrNotFound)
			return nil
		})
	})

	t.Run("create", func(t *testing.T) {
		tests := []struct {
			name string
			user registry.User
			want error
		}{
			{"duplicate id", registry.User{ID: "u-alice", AccountID: acctB, Username: "other"}, registry.ErrConflict},
			{"same name", registry.User{ID: "u-2", AccountID: acctA, Username: "Alice", Domain: "CORP"}, registry.ErrConflict},
			{"name differs in case", registry.User{ID: "u-3", AccountID: acctA, Username: "ALICE", Domain: "corp"}, registry.ErrConflict},
			{"no domain, differs in case", registry.User{ID: "u-4", AccountID: acctA, Username: "BOB"}, registry.ErrConflict},
			{"other domain", registry.User{ID: "u-5", AccountID: acctA, Username: "alice", Domain: "lab"}, nil},
			{"other account", registry.User{ID: "u-6", AccountID: acctB, Username: "alice", Domain: "corp"}, nil},
			{"missing account", registry.User{ID: "u-7", AccountID: "acct-nope", Username: "carol"}, registry.ErrNotFound},
			{"duplicate card id", registry.User{ID: "u-8", AccountID: acctA, Username: "dave", CardID: "0042-7781"}, registry.ErrConflict},
			{"duplicate short id", registry.User{ID: "u-9", AccountID: acctA, Username: "erin", ShortID: "A1"}, registry.ErrConflict},
			{"card id in another account", registry.User{ID: "u-10", AccountID: acctB, Username: "dave", CardID: "0042-7781", ShortID: "A1"}, nil},
			{"card id compares exactly", registry.User{ID: "u-11", AccountID: acctA, Username: "frank", CardID: "0042-7781 ", ShortID: "a1"}, nil},
			{"card id equal to another's short id", registry.User{ID: "u-12", AccountID: acctA, Username: "gina", CardID: "A1"}, nil},
			{"empty card and short ids repeat", registry.User{ID: "u-13", AccountID: acctA, Username: "hank"}, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				err := s.Update(t.Context(), func(tx registry.Tx) error { return tx.CreateUser(&tc.user) })
				wantErr(t, "CreateUser", err, tc.want)
			})
		}
	})

	t.Run("update", func(t *testing.T) {
		want := bob
		want.AccountID = acctB
		want.Username = "robert"
		want.Domain = "LAB"
		want.UPN = "robert@lab"
		want.Email = "r@example.com"
		want.CardID, want.ShortID = "card-bob", "B1"
		want.PasswordHash = "hash"
		want.Source = registry.UserSourceBootstrap
		want.Disabled = false
		want.UpdatedAt = at(time.Hour)
		update(t, s, func(tx registry.Tx) error { return tx.UpdateUser(&want) })
		view(t, s, func(tx registry.Tx) error {
			got, err := tx.GetUser(want.ID)
			if err != nil {
				t.Fatalf("GetUser: %v", err)
			}
			if d := diff(&want, got); d != "" {
				t.Errorf("after UpdateUser (-want +got):\n%s", d)
			}
			return nil
		})

		err := s.Update(t.Context(), func(tx registry.Tx) error {
			u := alice
			u.Username, u.Domain = "ALICE", "lab" // u-5 is alice@lab in acctA
			return tx.UpdateUser(&u)
		})
		wantErr(t, "UpdateUser onto a taken name", err, registry.ErrConflict)
		err = s.Update(t.Context(), func(tx registry.Tx) error {
			u := alice
			u.CardID = "0042-7781 " // u-11's, in acctA
			return tx.UpdateUser(&u)
		})
		wantErr(t, "UpdateUser onto a taken card id", err, registry.ErrConflict)
		err = s.Update(t.Context(), func(tx registry.Tx) error {
			u := alice
			u.ShortID = "a1" // u-11's, in acctA
			return tx.UpdateUser(&u)
		})
		wantErr(t, "UpdateUser onto a taken short id", err, registry.ErrConflict)
		// Clearing frees the ids; keeping one's own is no conflict.
		cleared := alice
		cleared.CardID, cleared.ShortID = "", ""
		update(t, s, func(tx registry.Tx) error { return tx.UpdateUser(&cleared) })
		update(t, s, func(tx registry.Tx) error { return tx.UpdateUser(&cleared) })
		update(t, s, func(tx registry.Tx) error {
			return tx.CreateUser(&registry.User{ID: "u-14", AccountID: acctA, Username: "ivy", CardID: alice.CardID, ShortID: alice.ShortID})
		})
		view(t, s, func(tx registry.Tx) error {
			got, err := tx.GetUser(alice.ID)
			if err != nil {
				t.Fatalf("GetUser: %v", err)
			}
			if d := diff(&cleared, got); d != "" {
				t.Errorf("after clearing ids (-want +got):\n%s", d)
			}
			return nil
		})
		err = s.Update(t.Context(), func(tx registry.Tx) error {
			return tx.UpdateUser(&registry.User{ID: "nope", AccountID: acctA, Username: "x"})
		})
		wantErr(t, "UpdateUser missing", err, registry.ErrNotFound)
	})
}

func testFindUsers(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	users := []registry.User{
		{ID: "u1", AccountID: acctA, Username: "Alice", Domain: "CORP", UPN: "Alice@Corp.Example", CreatedAt: at(0)},
		{ID: "u2", AccountID: acctA, Username: "alice", Domain: "LAB", UPN: "alice@lab.example", CreatedAt: at(time.Second)},
		{ID: "u3", AccountID: acctB, Username: "alice", Domain: "corp", CreatedAt: at(2 * time.Second)},
		{ID: "u4", AccountID: acctB, Username: "bob", CardID: "CARD-7", ShortID: "0042", CreatedAt: at(0)},
		{ID: "u5", AccountID: acctA, Username: "carol", CardID: "card-8", ShortID: "42", CreatedAt: at(3 * time.Second)},
	}
	update(t, s, func(tx registry.Tx) error {
		for i := range users {
			if err := tx.CreateUser(&users[i]); err != nil {
				return err
			}
		}
		return nil
	})
	tests := []struct {
		name   string
		filter registry.UserFilter
		want   []string // ordered by CreatedAt, ID
	}{
		{"everything", registry.UserFilter{}, []string{"u1", "u4", "u2", "u3", "u5"}},
		{"account", registry.UserFilter{AccountID: acctB}, []string{"u4", "u3"}},
		{"username any case", registry.UserFilter{Username: "ALICE"}, []string{"u1", "u2", "u3"}},
		{"username and domain", registry.UserFilter{Username: "alice", Domain: "Corp"}, []string{"u1", "u3"}},
		{"all fields", registry.UserFilter{AccountID: acctA, Username: "aLiCe", Domain: "corp"}, []string{"u1"}},
		{"upn any case", registry.UserFilter{UPN: "alice@corp.example"}, []string{"u1"}},
		{"account is exact", registry.UserFilter{AccountID: "ACCT-A"}, nil},
		{"no match", registry.UserFilter{Username: "dave"}, nil},
		// Card and short ids (SPEC S4).
		{"card id", registry.UserFilter{CardID: "CARD-7"}, []string{"u4"}},
		{"card id any case", registry.UserFilter{CardID: "Card-8"}, []string{"u5"}},
		{"card id in another account", registry.UserFilter{AccountID: acctA, CardID: "card-7"}, nil},
		{"short id", registry.UserFilter{ShortID: "42"}, []string{"u5"}},
		{"short id keeps leading zeros", registry.UserFilter{ShortID: "0042"}, []string{"u4"}},
		{"short id in another account", registry.UserFilter{AccountID: acctA, ShortID: "0042"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			view(t, s, func(tx registry.Tx) error {
				got, err := tx.FindUsers(tc.filter)
				if err != nil {
					t.Fatalf("FindUsers: %v", err)
				}
				var ids []string
				for _, u := range got {
					ids = append(ids, u.ID)
				}
				if d := diff(tc.want, ids); d != "" {
					t.Errorf("FindUsers(%+v) mismatch (-want +got):\n%s", tc.filter, d)
				}
				return nil
			})
		})
	}
	t.Run("whole records", func(t *testing.T) {
		view(t, s, func(tx registry.Tx) error {
			got, err := tx.FindUsers(registry.UserFilter{AccountID: acctA})
			if err != nil {
				t.Fatalf("FindUsers: %v", err)
			}
			if d := diff([]registry.User{users[0], users[1], users[4]}, got); d != "" {
				t.Errorf("FindUsers mismatch (-want +got):\n%s", d)
			}
			return nil
		})
	})
}

func testRoles(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	roles := []registry.Role{
		{
			ID: registry.RoleAdministrator, Name: "Administrator", Permissions: registry.AllPermissions,
			BuiltIn: true, CreatedAt: at(0),
		},
		{
			ID: "role-custom", AccountID: acctA, Name: "Viewer",
			Permissions: []registry.Permission{registry.PermViewEndpoint, registry.PermViewAuditLog},
			CreatedAt:   at(time.Second),
		},
		{ID: "role-empty", AccountID: acctB, Name: "Nothing", CreatedAt: at(0)},
		// Built-in roles come first even when created after custom ones.
		{
			ID: registry.RoleAuditor, Name: "Auditor", BuiltIn: true, CreatedAt: at(time.Hour),
			Permissions: []registry.Permission{registry.PermViewAuditLog},
		},
		{ID: "role-early", AccountID: acctA, Name: "Early", CreatedAt: at(-time.Hour)},
	}
	update(t, s, func(tx registry.Tx) error {
		for i := range roles {
			if err := tx.CreateRole(&roles[i]); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx registry.Tx) error {
		for _, want := range roles {
			got, err := tx.GetRole(want.ID)
			if err != nil {
				t.Fatalf("GetRole(%q): %v", want.ID, err)
			}
			if d := diff(&want, got); d != "" {
				t.Errorf("GetRole(%q) mismatch (-want +got):\n%s", want.ID, d)
			}
		}
		got, err := tx.ListRoles()
		if err != nil {
			t.Fatalf("ListRoles: %v", err)
		}
		if d := diff([]registry.Role{roles[0], roles[3], roles[4], roles[2], roles[1]}, got); d != "" {
			t.Errorf("ListRoles mismatch (-want +got):\n%s", d)
		}
		_, err = tx.GetRole("nope")
		wantErr(t, "GetRole missing", err, registry.ErrNotFound)
		return nil
	})
	err := s.Update(t.Context(), func(tx registry.Tx) error {
		return tx.CreateRole(&registry.Role{ID: "role-custom", Name: "again"})
	})
	wantErr(t, "CreateRole duplicate", err, registry.ErrConflict)
}

func testGrants(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	update(t, s, func(tx registry.Tx) error {
		for _, u := range []registry.User{
			{ID: "u1", AccountID: acctRoot, Username: "one"},
			{ID: "u2", AccountID: acctRoot, Username: "two"},
		} {
			if err := tx.CreateUser(&u); err != nil {
				return err
			}
		}
		for _, r := range []registry.Role{
			{ID: registry.RoleAdministrator, BuiltIn: true},
			{ID: registry.RoleAuditor, BuiltIn: true},
		} {
			if err := tx.CreateRole(&r); err != nil {
				return err
			}
		}
		return nil
	})
	grants := []registry.Grant{
		{UserID: "u1", RoleID: registry.RoleAuditor, AccountID: acctA, CreatedAt: at(time.Second)},
		{UserID: "u1", RoleID: registry.RoleAdministrator, AccountID: acctRoot, CreatedAt: at(0)},
		{UserID: "u1", RoleID: registry.RoleAdministrator, AccountID: acctB, CreatedAt: at(2 * time.Second)},
		{UserID: "u2", RoleID: registry.RoleAuditor, AccountID: acctA, CreatedAt: at(0)},
	}
	update(t, s, func(tx registry.Tx) error {
		for i := range grants {
			if err := tx.CreateGrant(&grants[i]); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx registry.Tx) error {
		tests := []struct {
			user string
			want []registry.Grant
		}{
			{"u1", []registry.Grant{grants[1], grants[0], grants[2]}},
			{"u2", []registry.Grant{grants[3]}},
			{"u3", nil},
		}
		for _, tc := range tests {
			got, err := tx.ListGrants(tc.user)
			if err != nil {
				t.Fatalf("ListGrants(%q): %v", tc.user, err)
			}
			if d := diff(tc.want, got); d != "" {
				t.Errorf("ListGrants(%q) mismatch (-want +got):\n%s", tc.user, d)
			}
		}
		return nil
	})

	tests := []struct {
		name  string
		grant registry.Grant
		want  error
	}{
		{"duplicate", registry.Grant{UserID: "u1", RoleID: registry.RoleAuditor, AccountID: acctA, CreatedAt: at(time.Hour)}, registry.ErrConflict},
		{"same role other account", registry.Grant{UserID: "u2", RoleID: registry.RoleAuditor, AccountID: acctB}, nil},
		{"missing user", registry.Grant{UserID: "nope", RoleID: registry.RoleAuditor, AccountID: acctB}, registry.ErrNotFound},
		{"missing role", registry.Grant{UserID: "u2", RoleID: "nope", AccountID: acctB}, registry.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Update(t.Context(), func(tx registry.Tx) error { return tx.CreateGrant(&tc.grant) })
			wantErr(t, "CreateGrant", err, tc.want)
		})
	}
}

func testDeleteUser(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	seedGrants(t, s)
	update(t, s, func(tx registry.Tx) error { return tx.DeleteUser("u1") })
	view(t, s, func(tx registry.Tx) error {
		_, err := tx.GetUser("u1")
		wantErr(t, "GetUser after DeleteUser", err, registry.ErrNotFound)
		for user, want := range map[string]int{"u1": 0, "u2": 2} {
			got, err := tx.ListGrants(user)
			if err != nil {
				t.Fatalf("ListGrants(%q): %v", user, err)
			}
			if len(got) != want {
				t.Errorf("ListGrants(%q) after deleting u1 = %+v, want %d grants", user, got, want)
			}
		}
		for _, role := range []string{registry.RoleAdministrator, registry.RoleAuditor} {
			if _, err := tx.GetRole(role); err != nil {
				t.Errorf("GetRole(%q) after DeleteUser: %v", role, err)
			}
		}
		return nil
	})
	err := s.Update(t.Context(), func(tx registry.Tx) error { return tx.DeleteUser("u1") })
	wantErr(t, "DeleteUser again", err, registry.ErrNotFound)
	err = s.Update(t.Context(), func(tx registry.Tx) error { return tx.DeleteUser("nope") })
	wantErr(t, "DeleteUser missing", err, registry.ErrNotFound)
	// The name and card id are free again.
	update(t, s, func(tx registry.Tx) error {
		return tx.CreateUser(&registry.User{ID: "u1-again", AccountID: acctRoot, Username: "ONE", CardID: "card-1"})
	})
}

// seedGrants creates users u1 (card-1) and u2 in acctRoot, the built-in
// roles Administrator and Auditor, custom role "role-custom", and grants:
// u1: Administrator at root, Auditor at A, custom at A;
// u2: Auditor at A, custom at B.
func seedGrants(t *testing.T, s registry.Store) []registry.Grant {
	t.Helper()
	grants := []registry.Grant{
		{UserID: "u1", RoleID: registry.RoleAdministrator, AccountID: acctRoot, CreatedAt: at(0)},
		{UserID: "u1", RoleID: registry.RoleAuditor, AccountID: acctA, CreatedAt: at(time.Second)},
		{UserID: "u1", RoleID: "role-custom", AccountID: acctA, CreatedAt: at(2 * time.Second)},
		{UserID: "u2", RoleID: registry.RoleAuditor, AccountID: acctA, CreatedAt: at(0)},
		{UserID: "u2", RoleID: "role-custom", AccountID: acctB, CreatedAt: at(time.Second)},
	}
	update(t, s, func(tx registry.Tx) error {
		for _, u := range []registry.User{
			{ID: "u1", AccountID: acctRoot, Username: "one", CardID: "card-1"},
			{ID: "u2", AccountID: acctRoot, Username: "two"},
		} {
			if err := tx.CreateUser(&u); err != nil {
				return err
			}
		}
		for _, r := range []registry.Role{
			{ID: registry.RoleAdministrator, BuiltIn: true},
			{ID: registry.RoleAuditor, BuiltIn: true},
			{ID: "role-custom", AccountID: acctRoot, Name: "Custom"},
		} {
			if err := tx.CreateRole(&r); err != nil {
				return err
			}
		}
		for i := range grants {
			if err := tx.CreateGrant(&grants[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return grants
}

func testUpdateRole(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	orig := registry.Role{
		ID: "role-custom", AccountID: acctA, Name: "Viewer", CreatedAt: at(time.Second),
		Permissions: []registry.Permission{registry.PermViewEndpoint},
	}
	update(t, s, func(tx registry.Tx) error { return tx.CreateRole(&orig) })
	get := func(t *testing.T) *registry.Role {
		t.Helper()
		var r *registry.Role
		view(t, s, func(tx registry.Tx) error {
			var err error
			r, err = tx.GetRole(orig.ID)
			return err
		})
		return r
	}
	tests := []struct {
		name        string
		update      registry.Role
		permissions []registry.Permission
	}{
		{"rename and add permissions", registry.Role{
			ID: orig.ID, Name: "Approver-ish",
			Permissions: []registry.Permission{registry.PermViewEndpoint, registry.PermModifyEndpoint},
		}, []registry.Permission{registry.PermViewEndpoint, registry.PermModifyEndpoint}},
		{"clear permissions", registry.Role{ID: orig.ID, Name: "Nothing"}, nil},
		// AccountID, BuiltIn and CreatedAt are not replaced.
		{"only name and permissions change", registry.Role{
			ID: orig.ID, AccountID: acctB, Name: "Viewer", BuiltIn: true, CreatedAt: at(time.Hour),
			Permissions: registry.AllPermissions,
		}, registry.AllPermissions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			update(t, s, func(tx registry.Tx) error { return tx.UpdateRole(&tc.update) })
			want := orig
			want.Name, want.Permissions = tc.update.Name, tc.permissions
			if d := diff(&want, get(t)); d != "" {
				t.Errorf("after UpdateRole (-want +got):\n%s", d)
			}
		})
	}
	err := s.Update(t.Context(), func(tx registry.Tx) error {
		return tx.UpdateRole(&registry.Role{ID: "nope", Name: "x"})
	})
	wantErr(t, "UpdateRole missing", err, registry.ErrNotFound)
}

func testDeleteRole(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	grants := seedGrants(t, s)
	update(t, s, func(tx registry.Tx) error { return tx.DeleteRole("role-custom") })
	view(t, s, func(tx registry.Tx) error {
		_, err := tx.GetRole("role-custom")
		wantErr(t, "GetRole after DeleteRole", err, registry.ErrNotFound)
		for user, want := range map[string][]registry.Grant{
			"u1": {grants[0], grants[1]},
			"u2": {grants[3]},
		} {
			got, err := tx.ListGrants(user)
			if err != nil {
				t.Fatalf("ListGrants(%q): %v", user, err)
			}
			if d := diff(want, got); d != "" {
				t.Errorf("ListGrants(%q) after DeleteRole (-want +got):\n%s", user, d)
			}
		}
		roles, err := tx.ListRoles()
		if err != nil {
			t.Fatalf("ListRoles: %v", err)
		}
		if len(roles) != 2 {
			t.Errorf("ListRoles after DeleteRole = %+v, want the two built-in roles", roles)
		}
		return nil
	})
	err := s.Update(t.Context(), func(tx registry.Tx) error { return tx.DeleteRole("role-custom") })
	wantErr(t, "DeleteRole again", err, registry.ErrNotFound)
	// The id can be used again, and starts with no grants.
	update(t, s, func(tx registry.Tx) error {
		return tx.CreateRole(&registry.Role{ID: "role-custom", AccountID: acctA, Name: "Again"})
	})
	view(t, s, func(tx registry.Tx) error {
		got, err := tx.ListGrants("u2")
		if err != nil {
			t.Fatalf("ListGrants: %v", err)
		}
		if d := diff([]registry.Grant{grants[3]}, got); d != "" {
			t.Errorf("ListGrants after re-creating the role (-want +got):\n%s", d)
		}
		return nil
	})
}

func testDeleteGrant(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	grants := seedGrants(t, s)
	tests := []struct {
		name             string
		user, role, acct string
		want             error
		wantU1, wantU2   []registry.Grant
	}{
		{"other account", "u1", registry.RoleAuditor, acctB, registry.ErrNotFound,
			grants[:3], grants[3:]},
		{"other user", "u2", registry.RoleAdministrator, acctRoot, registry.ErrNotFound,
			grants[:3], grants[3:]},
		{"missing role", "u1", "nope", acctA, registry.ErrNotFound,
			grants[:3], grants[3:]},
		{"one grant", "u1", registry.RoleAuditor, acctA, nil,
			[]registry.Grant{grants[0], grants[2]}, grants[3:]},
		{"again", "u1", registry.RoleAuditor, acctA, registry.ErrNotFound,
			[]registry.Grant{grants[0], grants[2]}, grants[3:]},
		{"same role, other user kept", "u2", "role-custom", acctB, nil,
			[]registry.Grant{grants[0], grants[2]}, grants[3:4]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Update(t.Context(), func(tx registry.Tx) error {
				return tx.DeleteGrant(tc.user, tc.role, tc.acct)
			})
			wantErr(t, "DeleteGrant", err, tc.want)
			view(t, s, func(tx registry.Tx) error {
				for user, want := range map[string][]registry.Grant{"u1": tc.wantU1, "u2": tc.wantU2} {
					got, err := tx.ListGrants(user)
					if err != nil {
						t.Fatalf("ListGrants(%q): %v", user, err)
					}
					if d := diff(want, got); d != "" {
						t.Errorf("ListGrants(%q) (-want +got):\n%s", user, d)
					}
				}
				return nil
			})
		})
	}
}
