package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/protocol/api"
)

func TestUsersUsage(t *testing.T) {
	runUsageCases(t, []usageCase{
		{"users create without username", []string{"users", "create"}, 2, "", "--username"},
		{"users create empty password", []string{"users", "create", "--username", "u", "--password-stdin"}, 2, "", "no password"},
		{"users update nothing", []string{"users", "update", "u1"}, 2, "", "nothing to change"},
		{"users update two passwords", []string{"users", "update", "u1", "--password-stdin", "--no-password"}, 2, "", "not both"},
	})
}

// walkUsers creates bob in Shop, signs him in, and changes and deletes him.
func walkUsers(t *testing.T, w *walk) {
	var bob api.UserDetail
	t.Run("users create", func(t *testing.T) {
		r := w.mustRun(t, "bob-password-1234\n", "users", "create", "--account", w.cust.ID, "--username", "bob",
			"--role", "Approver", "--role", "Auditor", "--password-stdin", "-o", "json")
		bob = decodeJSON[api.UserDetail](t, r.stdout)
		var roles []string
		for _, g := range bob.Grants {
			roles = append(roles, g.RoleID+"@"+g.AccountID)
		}
		slices.Sort(roles)
		if diff := cmp.Diff([]string{"role-approver@" + w.cust.ID, "role-auditor@" + w.cust.ID}, roles); diff != "" || bob.AccountID != w.cust.ID {
			t.Errorf("bob %+v; grants (-want +got):\n%s", bob, diff)
		}
		if strings.Contains(r.stdout, "bob-password") {
			t.Error("the password is echoed")
		}
		// bob signs in with his own session.
		benv := map[string]string{"EDGETRUST_CONFIG_DIR": t.TempDir(), "EDGETRUST_SERVER": w.b.srv.URL, "EDGETRUST_CA_FILE": w.b.caFile}
		if r := runCLI(t, benv, "bob-password-1234\n", "login", "--username", "bob", "--password-stdin"); r.code != 0 {
			t.Fatalf("bob login: %d %q", r.code, r.stderr)
		}
		if r := runCLI(t, benv, "", "keys", "create", "--name", "x"); r.code != 1 || !strings.Contains(r.stderr, "permission") {
			t.Errorf("bob creating a key: exit %d, stderr %q; want a permission error", r.code, r.stderr)
		}
	})
	t.Run("users list, grant, ungrant, update, delete", func(t *testing.T) {
		users := decodeJSON[[]api.UserDetail](t, w.mustRun(t, "", "users", "list", "--account", w.cust.ID, "-o", "json").stdout)
		if len(users) != 1 || users[0].ID != bob.ID {
			t.Fatalf("users of Shop %+v", users)
		}
		g := decodeJSON[api.Grant](t, w.mustRun(t, "", "users", "grant", bob.ID, "--role", "Administrator", "--account", w.cust.ID, "-o", "json").stdout)
		if g.RoleID != "role-administrator" || g.AccountID != w.cust.ID {
			t.Errorf("grant %+v", g)
		}
		w.mustRun(t, "", "users", "ungrant", bob.ID, "--role", "Administrator", "--account", w.cust.ID)
		u := decodeJSON[api.UserDetail](t, w.mustRun(t, "", "users", "update", bob.ID, "--disabled=true", "--email", "bob@example.com", "-o", "json").stdout)
		if !u.Disabled || u.Email != "bob@example.com" || len(u.Grants) != 2 {
			t.Errorf("updated bob %+v", u)
		}
		if out := w.mustRun(t, "", "users", "show", bob.ID).stdout; !strings.Contains(lineWith(out, "bob"), "Shop One") ||
			!strings.Contains(out, "Approver, Auditor") && !strings.Contains(out, "Auditor, Approver") {
			t.Errorf("users show, want bob's account and roles by name: %q", out)
		}
		dept := decodeJSON[api.Account](t, w.mustRun(t, "", "accounts", "create", "--name", "Shop Dept", "--parent", w.cust.ID, "-o", "json").stdout)
		w.mustRun(t, "", "users", "grant", bob.ID, "--role", "Administrator", "--account", dept.ID)
		if out := w.mustRun(t, "", "users", "list").stdout; !strings.Contains(lineWith(out, "bob"), "Administrator @ Shop Dept") {
			t.Errorf("users list, want bob's grant at Shop Dept as \"Administrator @ Shop Dept\": %q", out)
		}
		w.mustRun(t, "", "users", "ungrant", bob.ID, "--role", "Administrator", "--account", dept.ID)
		w.mustRun(t, "", "users", "delete", bob.ID)
		if r := runCLI(t, w.env, "", "users", "show", bob.ID); r.code != 1 || !strings.Contains(r.stderr, "not found") {
			t.Errorf("show deleted user: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}
