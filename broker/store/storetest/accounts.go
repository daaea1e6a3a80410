package storetest

import (
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

func testAccounts(t *testing.T, s registry.Store) {
	// Created out of order, with a CreatedAt tie broken by ID.
	accounts := []registry.Account{
		{ID: "c", ParentID: "a", Name: "C", Type: registry.AccountCustomer, CreatedAt: at(time.Hour)},
		{ID: "a", Name: "Vendor", Type: registry.AccountVendor, CreatedAt: at(0), UpdatedAt: at(time.Minute)},
		{
			ID: "b", ParentID: "a", Name: "Customer B", Type: registry.AccountCustomer,
			Disabled: true, TrustAllEndpoints: true, DenyUserCreation: true,
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

	t.Run("update", func(t *testing.T) {
		want := accounts[0]
		want.ParentID = "b"
		want.Name = "C renamed"
		want.Type = registry.AccountVendor
		want.Disabled = true
		want.TrustAllEndpoints = true
		want.DenyUserCreation = true
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
			// Flags can be cleared and times zeroed again.
			want.Disabled, want.TrustAllEndpoints, want.DenyUserCreation = false, false, false
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

func testUsers(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	alice := registry.User{
		ID: "u-alice", AccountID: acctA, Username: "Alice", Domain: "CORP", UPN: "alice@corp.example",
		Email: "alice@example.com", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Source: registry.UserSourceLocal, CreatedAt: at(0), UpdatedAt: at(time.Second),
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
		{ID: "u4", AccountID: acctB, Username: "bob", CreatedAt: at(0)},
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
		{"everything", registry.UserFilter{}, []string{"u1", "u4", "u2", "u3"}},
		{"account", registry.UserFilter{AccountID: acctB}, []string{"u4", "u3"}},
		{"username any case", registry.UserFilter{Username: "ALICE"}, []string{"u1", "u2", "u3"}},
		{"username and domain", registry.UserFilter{Username: "alice", Domain: "Corp"}, []string{"u1", "u3"}},
		{"all fields", registry.UserFilter{AccountID: acctA, Username: "aLiCe", Domain: "corp"}, []string{"u1"}},
		{"upn any case", registry.UserFilter{UPN: "alice@corp.example"}, []string{"u1"}},
		{"account is exact", registry.UserFilter{AccountID: "ACCT-A"}, nil},
		{"no match", registry.UserFilter{Username: "carol"}, nil},
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
			if d := diff(users[:2], got); d != "" {
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
		if d := diff([]registry.Role{roles[0], roles[2], roles[1]}, got); d != "" {
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
