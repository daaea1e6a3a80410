package registry_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/registry"
)

func grantIDs(gs []registry.Grant) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.RoleID+"@"+g.AccountID)
	}
	slices.Sort(out)
	return out
}

func TestCreateUser(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	u, err := e.reg.CreateUser(e.ctx, e.admin, registry.CreateUserRequest{AccountID: tr.custA.ID, Username: "Alice",
		Domain: "corp", UPN: "alice@corp", Email: "alice@example.com", Password: "correct horse", CardID: "C-1",
		Roles: []string{"approver", registry.RoleAuditor, "Approver"}, Remote: loopback})
	if err != nil {
		t.Fatal(err)
	}
	if u.User.PasswordHash != "" || u.User.Source != registry.UserSourceLocal || u.User.AccountID != tr.custA.ID {
		t.Fatalf("user: %+v", u.User)
	}
	if d := cmp.Diff([]string{registry.RoleApprover + "@" + tr.custA.ID, registry.RoleAuditor + "@" + tr.custA.ID}, grantIDs(u.Grants)); d != "" {
		t.Fatalf("grants (-want +got):\n%s", d)
	}
	// The password is stored as Argon2id and signs in.
	var stored *registry.User
	e.store.View(e.ctx, func(tx registry.Tx) error { stored, _ = tx.GetUser(u.User.ID); return nil })
	if !strings.HasPrefix(stored.PasswordHash, "$argon2id$") {
		t.Fatalf("stored hash %q", stored.PasswordHash)
	}
	alice := e.re.SignIn(t, "alice", "correct horse", tr.custA.ID)
	if alice.UserID != u.User.ID {
		t.Fatal("signed in as someone else")
	}
	ev := e.lastAudit("user.create")
	if ev.Detail["username"] != "Alice" || ev.Detail["password"] != "true" || strings.Contains(strings.Join(mapValues(ev.Detail), " "), "correct horse") {
		t.Fatalf("audit: %v", ev.Detail)
	}
	if n := len(e.audits(registry.AuditFilter{Action: "grant.create", Target: "user:" + u.User.ID})); n != 2 {
		t.Fatalf("%d grant audits", n)
	}

	cases := []struct {
		name string
		p    *registry.Principal
		req  registry.CreateUserRequest
		kind registry.Kind
		msg  string
	}{
		{"duplicate username", e.admin, registry.CreateUserRequest{AccountID: tr.custA.ID, Username: "ALICE", Domain: "CORP"}, registry.KindConflict, "exists"},
		{"duplicate card id", e.admin, registry.CreateUserRequest{AccountID: tr.custA.ID, Username: "bob", CardID: "c-1"}, registry.KindConflict, "card id"},
		{"short password", e.admin, registry.CreateUserRequest{AccountID: tr.custA.ID, Username: "bob", Password: "short"}, registry.KindInvalid, "password"},
		{"no username", e.admin, registry.CreateUserRequest{AccountID: tr.custA.ID}, registry.KindInvalid, "username"},
		{"unknown role", e.admin, registry.CreateUserRequest{AccountID: tr.custA.ID, Username: "bob", Roles: []string{"Overlord"}}, registry.KindInvalid, "Overlord"},
		{"unknown account", e.admin, registry.CreateUserRequest{AccountID: uuid.NewString(), Username: "bob"}, registry.KindNotFound, "not found"},
		{"approver lacks ModifyUser", alice, registry.CreateUserRequest{Username: "bob"}, registry.KindPermission, "ModifyUser"},
		{"account not visible", alice, registry.CreateUserRequest{AccountID: tr.custB.ID, Username: "bob"}, registry.KindNotFound, "not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.reg.CreateUser(e.ctx, c.p, c.req)
			wantKindMsg(t, err, c.kind, c.msg)
		})
	}
	// The same username in another account is another user.
	if _, err := e.reg.CreateUser(e.ctx, e.admin, registry.CreateUserRequest{AccountID: tr.custB.ID, Username: "alice"}); err != nil {
		t.Fatal(err)
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// No privilege escalation: a user manager hands out only what it holds.
func TestUserManagerCannotEscalate(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	mgrRole, err := e.reg.CreateRole(e.ctx, e.admin, registry.CreateRoleRequest{AccountID: tr.custA.ID, Name: "User manager",
		Permissions: []registry.Permission{registry.PermViewUser, registry.PermModifyUser, registry.PermViewEndpoint}})
	if err != nil {
		t.Fatal(err)
	}
	mgr := e.user(tr.custA.ID, "mgr", mgrRole.Name)
	_, err = e.reg.CreateUser(e.ctx, mgr, registry.CreateUserRequest{Username: "x", Roles: []string{"Administrator"}})
	wantKind(t, err, registry.KindPermission)
	_, err = e.reg.CreateRole(e.ctx, mgr, registry.CreateRoleRequest{Name: "Mine", Permissions: []registry.Permission{registry.PermModifyEndpoint}})
	wantKind(t, err, registry.KindPermission)
	_, err = e.reg.Grant(e.ctx, mgr, mgr.UserID, "Approver", "", loopback)
	wantKind(t, err, registry.KindPermission)
	// It may hand out a role within its own rights.
	viewer, err := e.reg.CreateRole(e.ctx, mgr, registry.CreateRoleRequest{Name: "Endpoint viewer", Permissions: []registry.Permission{registry.PermViewEndpoint}, Remote: loopback})
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.reg.CreateUser(e.ctx, mgr, registry.CreateUserRequest{Username: "helper", Password: "helper-password", Roles: []string{viewer.ID}})
	if err != nil {
		t.Fatal(err)
	}
	// It cannot take over a user holding more than it does.
	admin := e.user(tr.custA.ID, "custadmin", "Administrator")
	_, err = e.reg.UpdateUser(e.ctx, mgr, admin.UserID, registry.UserUpdate{Password: ptr("taken-over-password")})
	wantKind(t, err, registry.KindPermission)
	wantKind(t, e.reg.DeleteUser(e.ctx, mgr, admin.UserID, loopback), registry.KindPermission)
	wantKind(t, e.reg.Ungrant(e.ctx, mgr, admin.UserID, "Administrator", "", loopback), registry.KindPermission)
	if _, err := e.reg.UpdateUser(e.ctx, mgr, u.User.ID, registry.UserUpdate{Email: ptr("h@example.com")}); err != nil {
		t.Fatalf("managing a weaker user: %v", err)
	}
}

func TestListAndGetUsers(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	a := e.user(tr.custA.ID, "a-admin", "Administrator")
	e.user(tr.custA1.ID, "a1-user")
	e.user(tr.custB.ID, "b-user")
	names := func(us []registry.UserWithGrants) []string {
		var out []string
		for _, u := range us {
			if u.User.PasswordHash != "" {
				t.Fatal("a password hash in a listing")
			}
			out = append(out, u.User.Username)
		}
		slices.Sort(out)
		return out
	}
	all, err := e.reg.ListUsers(e.ctx, a, "")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"a-admin", "a1-user"}, names(all)); d != "" {
		t.Fatalf("customer A admin lists (-want +got):\n%s", d)
	}
	one, err := e.reg.ListUsers(e.ctx, a, tr.custA1.ID)
	if err != nil || len(one) != 1 || one[0].User.Username != "a1-user" {
		t.Fatalf("users of A1: %v %v", names(one), err)
	}
	_, err = e.reg.ListUsers(e.ctx, a, tr.custB.ID)
	wantKind(t, err, registry.KindNotFound)
	rootAll, _ := e.reg.ListUsers(e.ctx, e.admin, "")
	if len(rootAll) != 4 {
		t.Fatalf("root admin lists %v", names(rootAll))
	}
	got, err := e.reg.GetUser(e.ctx, a, a.UserID)
	if err != nil || got.User.Username != "a-admin" || len(got.Grants) != 1 || got.User.PasswordHash != "" {
		t.Fatalf("get: %+v %v", got, err)
	}
	_, err = e.reg.GetUser(e.ctx, a, e.admin.UserID)
	wantKind(t, err, registry.KindNotFound)
	_, err = e.reg.GetUser(e.ctx, a, uuid.NewString())
	wantKind(t, err, registry.KindNotFound)
}

func TestUpdateAndDeleteUser(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	bob := e.user(tr.custA.ID, "bob")
	got, err := e.reg.UpdateUser(e.ctx, e.admin, bob.UserID, registry.UserUpdate{Domain: ptr("corp"), UPN: ptr("bob@corp"),
		Email: ptr("bob@example.com"), ShortID: ptr("42"), Password: ptr("a-new-password"), Remote: loopback})
	if err != nil {
		t.Fatal(err)
	}
	if got.User.Domain != "corp" || got.User.UPN != "bob@corp" || got.User.ShortID != "42" || got.User.PasswordHash != "" {
		t.Fatalf("updated: %+v", got.User)
	}
	ev := e.lastAudit("user.update")
	if ev.Detail["password"] != "set" || ev.Detail["domain"] != "corp" || strings.Contains(strings.Join(mapValues(ev.Detail), " "), "a-new-password") {
		t.Fatalf("audit %v", ev.Detail)
	}
	e.re.SignIn(t, "bob", "a-new-password", tr.custA.ID)

	// Disabling revokes its refresh tokens; its sign-in fails.
	tp, err := signInTokens(e.reg.SignIn(e.ctx, registry.SignInRequest{Username: "bob", Password: "a-new-password", Remote: loopback}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.UpdateUser(e.ctx, e.admin, bob.UserID, registry.UserUpdate{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.reg.RefreshUser(e.ctx, tp.RefreshToken)
	wantKind(t, err, registry.KindInvalidGrant)
	_, err = e.reg.SignIn(e.ctx, registry.SignInRequest{Username: "bob", Password: "a-new-password", Remote: loopback})
	wantKind(t, err, registry.KindUnauthenticated)

	_, err = e.reg.UpdateUser(e.ctx, e.admin, e.admin.UserID, registry.UserUpdate{Disabled: ptr(true)})
	wantKindMsg(t, err, registry.KindInvalid, "yourself")
	_, err = e.reg.UpdateUser(e.ctx, e.admin, bob.UserID, registry.UserUpdate{Password: ptr("short")})
	wantKind(t, err, registry.KindInvalid)
	carol := e.user(tr.custA.ID, "carol")
	_, err = e.reg.UpdateUser(e.ctx, e.admin, carol.UserID, registry.UserUpdate{ShortID: ptr("42")})
	wantKindMsg(t, err, registry.KindConflict, "short id")

	wantKindMsg(t, e.reg.DeleteUser(e.ctx, e.admin, e.admin.UserID, loopback), registry.KindInvalid, "yourself")
	if err := e.reg.DeleteUser(e.ctx, e.admin, bob.UserID, loopback); err != nil {
		t.Fatal(err)
	}
	if ev := e.lastAudit("user.delete"); ev.Target != "user:"+bob.UserID {
		t.Fatalf("audit %+v", ev)
	}
	_, err = e.reg.GetUser(e.ctx, e.admin, bob.UserID)
	wantKind(t, err, registry.KindNotFound)
	wantKind(t, e.reg.DeleteUser(e.ctx, e.admin, bob.UserID, loopback), registry.KindNotFound)
	other := e.user(tr.custB.ID, "other", "Administrator")
	wantKind(t, e.reg.DeleteUser(e.ctx, other, carol.UserID, loopback), registry.KindNotFound)
}

func TestGrants(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	u := e.user(tr.custA.ID, "dana")
	d := newDevice(t)
	e.mustRegister(d, e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA1.ID}).Value)

	// Granted at A, Approver applies to A1 below (a role applies to the subtree).
	g, err := e.reg.Grant(e.ctx, e.admin, u.UserID, "Approver", "", loopback)
	if err != nil || g.AccountID != tr.custA.ID || g.RoleID != registry.RoleApprover {
		t.Fatalf("grant: %+v %v", g, err)
	}
	if ev := e.lastAudit("grant.create"); ev.Detail["role_id"] != registry.RoleApprover || ev.AccountID != tr.custA.ID {
		t.Fatalf("audit %+v", ev)
	}
	dana := e.re.SignIn(t, "dana", brokertest.UserPassword, tr.custA.ID)
	if _, err := e.reg.Decide(e.ctx, dana, d.id, registry.ActionApprove, loopback); err != nil {
		t.Fatalf("approver at A deciding in A1: %v", err)
	}
	_, err = e.reg.Grant(e.ctx, e.admin, u.UserID, registry.RoleApprover, tr.custA.ID, loopback)
	wantKind(t, err, registry.KindConflict)
	if _, err := e.reg.Grant(e.ctx, e.admin, u.UserID, registry.RoleAuditor, tr.custA1.ID, loopback); err != nil {
		t.Fatalf("grant below the user's account: %v", err)
	}
	_, err = e.reg.Grant(e.ctx, e.admin, u.UserID, registry.RoleAuditor, tr.vendor.ID, loopback)
	wantKindMsg(t, err, registry.KindInvalid, "below")
	_, err = e.reg.Grant(e.ctx, e.admin, u.UserID, registry.RoleAuditor, tr.custB.ID, loopback)
	wantKind(t, err, registry.KindInvalid)
	_, err = e.reg.Grant(e.ctx, e.admin, uuid.NewString(), registry.RoleAuditor, "", loopback)
	wantKind(t, err, registry.KindNotFound)
	_, err = e.reg.Grant(e.ctx, e.admin, u.UserID, "Nobody", "", loopback)
	wantKind(t, err, registry.KindInvalid)

	if err := e.reg.Ungrant(e.ctx, e.admin, u.UserID, "approver", tr.custA.ID, loopback); err != nil {
		t.Fatal(err)
	}
	if ev := e.lastAudit("grant.delete"); ev.Detail["role_id"] != registry.RoleApprover {
		t.Fatalf("audit %+v", ev)
	}
	wantKind(t, e.reg.Ungrant(e.ctx, e.admin, u.UserID, "approver", tr.custA.ID, loopback), registry.KindNotFound)
	// A revoked role takes effect on the next call.
	dana = e.re.SignIn(t, "dana", brokertest.UserPassword, tr.custA.ID)
	_, err = e.reg.Decide(e.ctx, dana, d.id, registry.ActionUntrust, loopback)
	wantKind(t, err, registry.KindPermission) // still an Auditor at A1
}

func TestRoles(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	vendorRole, err := e.reg.CreateRole(e.ctx, e.admin, registry.CreateRoleRequest{AccountID: tr.vendor.ID, Name: "Helpdesk",
		Permissions: []registry.Permission{registry.PermViewEndpoint, registry.PermViewUser, registry.PermViewEndpoint}, Remote: loopback})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]registry.Permission{registry.PermViewEndpoint, registry.PermViewUser}, vendorRole.Permissions); d != "" {
		t.Fatalf("permissions (-want +got):\n%s", d)
	}
	if ev := e.lastAudit("role.create"); ev.Detail["permissions"] != "ViewEndpoint,ViewUser" {
		t.Fatalf("audit %+v", ev)
	}
	custRole, err := e.reg.CreateRole(e.ctx, e.admin, registry.CreateRoleRequest{AccountID: tr.custB.ID, Name: "B only",
		Permissions: []registry.Permission{registry.PermViewAPIKey}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		req  registry.CreateRoleRequest
		kind registry.Kind
	}{
		{"no permissions", registry.CreateRoleRequest{Name: "x"}, registry.KindInvalid},
		{"unknown permission", registry.CreateRoleRequest{Name: "x", Permissions: []registry.Permission{"Fly"}}, registry.KindInvalid},
		{"built-in name", registry.CreateRoleRequest{Name: "administrator", Permissions: []registry.Permission{registry.PermViewUser}}, registry.KindConflict},
		{"same name in account", registry.CreateRoleRequest{AccountID: tr.vendor.ID, Name: "HELPDESK", Permissions: []registry.Permission{registry.PermViewUser}}, registry.KindConflict},
		{"no name", registry.CreateRoleRequest{Permissions: []registry.Permission{registry.PermViewUser}}, registry.KindInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.reg.CreateRole(e.ctx, e.admin, c.req)
			wantKind(t, err, c.kind)
		})
	}
	// A vendor's role is usable, and listed, in its customers; a sibling's is not.
	a := e.user(tr.custA.ID, "a-admin", "Administrator")
	u, err := e.reg.CreateUser(e.ctx, a, registry.CreateUserRequest{Username: "helpdesk", Roles: []string{"helpdesk"}})
	if err != nil || len(u.Grants) != 1 || u.Grants[0].RoleID != vendorRole.ID {
		t.Fatalf("vendor role in a customer: %+v %v", u, err)
	}
	_, err = e.reg.CreateUser(e.ctx, a, registry.CreateUserRequest{Username: "x", Roles: []string{custRole.ID}})
	wantKind(t, err, registry.KindInvalid)
	roles, err := e.reg.ListRoles(e.ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range roles {
		names = append(names, r.Name)
	}
	if d := cmp.Diff([]string{"Administrator", "Approver", "Auditor", "Helpdesk"}, names); d != "" {
		t.Fatalf("roles customer A sees (-want +got):\n%s", d)
	}

	wantKind(t, e.reg.DeleteRole(e.ctx, e.admin, registry.RoleAdministrator, loopback), registry.KindInvalid)
	wantKind(t, e.reg.DeleteRole(e.ctx, a, vendorRole.ID, loopback), registry.KindNotFound)
	wantKind(t, e.reg.DeleteRole(e.ctx, e.admin, uuid.NewString(), loopback), registry.KindNotFound)
	if err := e.reg.DeleteRole(e.ctx, e.admin, vendorRole.ID, loopback); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.reg.GetUser(e.ctx, e.admin, u.User.ID); len(got.Grants) != 0 {
		t.Fatalf("grants of a deleted role: %+v", got.Grants)
	}
	if ev := e.lastAudit("role.delete"); ev.Target != "role:"+vendorRole.ID {
		t.Fatalf("audit %+v", ev)
	}
}
