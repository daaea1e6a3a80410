package registry_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// TestGetEndpoint checks one endpoint lookup for each kind of caller
// against endpoints of its own account, a child, the parent and a sibling,
// and an unknown id: an account the caller does not see answers not found,
// one it sees without ViewEndpoint answers permission.
func TestGetEndpoint(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	ids := map[string]string{} // target -> endpoint id
	for name, acct := range map[string]string{"own": tr.custA.ID, "child": tr.custA1.ID, "parent": tr.vendor.ID, "sibling": tr.custB.ID} {
		k := e.key(registry.CreateAPIKeyRequest{AccountID: acct})
		d := newDevice(t)
		e.mustRegister(d, k.Value)
		ids[name] = d.id
	}
	ids["unknown"] = newDevice(t).id

	viewKeys, err := e.reg.CreateRole(e.ctx, e.admin, registry.CreateRoleRequest{AccountID: tr.custA.ID, Name: "Key viewer",
		Permissions: []registry.Permission{registry.PermViewAPIKey}})
	if err != nil {
		t.Fatal(err)
	}
	callers := map[string]*registry.Principal{
		"root admin": e.admin,
		"approver":   e.user(tr.custA.ID, "approver", registry.RoleApprover),
		"auditor":    e.user(tr.custA.ID, "auditor", registry.RoleAuditor),
		"key viewer": e.user(tr.custA.ID, "keyviewer", viewKeys.ID),
		"no role":    e.user(tr.custA.ID, "norole"),
	}
	targets := []string{"own", "child", "parent", "sibling", "unknown"}
	want := map[string][]string{
		"root admin": {"ok", "ok", "ok", "ok", "not_found"},
		"approver":   {"ok", "ok", "not_found", "not_found", "not_found"},
		"auditor":    {"ok", "ok", "not_found", "not_found", "not_found"},
		"key viewer": {"permission", "permission", "not_found", "not_found", "not_found"},
		"no role":    {"not_found", "not_found", "not_found", "not_found", "not_found"},
	}
	for name, p := range callers {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, tg := range targets {
				ep, err := e.reg.GetEndpoint(e.ctx, p, ids[tg])
				switch {
				case err != nil:
					got = append(got, registry.KindOf(err).String())
				case ep.ID != ids[tg]:
					got = append(got, "wrong endpoint "+ep.ID)
				default:
					got = append(got, "ok")
				}
			}
			if d := cmp.Diff(want[name], got); d != "" {
				t.Errorf("answers for %v (-want +got):\n%s", targets, d)
			}
		})
	}

	t.Run("fields", func(t *testing.T) {
		got, err := e.reg.GetEndpoint(e.ctx, e.admin, ids["own"])
		if err != nil {
			t.Fatal(err)
		}
		want := e.endpoint(ids["own"])
		want.KeyName = "test key" // named for a caller who may view the key
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("endpoint (-stored +got):\n%s", d)
		}
	})
	t.Run("signed out", func(t *testing.T) {
		_, err := e.reg.GetEndpoint(e.ctx, nil, ids["own"])
		wantKind(t, err, registry.KindUnauthenticated)
	})
}

// TestListEndpointsCursor: the list pages by registration time then id; a
// cursor that is unknown, deleted, or an endpoint the caller cannot list
// answers KindInvalid naming it (issue 12, point 18).
func TestListEndpointsCursor(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	kA := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID})
	kB := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custB.ID})
	var inA []string
	for range 3 {
		d := newDevice(t)
		e.mustRegister(d, kA.Value)
		inA = append(inA, d.id)
		e.clk.Advance(time.Second)
	}
	hidden := newDevice(t)
	e.mustRegister(hidden, kB.Value)
	gone := newDevice(t)
	e.mustRegister(gone, kA.Value)
	if err := e.reg.DeleteEndpoint(e.ctx, e.admin, gone.id, loopback); err != nil {
		t.Fatal(err)
	}
	viewer := e.user(tr.custA.ID, "viewer", registry.RoleAuditor)

	page, err := e.reg.ListEndpoints(e.ctx, viewer, registry.EndpointFilter{After: inA[0], Limit: 1})
	if err != nil || len(page) != 1 || page[0].ID != inA[1] {
		t.Fatalf("after the first, limit 1: %+v, %v; want %s", page, err, inA[1])
	}
	for name, id := range map[string]string{"unknown": uuid.NewString(), "deleted": gone.id, "of another account": hidden.id} {
		_, err := e.reg.ListEndpoints(e.ctx, viewer, registry.EndpointFilter{After: id})
		wantKind(t, err, registry.KindInvalid)
		if !strings.Contains(registry.PublicMessage(err), id) {
			t.Errorf("%s cursor: message %q does not name it", name, registry.PublicMessage(err))
		}
	}
}
