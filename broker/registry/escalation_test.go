package registry_test

import (
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/registry"
)

// Issue 10, finding 1: a customer administrator made a key of its own
// account run as the vendor's admin, then listed and ended that admin's
// sessions through it. Now the run-as user must be covered by the caller,
// and a key holder has no sessions of its own whoever the key runs as.
func TestKeyRunningAsAnAncestorsAdminReachesNoSessions(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	custAdmin := e.user(tr.custA.ID, "cust-admin", "Administrator")
	adminTP, err := signInTokens(e.reg.SignIn(e.ctx, registry.SignInRequest{Username: "admin", Password: adminPW, Remote: loopback}))
	if err != nil {
		t.Fatal(err)
	}

	// The attack as reported: the customer admin's own key, run as the
	// vendor admin (whose id its audit log shows).
	k, err := e.reg.CreateAPIKey(e.ctx, custAdmin, registry.CreateAPIKeyRequest{AccountID: tr.custA.ID, Name: "mine",
		AllowUnauthenticated: true, FullAPIAccess: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.reg.UpdateAPIKey(e.ctx, custAdmin, k.Key.ID, registry.APIKeyUpdate{RunAsUserID: &e.admin.UserID, Remote: loopback})
	wantKindMsg(t, err, registry.KindPermission, "a key cannot run as this user")
	if ev := e.lastAudit("apikey.update"); ev.Outcome != registry.OutcomeFailure || ev.Actor != custAdmin.Actor() || ev.AccountID != tr.custA.ID {
		t.Errorf("refused run-as change audited as %+v", ev)
	}

	// A user of the key's account, or below it, may be a run-as user.
	below := e.user(tr.custA1.ID, "below", "Approver")
	if _, err := e.reg.UpdateAPIKey(e.ctx, custAdmin, k.Key.ID, registry.APIKeyUpdate{RunAsUserID: &below.UserID}); err != nil {
		t.Fatalf("run as a user below the key's account: %v", err)
	}

	// Even a key that does run as the vendor admin (the admin made it so:
	// it holds every right of itself) gives its holder none of the admin's
	// sessions.
	if _, err := e.reg.UpdateAPIKey(e.ctx, e.admin, k.Key.ID, registry.APIKeyUpdate{RunAsUserID: &e.admin.UserID}); err != nil {
		t.Fatalf("the admin making a key run as itself: %v", err)
	}
	holder, err := e.reg.AuthenticateCall(e.ctx, registry.CallCredentials{APIKey: k.Value, Remote: loopback})
	if err != nil {
		t.Fatal(err)
	}
	if holder.UserID != e.admin.UserID || holder.KeyID != k.Key.ID {
		t.Fatalf("key principal %+v", holder)
	}
	for _, userID := range []string{"", e.admin.UserID} {
		_, err := e.reg.ListSessions(e.ctx, holder, userID)
		wantKind(t, err, registry.KindNotFound)
		_, err = e.reg.EndSessions(e.ctx, holder, userID, loopback)
		wantKind(t, err, registry.KindNotFound)
	}
	if _, err := e.reg.Authenticate(e.ctx, adminTP.AccessToken); err != nil {
		t.Fatalf("the admin's session was ended through the key: %v", err)
	}
	ss, err := e.reg.ListSessions(e.ctx, e.admin, "")
	if err != nil || len(ss) == 0 {
		t.Fatalf("admin's own sessions: %v %v", ss, err)
	}
	err = e.reg.EndSession(e.ctx, holder, ss[0].ID, loopback)
	wantKind(t, err, registry.KindNotFound)
	for _, action := range []string{"session.list", "session.end"} {
		if ev := e.lastAudit(action); ev.Outcome != registry.OutcomeFailure || ev.Actor != "key:"+k.Key.ID {
			t.Errorf("refused %s audited as %+v", action, ev)
		}
	}
}

// Issue 10, finding 2: a user with only ViewApiKey and ModifyApiKey was
// refused editing a key that runs as Administrator, but could add,
// regenerate or re-enable its values, and use them as Administrator.
func TestModifyAPIKeyIsNoWayUp(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	role, err := e.reg.CreateRole(e.ctx, e.admin, registry.CreateRoleRequest{AccountID: tr.custA.ID, Name: "Key manager",
		Permissions: []registry.Permission{registry.PermViewAPIKey, registry.PermModifyAPIKey}})
	if err != nil {
		t.Fatal(err)
	}
	mgr := e.user(tr.custA.ID, "key-manager", role.ID)

	strong := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID, AllowUnauthenticated: true, FullAPIAccess: true})
	if _, err := e.reg.UpdateAPIKey(e.ctx, e.admin, strong.Key.ID, registry.APIKeyUpdate{RunAsRoleID: ptr("Administrator")}); err != nil {
		t.Fatal(err)
	}
	edge, err := e.reg.ListAPIKeys(e.ctx, e.admin, tr.custA.ID)
	if err != nil {
		t.Fatal(err)
	}
	var edgeID string
	for _, k := range edge {
		if k.Predefined && k.Type == registry.KeyEdge {
			edgeID = k.ID
		}
	}
	if _, err := e.reg.UpdateAPIKey(e.ctx, e.admin, edgeID, registry.APIKeyUpdate{AllowUnauthenticated: ptr(true), RunAsRoleID: ptr("Administrator")}); err != nil {
		t.Fatal(err)
	}
	weak := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID, Name: "plain"})

	for _, c := range []struct {
		action string
		do     func() error
	}{
		{"apikey.value.add", func() error {
			_, err := e.reg.AddKeyValue(e.ctx, mgr, strong.Key.ID, registry.AddValueRequest{Remote: loopback})
			return err
		}},
		{"apikey.value.regenerate", func() error {
			_, err := e.reg.RegenerateKeyValue(e.ctx, mgr, strong.Key.ID, strong.ValueID, loopback)
			return err
		}},
		{"edge.add", func() error {
			_, err := e.reg.AddEdgeDevice(e.ctx, mgr, tr.custA.ID, "bridge", "", loopback)
			return err
		}},
	} {
		t.Run(c.action, func(t *testing.T) {
			wantKindMsg(t, c.do(), registry.KindPermission, "cannot hand out")
			if ev := e.lastAudit(c.action); ev.Outcome != registry.OutcomeFailure || ev.Actor != mgr.Actor() {
				t.Errorf("refusal audited as %+v", ev)
			}
		})
	}

	// Taking a key out of use is always allowed; putting it back, or
	// moving its expiry later, hands its identity out again.
	if _, err := e.reg.UpdateAPIKey(e.ctx, mgr, strong.Key.ID, registry.APIKeyUpdate{Active: ptr(false)}); err != nil {
		t.Fatalf("deactivating: %v", err)
	}
	_, err = e.reg.UpdateAPIKey(e.ctx, mgr, strong.Key.ID, registry.APIKeyUpdate{Active: ptr(true), Remote: loopback})
	wantKindMsg(t, err, registry.KindPermission, "cannot hand out")
	if ev := e.lastAudit("apikey.update"); ev.Outcome != registry.OutcomeFailure || ev.Actor != mgr.Actor() {
		t.Errorf("refused re-activation audited as %+v", ev)
	}
	soon := e.clk.Now().Add(time.Hour)
	if _, err := e.reg.UpdateAPIKey(e.ctx, e.admin, strong.Key.ID, registry.APIKeyUpdate{Active: ptr(true), ExpiresAt: &soon}); err != nil {
		t.Fatal(err)
	}
	later := soon.Add(24 * time.Hour)
	_, err = e.reg.UpdateAPIKey(e.ctx, mgr, strong.Key.ID, registry.APIKeyUpdate{ExpiresAt: &later})
	wantKind(t, err, registry.KindPermission)
	_, err = e.reg.UpdateAPIKey(e.ctx, mgr, strong.Key.ID, registry.APIKeyUpdate{ExpiresAt: &time.Time{}})
	wantKind(t, err, registry.KindPermission)
	sooner := soon.Add(-time.Minute)
	if _, err := e.reg.UpdateAPIKey(e.ctx, mgr, strong.Key.ID, registry.APIKeyUpdate{ExpiresAt: &sooner}); err != nil {
		t.Errorf("moving the expiry earlier: %v", err)
	}

	// The strong key's values still act as Administrator for those who may.
	if _, err := e.reg.AddKeyValue(e.ctx, e.admin, strong.Key.ID, registry.AddValueRequest{}); err != nil {
		t.Errorf("the admin adding a value: %v", err)
	}
	// A key that runs as no one is the manager's to hand out.
	if _, err := e.reg.AddKeyValue(e.ctx, mgr, weak.Key.ID, registry.AddValueRequest{}); err != nil {
		t.Errorf("adding a value to a key without a run-as identity: %v", err)
	}
	if _, err := e.reg.RegenerateKeyValue(e.ctx, mgr, weak.Key.ID, weak.ValueID, loopback); err != nil {
		t.Errorf("regenerating a key without a run-as identity: %v", err)
	}
}

// Issue 10, finding 5: with ModifyAccount on its own account a customer
// admin lifted the quotas its vendor set and re-enabled its account after
// the vendor disabled it; its users still signed in and used their tokens.
func TestCustomerCannotUndoVendorControls(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	if _, err := e.reg.UpdateAccount(e.ctx, e.admin, tr.custA1.ID, registry.AccountUpdate{Settings: &registry.AccountSettings{KeyQuota: 5, EndpointQuota: 10}}); err != nil {
		t.Fatal(err)
	}
	custAdmin := e.user(tr.custA1.ID, "a1-admin", "Administrator")
	for name, s := range map[string]registry.AccountSettings{
		"quotas":          {KeyQuota: 0, EndpointQuota: 10},
		"token lifetimes": {KeyQuota: 5, EndpointQuota: 10, UserTokenTTL: 7 * 24 * time.Hour},
	} {
		_, err := e.reg.UpdateAccount(e.ctx, custAdmin, tr.custA1.ID, registry.AccountUpdate{Settings: &s, Remote: loopback})
		wantKindMsg(t, err, registry.KindPermission, "only an administrator of the parent account can change "+name)
		if ev := e.lastAudit("account.update"); ev.Outcome != registry.OutcomeFailure || ev.Actor != custAdmin.Actor() {
			t.Errorf("refused %s change audited as %+v", name, ev)
		}
	}
	// Its own settings stay its own.
	if _, err := e.reg.UpdateAccount(e.ctx, custAdmin, tr.custA1.ID, registry.AccountUpdate{Name: ptr("A1 renamed"),
		Settings: &registry.AccountSettings{KeyQuota: 5, EndpointQuota: 10, StaleAfter: 48 * time.Hour}}); err != nil {
		t.Fatalf("changing its own name and stale time: %v", err)
	}
	// The parent account's administrator sets the controls.
	parentAdmin := e.user(tr.custA.ID, "a-admin", "Administrator")
	if _, err := e.reg.UpdateAccount(e.ctx, parentAdmin, tr.custA1.ID, registry.AccountUpdate{Settings: &registry.AccountSettings{KeyQuota: 6}}); err != nil {
		t.Fatalf("the parent's admin changing quotas: %v", err)
	}

	// Disabled by the parent: the customer admin cannot switch it back on,
	// sign in, use the token it holds, or refresh it.
	tp, err := signInTokens(e.reg.SignIn(e.ctx, registry.SignInRequest{Username: "a1-admin", Password: brokertest.UserPassword, AccountID: tr.custA1.ID, Remote: loopback}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.UpdateAccount(e.ctx, parentAdmin, tr.custA1.ID, registry.AccountUpdate{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.reg.UpdateAccount(e.ctx, custAdmin, tr.custA1.ID, registry.AccountUpdate{Disabled: ptr(false)})
	wantKindMsg(t, err, registry.KindPermission, "disabled")
	_, err = e.reg.SignIn(e.ctx, registry.SignInRequest{Username: "a1-admin", Password: brokertest.UserPassword, AccountID: tr.custA1.ID, Remote: loopback})
	wantKind(t, err, registry.KindUnauthenticated)
	if ev := e.lastAudit("auth.signin"); ev.Outcome != registry.OutcomeFailure || ev.Detail["reason"] != "account disabled" {
		t.Errorf("refused sign-in audited as %+v", ev)
	}
	_, err = e.reg.Authenticate(e.ctx, tp.AccessToken)
	wantKind(t, err, registry.KindUnauthenticated)
	_, err = e.reg.RefreshUser(e.ctx, tp.RefreshToken)
	wantKind(t, err, registry.KindInvalidGrant)

	// A disabled ancestor counts too: disabling A stops A1 after A1 is on again.
	if _, err := e.reg.UpdateAccount(e.ctx, parentAdmin, tr.custA1.ID, registry.AccountUpdate{Disabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	tp, err = signInTokens(e.reg.SignIn(e.ctx, registry.SignInRequest{Username: "a1-admin", Password: brokertest.UserPassword, AccountID: tr.custA1.ID, Remote: loopback}))
	if err != nil {
		t.Fatalf("signing in once enabled again: %v", err)
	}
	if _, err := e.reg.UpdateAccount(e.ctx, e.admin, tr.custA.ID, registry.AccountUpdate{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.reg.Authenticate(e.ctx, tp.AccessToken)
	wantKind(t, err, registry.KindUnauthenticated)
}
