package httpapi_test

import (
	"context"
	"maps"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// TestNamesBesideIDs: accounts, users, grants, roles and keys carry the
// names of the accounts, roles, users and keys they name by id — those the
// caller may see, and only those.
func TestNamesBesideIDs(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	vendor, err := h.c.CreateAccount(ctx, api.CreateAccountRequest{Name: "Vendor N", Type: "vendor"})
	if err != nil {
		t.Fatal(err)
	}
	cust, err := h.c.CreateAccount(ctx, api.CreateAccountRequest{Name: "Acme Corp", ParentID: vendor.ID})
	if err != nil {
		t.Fatal(err)
	}
	const pw = "carol-password-1234"
	carol, err := h.c.CreateUser(ctx, api.CreateUserRequest{AccountID: cust.ID, Username: "carol", Password: pw, Roles: []string{"Administrator"}})
	if err != nil {
		t.Fatal(err)
	}
	role, err := h.c.CreateRole(ctx, api.CreateRoleRequest{AccountID: cust.ID, Name: "Key viewer", Permissions: []string{"ViewApiKey"}})
	if err != nil {
		t.Fatal(err)
	}
	grant, err := h.c.Grant(ctx, carol.ID, api.GrantRequest{Role: "Key viewer"})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: cust.ID, Name: "Acme laptops"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := h.c.UpdateKey(ctx, ck.ID, api.UpdateKeyRequest{RunAsUserID: &carol.ID, RunAsRoleID: &role.ID})
	if err != nil {
		t.Fatal(err)
	}
	carolC := api.New(h.srv.URL, h.srv.Client())
	tr, err := carolC.SignIn(ctx, api.SignInRequest{Username: "carol", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	carolC.SetToken(tr.AccessToken)

	get := func(t *testing.T, c *api.Client) map[string]string {
		t.Helper()
		out := map[string]string{}
		a, err := c.GetAccount(ctx, cust.ID)
		if err != nil {
			t.Fatal(err)
		}
		out["account parent"] = a.ParentName
		u, err := c.GetUser(ctx, carol.ID)
		if err != nil {
			t.Fatal(err)
		}
		out["user account"] = u.AccountName
		for _, g := range u.Grants {
			out["grant "+g.RoleID] = g.RoleName + " @ " + g.AccountName
		}
		k, err := c.GetKey(ctx, key.ID)
		if err != nil {
			t.Fatal(err)
		}
		out["key account"], out["key created by"] = k.AccountName, k.CreatedByName
		out["key run-as user"], out["key run-as role"] = k.RunAsUserName, k.RunAsRoleName
		roles, err := c.ListRoles(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range roles {
			if r.ID == role.ID {
				out["role account"] = r.AccountName
			}
		}
		return out
	}
	if grant.RoleName != "Key viewer" || grant.AccountName != "Acme Corp" {
		t.Errorf("grant answer names %q @ %q, want Key viewer @ Acme Corp", grant.RoleName, grant.AccountName)
	}
	if ck.AccountName != "Acme Corp" || ck.CreatedByName != "admin" {
		t.Errorf("created key names account %q, creator %q; want Acme Corp, admin", ck.AccountName, ck.CreatedByName)
	}
	adminSees := map[string]string{
		"account parent": "Vendor N", "user account": "Acme Corp",
		"grant role-administrator": "Administrator @ Acme Corp", "grant " + role.ID: "Key viewer @ Acme Corp",
		"key account": "Acme Corp", "key created by": "admin", "key run-as user": "carol", "key run-as role": "Key viewer",
		"role account": "Acme Corp",
	}
	if d := cmp.Diff(adminSees, get(t, h.c)); d != "" {
		t.Errorf("names the root admin sees (-want +got):\n%s", d)
	}
	// Carol administers Acme only: the vendor above it and the root admin
	// who made the key stay ids.
	carolSees := maps.Clone(adminSees)
	carolSees["account parent"], carolSees["key created by"] = "", ""
	if d := cmp.Diff(carolSees, get(t, carolC)); d != "" {
		t.Errorf("names Acme's administrator sees (-want +got):\n%s", d)
	}
}
