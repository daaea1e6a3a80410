package registry_test

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/registry"
)

func TestGetAPIKey(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	k := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID, Description: "d", Group: "g"})
	e.mustRegister(newDevice(t), k.Value)
	got, err := e.reg.GetAPIKey(e.ctx, e.admin, k.Key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(k.Key, got.Key, cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("key (-want +got):\n%s", d)
	}
	if len(got.Values) != 1 || got.Values[0].ID != k.ValueID || got.Values[0].SecretHash != nil ||
		got.Values[0].UseCount != 1 || got.Values[0].LastUsedFrom != "127.0.0.1" || !got.Values[0].LastUsedAt.Equal(e.clk.Now()) {
		t.Fatalf("values: %+v", got.Values)
	}
	viewer := e.user(tr.custA1.ID, "viewer", registry.RoleAuditor)
	_, err = e.reg.GetAPIKey(e.ctx, viewer, k.Key.ID) // a key of the parent: not visible
	wantKind(t, err, registry.KindNotFound)
	appr := e.user(tr.custA.ID, "appr", registry.RoleApprover)
	_, err = e.reg.GetAPIKey(e.ctx, appr, k.Key.ID)
	wantKind(t, err, registry.KindPermission)
	_, err = e.reg.GetAPIKey(e.ctx, e.admin, uuid.NewString())
	wantKind(t, err, registry.KindNotFound)
}

func TestUpdateAPIKey(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	k := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID})
	now := e.clk.Now()
	expiry := now.Add(48 * time.Hour)
	adminUser := e.admin.UserID
	got, err := e.reg.UpdateAPIKey(e.ctx, e.admin, k.Key.ID, registry.APIKeyUpdate{
		Name: ptr("renamed"), Description: ptr("desc"), Group: ptr("grp"), AutoTrust: ptr(true),
		AllowUntrustedEndpoints: ptr(true), AllowUnauthenticated: ptr(true), FullAPIAccess: ptr(true),
		ExpiresAt: &expiry, AllowedIPs: ptr(prefixes("::ffff:10.1.2.3/104", "2001:db8::1/32")),
		RunAsUserID: &adminUser, RunAsRoleID: ptr("approver"), Remote: loopback,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := k.Key
	want.Name, want.Description, want.Group = "renamed", "desc", "grp"
	want.AutoTrust, want.AllowUntrustedEndpoints, want.AllowUnauthenticated, want.FullAPIAccess = true, true, true, true
	want.ExpiresAt, want.AllowedIPs = expiry, prefixes("10.0.0.0/8", "2001:db8::/32")
	want.RunAsUserID, want.RunAsRoleID, want.UpdatedAt = adminUser, registry.RoleApprover, now
	if d := cmp.Diff(want, got.Key, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Fatalf("updated key (-want +got):\n%s", d)
	}
	ev := e.lastAudit("apikey.update")
	if ev.Detail["name"] != "renamed" || ev.Detail["allowed_ips"] != "10.0.0.0/8,2001:db8::/32" || ev.Detail["run_as_role_id"] != registry.RoleApprover {
		t.Fatalf("audit detail: %v", ev.Detail)
	}
	// Clearing: no expiry, any address, no run-as.
	got, err = e.reg.UpdateAPIKey(e.ctx, e.admin, k.Key.ID, registry.APIKeyUpdate{ExpiresAt: &time.Time{},
		AllowedIPs: &[]netip.Prefix{}, RunAsUserID: ptr(""), RunAsRoleID: ptr("")})
	if err != nil || !got.Key.ExpiresAt.IsZero() || len(got.Key.AllowedIPs) != 0 || got.Key.RunAsUserID != "" || got.Key.RunAsRoleID != "" {
		t.Fatalf("cleared: %+v %v", got, err)
	}

	sibling := e.user(tr.custB.ID, "sib")
	cases := []struct {
		name string
		u    registry.APIKeyUpdate
		kind registry.Kind
		msg  string
	}{
		{"past expiry", registry.APIKeyUpdate{ExpiresAt: ptr(now.Add(-time.Minute))}, registry.KindInvalid, "past"},
		{"far expiry", registry.APIKeyUpdate{ExpiresAt: ptr(time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC))}, registry.KindInvalid, "before"},
		{"empty name", registry.APIKeyUpdate{Name: ptr(" ")}, registry.KindInvalid, "name"},
		{"run-as user of a sibling", registry.APIKeyUpdate{RunAsUserID: &sibling.UserID}, registry.KindInvalid, "run-as user"},
		{"run-as user unknown", registry.APIKeyUpdate{RunAsUserID: ptr(uuid.NewString())}, registry.KindInvalid, "run-as user"},
		{"run-as role unknown", registry.APIKeyUpdate{RunAsRoleID: ptr("Janitor")}, registry.KindInvalid, "Janitor"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.reg.UpdateAPIKey(e.ctx, e.admin, k.Key.ID, c.u)
			wantKindMsg(t, err, c.kind, c.msg)
		})
	}

	// No way up: a key manager cannot make a key act with rights it lacks.
	keyRole, err := e.reg.CreateRole(e.ctx, e.admin, registry.CreateRoleRequest{AccountID: tr.custA.ID, Name: "Key manager",
		Permissions: []registry.Permission{registry.PermViewAPIKey, registry.PermModifyAPIKey}})
	if err != nil {
		t.Fatal(err)
	}
	mgr := e.user(tr.custA.ID, "keymgr", keyRole.ID)
	_, err = e.reg.UpdateAPIKey(e.ctx, mgr, k.Key.ID, registry.APIKeyUpdate{FullAPIAccess: ptr(true), RunAsUserID: &adminUser})
	wantKind(t, err, registry.KindPermission)
	_, err = e.reg.UpdateAPIKey(e.ctx, mgr, k.Key.ID, registry.APIKeyUpdate{FullAPIAccess: ptr(true), RunAsRoleID: ptr("Administrator")})
	wantKind(t, err, registry.KindPermission)
	if _, err := e.reg.UpdateAPIKey(e.ctx, mgr, k.Key.ID, registry.APIKeyUpdate{FullAPIAccess: ptr(true), RunAsRoleID: &keyRole.ID}); err != nil {
		t.Fatalf("a key manager giving a key its own role: %v", err)
	}
	_, err = e.reg.UpdateAPIKey(e.ctx, mgr, e.key(registry.CreateAPIKeyRequest{AccountID: tr.custB.ID}).Key.ID, registry.APIKeyUpdate{Active: ptr(false)})
	wantKind(t, err, registry.KindNotFound)
}

// K12: deactivating, deleting and regenerating a key refuse its old values
// at once but leave the endpoints it registered trusted.
func TestKeyChangesLeaveEndpointsTrusted(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		name   string
		change func(k *registry.CreatedKey) string // returns the value to use next ("" = none)
		reason string
	}{
		{"deactivate", func(k *registry.CreatedKey) string {
			if _, err := e.reg.UpdateAPIKey(e.ctx, e.admin, k.Key.ID, registry.APIKeyUpdate{Active: ptr(false)}); err != nil {
				t.Fatal(err)
			}
			return ""
		}, "key inactive"},
		{"delete", func(k *registry.CreatedKey) string {
			if err := e.reg.DeleteAPIKey(e.ctx, e.admin, k.Key.ID, loopback); err != nil {
				t.Fatal(err)
			}
			return ""
		}, "key deleted"}, // its own reason, not "unknown" (issue 12, point 5)
		{"regenerate", func(k *registry.CreatedKey) string {
			nv, err := e.reg.RegenerateKeyValue(e.ctx, e.admin, k.Key.ID, k.ValueID, loopback)
			if err != nil {
				t.Fatal(err)
			}
			return nv.Value
		}, "unknown"},
		{"revoke value", func(k *registry.CreatedKey) string {
			if err := e.reg.RevokeKeyValue(e.ctx, e.admin, k.Key.ID, k.ValueID, loopback); err != nil {
				t.Fatal(err)
			}
			return ""
		}, "value revoked"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
			d := newDevice(t)
			tok := e.mustRegister(d, k.Value).Tokens
			next := c.change(k)
			_, err := e.register(d, k.Value)
			wantKind(t, err, registry.KindInvalidClient)
			if r := registry.RefusalReason(err); r != c.reason {
				t.Fatalf("reason %q, want %q", r, c.reason)
			}
			if ep := e.endpoint(d.id); ep == nil || ep.State != registry.StateTrusted || ep.KeyID != k.Key.ID {
				t.Fatalf("endpoint after %s: %+v", c.name, ep)
			}
			// Its tokens still refresh: trust is the endpoint's, not the key's.
			if _, err := e.reg.Refresh(e.ctx, tok.RefreshToken, d.jkt, loopback); err != nil {
				t.Fatalf("refresh after %s: %v", c.name, err)
			}
			if next != "" {
				if res := e.mustRegister(d, next); res.Tokens == nil || res.Created {
					t.Fatalf("re-registration with the new value: %+v", res)
				}
			}
		})
	}
}

func TestDeleteAPIKey(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	k := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID})
	appr := e.user(tr.custA.ID, "appr", registry.RoleApprover)
	wantKind(t, e.reg.DeleteAPIKey(e.ctx, appr, k.Key.ID, loopback), registry.KindPermission)
	other := e.user(tr.custB.ID, "other", "Administrator")
	wantKind(t, e.reg.DeleteAPIKey(e.ctx, other, k.Key.ID, loopback), registry.KindNotFound)
	if err := e.reg.DeleteAPIKey(e.ctx, e.admin, k.Key.ID, loopback); err != nil {
		t.Fatal(err)
	}
	if ev := e.lastAudit("apikey.delete"); ev.Target != "apikey:"+k.Key.ID {
		t.Fatalf("audit %+v", ev)
	}
	_, err := e.reg.GetAPIKey(e.ctx, e.admin, k.Key.ID)
	wantKind(t, err, registry.KindNotFound)
	wantKind(t, e.reg.DeleteAPIKey(e.ctx, e.admin, k.Key.ID, loopback), registry.KindNotFound)
	keys, _ := e.reg.ListAPIKeys(e.ctx, e.admin, tr.custA.ID)
	wantKindMsg(t, e.reg.DeleteAPIKey(e.ctx, e.admin, keys[0].ID, loopback), registry.KindInvalid, "predefined")
}

func TestKeyValues(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	e.clk.Advance(time.Second) // values list in order of creation
	expiry := e.clk.Now().Add(time.Hour)
	v2, err := e.reg.AddKeyValue(e.ctx, e.admin, k.Key.ID, registry.AddValueRequest{Description: "second", UseLimit: 3, ExpiresAt: expiry, Remote: loopback})
	if err != nil {
		t.Fatal(err)
	}
	if v2.KeyID != k.Key.ID || v2.ValueID == k.ValueID || v2.Value == k.Value {
		t.Fatalf("added value: %+v", v2)
	}
	if ev := e.lastAudit("apikey.value.add"); ev.Detail["value_id"] != v2.ValueID || ev.Detail["use_limit"] != "3" {
		t.Fatalf("audit: %+v", ev)
	}
	for name, req := range map[string]registry.AddValueRequest{
		"negative limit": {UseLimit: -1},
		"past expiry":    {ExpiresAt: e.clk.Now().Add(-time.Second)},
		"long text":      {Description: strings.Repeat("x", 2000)},
	} {
		_, err := e.reg.AddKeyValue(e.ctx, e.admin, k.Key.ID, req)
		if registry.KindOf(err) != registry.KindInvalid {
			t.Errorf("%s: %v", name, err)
		}
	}
	d := newDevice(t)
	e.mustRegister(d, v2.Value)

	// Without a value id, regenerating a key of several values names them.
	_, err = e.reg.RegenerateKeyValue(e.ctx, e.admin, k.Key.ID, "", loopback)
	wantKindMsg(t, err, registry.KindInvalid, k.ValueID+", "+v2.ValueID)

	// Regenerate: same ids, settings and usage history; the old value is
	// refused at once, the new one works.
	nv, err := e.reg.RegenerateKeyValue(e.ctx, e.admin, k.Key.ID, v2.ValueID, loopback)
	if err != nil {
		t.Fatal(err)
	}
	if nv.ValueID != v2.ValueID || nv.KeyID != k.Key.ID || nv.Value == v2.Value {
		t.Fatalf("regenerated: %+v", nv)
	}
	_, err = e.register(newDevice(t), v2.Value)
	wantKind(t, err, registry.KindInvalidClient)
	e.mustRegister(newDevice(t), nv.Value)
	kv, _ := e.reg.GetAPIKey(e.ctx, e.admin, k.Key.ID)
	v := kv.Values[1]
	if v.ID != v2.ValueID || v.UseCount != 2 || v.UseLimit != 3 || !v.ExpiresAt.Equal(expiry) || v.Description != "second" {
		t.Fatalf("value after regenerate: %+v", v)
	}
	ev := e.lastAudit("apikey.value.regenerate")
	for _, s := range ev.Detail {
		if strings.Contains(s, nv.Value) || strings.Contains(s, v2.Value) {
			t.Fatal("a value in the audit trail")
		}
	}

	// Revoke: refused at once; twice is a no-op; a revoked value is not regenerated.
	if err := e.reg.RevokeKeyValue(e.ctx, e.admin, k.Key.ID, v2.ValueID, loopback); err != nil {
		t.Fatal(err)
	}
	_, err = e.register(newDevice(t), nv.Value)
	if registry.RefusalReason(err) != "value revoked" {
		t.Fatalf("revoked value: %v (%s)", err, registry.RefusalReason(err))
	}
	n := len(e.audits(registry.AuditFilter{Action: "apikey.value.revoke"}))
	if err := e.reg.RevokeKeyValue(e.ctx, e.admin, k.Key.ID, v2.ValueID, loopback); err != nil {
		t.Fatal(err)
	}
	if got := len(e.audits(registry.AuditFilter{Action: "apikey.value.revoke"})); got != n {
		t.Fatalf("second revoke audited again (%d -> %d)", n, got)
	}
	_, err = e.reg.RegenerateKeyValue(e.ctx, e.admin, k.Key.ID, v2.ValueID, loopback)
	wantKind(t, err, registry.KindConflict)
	// One live value left: no value id needed.
	if _, err := e.reg.RegenerateKeyValue(e.ctx, e.admin, k.Key.ID, "", loopback); err != nil {
		t.Fatal(err)
	}
	// A value of another key is not this key's.
	other := e.key(registry.CreateAPIKeyRequest{})
	_, err = e.reg.RegenerateKeyValue(e.ctx, e.admin, k.Key.ID, other.ValueID, loopback)
	wantKind(t, err, registry.KindNotFound)
	wantKind(t, e.reg.RevokeKeyValue(e.ctx, e.admin, k.Key.ID, other.ValueID, loopback), registry.KindNotFound)
}

// Point 6 of issue 3: a limited value admits exactly its limit of new
// endpoints, however many register at once.
func TestConcurrentRegistrationsRespectUseLimit(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	for _, limit := range []int64{1, 5} {
		v, err := e.reg.AddKeyValue(e.ctx, e.admin, k.Key.ID, registry.AddValueRequest{Description: "limited", UseLimit: limit})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for i := 0; i < 64; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.register(newDevice(t), v.Value)
				if err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				} else if k := registry.KindOf(err); k != registry.KindInvalidClient && k != registry.KindLimited {
					// Past the limit of failures for the value's public
					// id, a refusal is the limited answer (issue 15).
					t.Errorf("unexpected error: %v", err)
				}
			}()
		}
		wg.Wait()
		if int64(ok) != limit {
			t.Fatalf("limit %d: %d of 64 concurrent registrations succeeded", limit, ok)
		}
		kv, _ := e.reg.GetAPIKey(e.ctx, e.admin, k.Key.ID)
		for _, val := range kv.Values {
			if val.ID == v.ValueID && val.UseCount != limit {
				t.Fatalf("use count %d, want %d", val.UseCount, limit)
			}
		}
	}
}

func TestEdgeDevices(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	e.clk.Advance(time.Second) // values list in order of creation
	dev, err := e.reg.AddEdgeDevice(e.ctx, e.admin, tr.custA.ID, "bridge-1", "in the lobby", loopback)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := e.reg.GetAPIKey(e.ctx, e.admin, dev.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	if kv.Key.Type != registry.KeyEdge || !kv.Key.Predefined || kv.Key.AccountID != tr.custA.ID || len(kv.Values) != 2 ||
		kv.Values[1].EdgeDevice != "bridge-1" || kv.Values[1].Description != "in the lobby" {
		t.Fatalf("edge key: %+v", kv)
	}
	if ev := e.lastAudit("edge.add"); ev.Detail["edge_device"] != "bridge-1" {
		t.Fatalf("audit %+v", ev)
	}
	e.mustRegister(newDevice(t), dev.Value)
	_, err = e.reg.AddEdgeDevice(e.ctx, e.admin, tr.custA.ID, "BRIDGE-1", "", loopback)
	wantKind(t, err, registry.KindConflict)
	_, err = e.reg.AddEdgeDevice(e.ctx, e.admin, tr.vendor.ID, "bridge", "", loopback)
	wantKindMsg(t, err, registry.KindInvalid, "Edge key")
	_, err = e.reg.AddEdgeDevice(e.ctx, e.admin, tr.custA.ID, "", "", loopback)
	wantKind(t, err, registry.KindInvalid)
	// The predefined value is no edge device.
	wantKind(t, e.reg.RemoveEdgeDevice(e.ctx, e.admin, tr.custA.ID, kv.Values[0].ID, loopback), registry.KindNotFound)
	// Another account's edge device is not found through this one.
	wantKind(t, e.reg.RemoveEdgeDevice(e.ctx, e.admin, tr.custB.ID, dev.ValueID, loopback), registry.KindNotFound)

	if err := e.reg.RemoveEdgeDevice(e.ctx, e.admin, tr.custA.ID, dev.ValueID, loopback); err != nil {
		t.Fatal(err)
	}
	_, err = e.register(newDevice(t), dev.Value)
	if registry.RefusalReason(err) != "value revoked" {
		t.Fatalf("removed device's value: %v", err)
	}
	if err := e.reg.RemoveEdgeDevice(e.ctx, e.admin, tr.custA.ID, dev.ValueID, loopback); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
	// The name is free again.
	if _, err := e.reg.AddEdgeDevice(e.ctx, e.admin, tr.custA.ID, "bridge-1", "", loopback); err != nil {
		t.Fatal(err)
	}
	appr := e.user(tr.custA.ID, "appr", registry.RoleApprover)
	_, err = e.reg.AddEdgeDevice(e.ctx, appr, "", "bridge-2", "", loopback)
	wantKind(t, err, registry.KindPermission)
}

// K5: a key is valid for its account and every account below; the caller
// names the target.
func TestKeyInheritance(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	k := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID, AutoTrust: true})
	for _, c := range []struct {
		name   string
		target string
		ok     bool
	}{
		{"own account by default", "", true},
		{"own account named", tr.custA.ID, true},
		{"child", tr.custA1.ID, true},
		{"sibling", tr.custB.ID, false},
		{"parent", tr.vendor.ID, false},
		{"unknown", uuid.NewString(), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := e.registerAt(newDevice(t), k.Value, c.target)
			if !c.ok {
				wantKind(t, err, registry.KindInvalidClient)
				return
			}
			want := c.target
			if want == "" {
				want = tr.custA.ID
			}
			if err != nil || res.Endpoint.AccountID != want || res.Tokens == nil {
				t.Fatalf("%+v %v", res, err)
			}
			c, _ := e.signer.Verify(res.Tokens.AccessToken)
			if c.Account != want {
				t.Fatalf("token account %s, want %s", c.Account, want)
			}
		})
	}
}

func TestAuthenticateKey(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	k := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID})
	refused := func(value, reason string) {
		t.Helper()
		_, err := e.reg.AuthenticateKey(e.ctx, value, loopback)
		wantKind(t, err, registry.KindInvalidClient) // one answer for every reason (K8)
		if r := registry.RefusalReason(err); r != reason {
			t.Fatalf("reason %q, want %q", r, reason)
		}
		if ev := e.lastAudit("auth.apikey"); ev.Outcome != registry.OutcomeFailure || ev.Detail["reason"] != reason {
			t.Fatalf("refusal audit: %+v", ev)
		}
	}
	refused(k.Value, "no full API access")
	refused("etk_nonsense", "malformed")
	if _, err := e.reg.UpdateAPIKey(e.ctx, e.admin, k.Key.ID, registry.APIKeyUpdate{FullAPIAccess: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	// S5: without a user token, only a key that allows unauthenticated requests.
	refused(k.Value, "no user token, and the key does not allow unauthenticated requests")
	if _, err := e.reg.UpdateAPIKey(e.ctx, e.admin, k.Key.ID, registry.APIKeyUpdate{AllowUnauthenticated: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	refused(k.Value, "no run-as user or role")

	// Run as a user of customer A with the Approver role.
	runner := e.user(tr.custA.ID, "runner", "Administrator")
	if _, err := e.reg.UpdateAPIKey(e.ctx, e.admin, k.Key.ID, registry.APIKeyUpdate{RunAsUserID: &runner.UserID, RunAsRoleID: ptr(registry.RoleApprover)}); err != nil {
		t.Fatal(err)
	}
	p, err := e.reg.AuthenticateKey(e.ctx, k.Value, loopback)
	if err != nil {
		t.Fatal(err)
	}
	if p.KeyID != k.Key.ID || p.UserID != runner.UserID || p.AccountID != tr.custA.ID || p.Actor() != "key:"+k.Key.ID {
		t.Fatalf("principal %+v", p)
	}
	dA, dB := newDevice(t), newDevice(t)
	e.mustRegister(dA, e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA1.ID}).Value)
	e.mustRegister(dB, e.key(registry.CreateAPIKeyRequest{AccountID: tr.custB.ID}).Value)
	if _, err := e.reg.Decide(e.ctx, p, dA.id, registry.ActionApprove, loopback); err != nil {
		t.Fatalf("approving below the key's account: %v", err)
	}
	if ev := e.lastAudit("endpoint.approve"); ev.Actor != "key:"+k.Key.ID {
		t.Fatalf("actor %s", ev.Actor)
	}
	_, err = e.reg.Decide(e.ctx, p, dB.id, registry.ActionApprove, loopback)
	wantKind(t, err, registry.KindNotFound)
	_, err = e.reg.CreateAPIKey(e.ctx, p, registry.CreateAPIKeyRequest{Name: "x"})
	wantKind(t, err, registry.KindPermission) // Approver, not the user's Administrator

	// Without a role: the user's own grants, limited to the key's account and below.
	if _, err := e.reg.UpdateAPIKey(e.ctx, e.admin, k.Key.ID, registry.APIKeyUpdate{RunAsRoleID: ptr(""), RunAsUserID: &e.admin.UserID}); err != nil {
		t.Fatal(err)
	}
	p, err = e.reg.AuthenticateKey(e.ctx, k.Value, loopback)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.CreateAPIKey(e.ctx, p, registry.CreateAPIKeyRequest{Name: "made by a key"}); err != nil {
		t.Fatalf("admin-run key creating a key in its account: %v", err)
	}
	_, err = e.reg.CreateAPIKey(e.ctx, p, registry.CreateAPIKeyRequest{AccountID: tr.custB.ID, Name: "x"})
	wantKind(t, err, registry.KindNotFound)
	_, err = e.reg.GetAccount(e.ctx, p, tr.vendor.ID)
	wantKind(t, err, registry.KindNotFound)

	// K10: disabling the run-as user deactivates the key (audited).
	if _, err := e.reg.UpdateAPIKey(e.ctx, e.admin, k.Key.ID, registry.APIKeyUpdate{RunAsUserID: &runner.UserID}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.UpdateUser(e.ctx, e.admin, runner.UserID, registry.UserUpdate{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	refused(k.Value, "key inactive")
	if ev := e.lastAudit("apikey.update"); ev.Detail["active"] != "false" || ev.Detail["reason"] != "run-as user disabled" {
		t.Fatalf("K10 audit: %+v", ev)
	}
	// Reactivated while its user is disabled: still refused.
	if _, err := e.reg.UpdateAPIKey(e.ctx, e.admin, k.Key.ID, registry.APIKeyUpdate{Active: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	refused(k.Value, "run-as user disabled")
}

// K10: deleting a user deactivates every key running as it, whatever its access.
func TestDeletingUserDeactivatesItsKeys(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	u := e.user(tr.custA.ID, "svc", registry.RoleApprover)
	k1 := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID, AutoTrust: true})
	k2 := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA1.ID})
	k3 := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID})
	for _, k := range []*registry.CreatedKey{k1, k2} {
		if _, err := e.reg.UpdateAPIKey(e.ctx, e.admin, k.Key.ID, registry.APIKeyUpdate{RunAsUserID: &u.UserID}); err != nil {
			t.Fatal(err)
		}
	}
	d := newDevice(t)
	e.mustRegister(d, k1.Value)
	if err := e.reg.DeleteUser(e.ctx, e.admin, u.UserID, loopback); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		k      *registry.CreatedKey
		active bool
	}{{k1, false}, {k2, false}, {k3, true}} {
		kv, err := e.reg.GetAPIKey(e.ctx, e.admin, c.k.Key.ID)
		if err != nil || kv.Key.Active != c.active {
			t.Fatalf("key %s active=%v, want %v (%v)", c.k.Key.Name, kv.Key.Active, c.active, err)
		}
	}
	if n := len(e.audits(registry.AuditFilter{Action: "apikey.update", Target: "apikey:" + k1.Key.ID})); n == 0 {
		t.Fatal("deactivation not audited")
	}
	if ep := e.endpoint(d.id); ep.State != registry.StateTrusted {
		t.Fatalf("K12: endpoint %s", ep.State)
	}
}

// TestListAPIKeysWithoutAccount: without an account, the list holds the keys
// of every account where the caller may view keys, account by account, and
// none of the others; with one, only that account's.
func TestListAPIKeysWithoutAccount(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	accountsOf := func(keys []registry.APIKey) []string {
		var out []string
		for _, k := range keys {
			if len(out) == 0 || out[len(out)-1] != k.AccountID {
				out = append(out, k.AccountID)
			}
		}
		slices.Sort(out) // accounts made at one (fake) time are in id order
		return out
	}
	custAdmin := e.user(tr.custA.ID, "custadmin", registry.RoleAdministrator)
	accts, err := e.reg.ListAccounts(e.ctx, e.admin)
	if err != nil {
		t.Fatal(err)
	}
	var def string
	for _, a := range accts {
		if a.Name == registry.DefaultAccountName {
			def = a.ID
		}
	}
	cases := []struct {
		name    string
		p       *registry.Principal
		account string
		want    []string
	}{
		{"root admin, every account", e.admin, "", []string{def, tr.custA.ID, tr.custA1.ID, tr.custB.ID}},
		{"customer admin, its subtree", custAdmin, "", []string{tr.custA.ID, tr.custA1.ID}},
		{"narrowed to one account", e.admin, tr.custB.ID, []string{tr.custB.ID}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys, err := e.reg.ListAPIKeys(e.ctx, c.p, c.account)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(c.want)
			if d := cmp.Diff(c.want, accountsOf(keys)); d != "" {
				t.Errorf("accounts of the keys listed (-want +got):\n%s", d)
			}
		})
	}
	_, err = e.reg.ListAPIKeys(e.ctx, custAdmin, tr.custB.ID)
	wantKind(t, err, registry.KindNotFound)
}
