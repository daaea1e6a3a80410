package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
)

// TestUserAndRoleRoutes walks users and roles through their life: a new
// user signs in and acts with its role, custom roles, grants, updates,
// lists, refusals and deletion. It is long because each step builds on the
// users and roles the previous ones made.
func TestUserAndRoleRoutes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	acct := h.defaultAccount(t)
	const pw = "alice-password-1234"

	u, err := h.c.CreateUser(ctx, api.CreateUserRequest{AccountID: acct, Username: "alice", Email: "a@example.com", Password: pw, Roles: []string{"Approver"}})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	want := api.UserDetail{
		User: api.User{ID: u.ID, Username: "alice", AccountID: acct}, AccountName: "default", Email: "a@example.com", Source: "local",
		Grants: []api.Grant{{RoleID: registry.RoleApprover, RoleName: "Approver", AccountID: acct, AccountName: "default"}},
	}
	ignore := cmpopts.IgnoreFields(api.UserDetail{}, "CreatedAt", "UpdatedAt")
	ignoreGrantTime := cmpopts.IgnoreFields(api.Grant{}, "CreatedAt")
	if diff := cmp.Diff(want, *u, ignore, ignoreGrantTime); diff != "" {
		t.Errorf("created user (-want +got):\n%s", diff)
	}
	_, body := h.admin(t, "GET", "/api/v1/users/"+u.ID, nil)
	if strings.Contains(string(body), "password") || strings.Contains(string(body), "argon2") {
		t.Errorf("user JSON shows a password: %s", body)
	}

	t.Run("the new user signs in and acts with its role", func(t *testing.T) {
		c := api.New(h.srv.URL, h.srv.Client())
		tr, err := c.SignIn(ctx, api.SignInRequest{Username: "alice", Password: pw})
		if err != nil {
			t.Fatalf("SignIn: %v", err)
		}
		c.SetToken(tr.AccessToken)
		if _, err := c.ListEndpoints(ctx, api.EndpointFilter{}); err != nil {
			t.Errorf("Approver listing endpoints: %v", err)
		}
		if _, err := c.ListKeys(ctx, acct); !api.IsStatus(err, http.StatusForbidden) {
			t.Errorf("Approver listing keys = %v, want 403", err)
		}
	})

	var role *api.Role
	t.Run("custom role", func(t *testing.T) {
		role, err = h.c.CreateRole(ctx, api.CreateRoleRequest{AccountID: acct, Name: "Key viewer", Permissions: []string{"ViewApiKey"}})
		if err != nil {
			t.Fatalf("CreateRole: %v", err)
		}
		wantRole := api.Role{ID: role.ID, AccountID: acct, AccountName: "default", Name: "Key viewer", Permissions: []string{"ViewApiKey"}}
		if diff := cmp.Diff(wantRole, *role, cmpopts.IgnoreFields(api.Role{}, "CreatedAt")); diff != "" {
			t.Errorf("role (-want +got):\n%s", diff)
		}
		roles, err := h.c.ListRoles(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range roles {
			names = append(names, r.Name)
		}
		if diff := cmp.Diff([]string{"Administrator", "Approver", "Auditor", "Key viewer"}, names, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("roles (-want +got):\n%s", diff)
		}
	})

	t.Run("grant and ungrant", func(t *testing.T) {
		g, err := h.c.Grant(ctx, u.ID, api.GrantRequest{Role: role.ID, AccountID: acct})
		if err != nil {
			t.Fatalf("Grant: %v", err)
		}
		if g.RoleID != role.ID || g.AccountID != acct {
			t.Errorf("grant %+v", g)
		}
		got, err := h.c.GetUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Grants) != 2 {
			t.Errorf("grants after granting %+v, want 2", got.Grants)
		}
		if err := h.c.Ungrant(ctx, u.ID, "Key viewer", acct); err != nil {
			t.Fatalf("Ungrant by name: %v", err)
		}
		if err := h.c.Ungrant(ctx, u.ID, "Key viewer", acct); !api.IsStatus(err, http.StatusNotFound) {
			t.Errorf("second Ungrant = %v, want 404", err)
		}
		got, _ = h.c.GetUser(ctx, u.ID)
		if diff := cmp.Diff(want.Grants, got.Grants, ignoreGrantTime); diff != "" {
			t.Errorf("grants after ungranting (-want +got):\n%s", diff)
		}
	})

	t.Run("update", func(t *testing.T) {
		email, disabled := "alice@example.com", true
		got, err := h.c.UpdateUser(ctx, u.ID, api.UpdateUserRequest{Email: &email, Disabled: &disabled})
		if err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
		if got.Email != email || !got.Disabled {
			t.Errorf("updated user %+v", got)
		}
		c := api.New(h.srv.URL, h.srv.Client())
		if _, err := c.SignIn(ctx, api.SignInRequest{Username: "alice", Password: pw}); !api.IsStatus(err, http.StatusUnauthorized) {
			t.Errorf("disabled user signing in = %v, want 401", err)
		}
	})

	t.Run("list", func(t *testing.T) {
		users, err := h.c.ListUsers(ctx, acct)
		if err != nil {
			t.Fatal(err)
		}
		if len(users) != 1 || users[0].ID != u.ID {
			t.Errorf("users of %s = %+v, want alice", acct, users)
		}
		all, err := h.c.ListUsers(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, x := range all {
			names = append(names, x.Username)
		}
		slices.Sort(names)
		if diff := cmp.Diff([]string{"admin", "alice"}, names); diff != "" {
			t.Errorf("every user (-want +got):\n%s", diff)
		}
	})

	t.Run("errors", func(t *testing.T) {
		h.wantAdminErrors(t, []adminErrorCase{
			{"duplicate username", "POST", "/api/v1/users", api.CreateUserRequest{AccountID: acct, Username: "alice"}, 409, "conflict", "alice"},
			{"unknown role", "POST", "/api/v1/users", api.CreateUserRequest{AccountID: acct, Username: "bob", Roles: []string{"Wizard"}}, 400, "invalid_request", "Wizard"},
			{"short password", "POST", "/api/v1/users", api.CreateUserRequest{AccountID: acct, Username: "bob", Password: "x"}, 400, "invalid_request", "password"},
			{"grant without role", "POST", "/api/v1/users/" + u.ID + "/grants", `{"account_id":"` + acct + `"}`, 400, "invalid_request", "role"},
			{"ungrant without role", "DELETE", "/api/v1/users/" + u.ID + "/grants", nil, 400, "invalid_request", "role"},
			{"unknown user", "GET", "/api/v1/users/" + uuid.NewString(), nil, 404, "not_found", ""},
			{"delete yourself", "DELETE", "/api/v1/users/" + h.tokens.User.ID, nil, 400, "invalid_request", "yourself"},
			{"bad permission", "POST", "/api/v1/roles", `{"name":"r","permissions":["Fly"]}`, 400, "invalid_request", "Fly"},
			{"role without permissions", "POST", "/api/v1/roles", `{"name":"r","permissions":[]}`, 400, "invalid_request", "permission"},
			{"delete built-in role", "DELETE", "/api/v1/roles/" + registry.RoleAuditor, nil, 400, "invalid_request", "built-in"},
			{"unknown role delete", "DELETE", "/api/v1/roles/" + uuid.NewString(), nil, 404, "not_found", ""},
			{"users of an unknown account", "GET", "/api/v1/users?account_id=" + uuid.NewString(), nil, 404, "not_found", ""},
		})
	})

	t.Run("delete", func(t *testing.T) {
		if err := h.c.DeleteRole(ctx, role.ID); err != nil {
			t.Fatalf("DeleteRole: %v", err)
		}
		if err := h.c.DeleteUser(ctx, u.ID); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		if _, err := h.c.GetUser(ctx, u.ID); !api.IsStatus(err, http.StatusNotFound) {
			t.Errorf("GetUser after delete = %v, want 404", err)
		}
	})
}
