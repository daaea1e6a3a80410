package registry_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

func TestCreateAccount(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	if tr.custA1.ParentID != tr.custA.ID || tr.custA.Type != registry.AccountCustomer || tr.vendor.Type != registry.AccountVendor {
		t.Fatalf("tree: %+v", tr)
	}
	if a, err := e.reg.CreateAccount(e.ctx, e.admin, registry.CreateAccountRequest{Name: "  sub vendor  "}); err != nil ||
		a.ParentID != e.root || a.Name != "sub vendor" || a.Type != registry.AccountCustomer {
		t.Fatalf("defaults (parent = own account, type = customer): %+v %v", a, err)
	}
	if ev := e.lastAudit("account.create"); ev.Actor != e.admin.Actor() || ev.Detail["name"] != "sub vendor" {
		t.Fatalf("audit: %+v", ev)
	}
	cases := []struct {
		name string
		req  registry.CreateAccountRequest
		kind registry.Kind
		msg  string
	}{
		{"vendor under customer", registry.CreateAccountRequest{ParentID: tr.custA.ID, Name: "v", Type: registry.AccountVendor}, registry.KindInvalid, "vendor"},
		{"unknown type", registry.CreateAccountRequest{Name: "x", Type: "reseller"}, registry.KindInvalid, "reseller"},
		{"empty name", registry.CreateAccountRequest{Name: "  "}, registry.KindInvalid, "name"},
		{"control character", registry.CreateAccountRequest{Name: "a\nb"}, registry.KindInvalid, "name"},
		{"unknown parent", registry.CreateAccountRequest{ParentID: uuid.NewString(), Name: "x"}, registry.KindNotFound, "not found"},
		{"negative ttl", registry.CreateAccountRequest{Name: "x", Settings: registry.AccountSettings{DeviceTokenTTL: -time.Minute}}, registry.KindInvalid, "device token lifetime"},
		{"tiny ttl", registry.CreateAccountRequest{Name: "x", Settings: registry.AccountSettings{UserTokenTTL: time.Second}}, registry.KindInvalid, "user token lifetime"},
		{"huge refresh", registry.CreateAccountRequest{Name: "x", Settings: registry.AccountSettings{RefreshTTL: 100 * 365 * 24 * time.Hour}}, registry.KindInvalid, "refresh token lifetime"},
		{"negative quota", registry.CreateAccountRequest{Name: "x", Settings: registry.AccountSettings{KeyQuota: -1}}, registry.KindInvalid, "quota"},
		{"delete stale without time", registry.CreateAccountRequest{Name: "x", Settings: registry.AccountSettings{DeleteStale: true}}, registry.KindInvalid, "stale"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.reg.CreateAccount(e.ctx, e.admin, c.req)
			wantKindMsg(t, err, c.kind, c.msg)
		})
	}
	// Only ModifyAccount at the parent creates; an account the caller
	// cannot see is not found.
	auditor := e.user(tr.custA.ID, "auditor", registry.RoleAuditor)
	_, err := e.reg.CreateAccount(e.ctx, auditor, registry.CreateAccountRequest{Name: "x"})
	wantKind(t, err, registry.KindPermission)
	_, err = e.reg.CreateAccount(e.ctx, auditor, registry.CreateAccountRequest{ParentID: tr.custB.ID, Name: "x"})
	wantKind(t, err, registry.KindNotFound)
	custAdmin := e.user(tr.custA.ID, "custadmin", "Administrator")
	if a, err := e.reg.CreateAccount(e.ctx, custAdmin, registry.CreateAccountRequest{Name: "dept"}); err != nil || a.ParentID != tr.custA.ID {
		t.Fatalf("customer admin creating below its account: %+v %v", a, err)
	}
	_, err = e.reg.CreateAccount(e.ctx, custAdmin, registry.CreateAccountRequest{ParentID: tr.vendor.ID, Name: "x"})
	wantKind(t, err, registry.KindNotFound)
}

func TestNewCustomerAccountsGetPredefinedKeys(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
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
	type keySummary struct {
		Name       string
		Type       registry.KeyType
		Flags      string
		Predefined bool
		Values     int
	}
	want := []keySummary{
		{"Chrome", registry.KeyChrome, "active", true, 1},
		{"Default key for client and gateway", registry.KeyGeneral, "active", true, 1},
		{"Edge", registry.KeyEdge, "active", true, 1},
		{"Embedded", registry.KeyEmbedded, "active", true, 1},
	}
	for name, acct := range map[string]string{"default (bootstrap)": def, "new customer": tr.custA.ID, "vendor": tr.vendor.ID} {
		t.Run(name, func(t *testing.T) {
			keys, err := e.reg.ListAPIKeys(e.ctx, e.admin, acct)
			if err != nil {
				t.Fatal(err)
			}
			var got []keySummary
			for _, k := range keys {
				flags := "active"
				if !k.Active || k.AutoTrust || k.AllowUnauthenticated || k.AllowUntrustedEndpoints || k.FullAPIAccess || len(k.AllowedIPs) > 0 {
					flags = "flags set"
				}
				kv, err := e.reg.GetAPIKey(e.ctx, e.admin, k.ID)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, keySummary{k.Name, k.Type, flags, k.Predefined, len(kv.Values)})
			}
			slices.SortFunc(got, func(a, b keySummary) int { return strings.Compare(a.Name, b.Name) })
			w := want
			if acct == tr.vendor.ID {
				w = nil // only customer accounts get them
			}
			if d := cmp.Diff(w, got); d != "" {
				t.Fatalf("keys (-want +got):\n%s", d)
			}
		})
	}
}

// A predefined key's value is unknown to everyone until regenerated (K6).
func TestPredefinedKeyUsableOnlyAfterRegenerate(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	keys, _ := e.reg.ListAPIKeys(e.ctx, e.admin, tr.custA.ID)
	var general registry.APIKey
	for _, k := range keys {
		if k.Type == registry.KeyGeneral {
			general = k
		}
	}
	before, err := e.reg.GetAPIKey(e.ctx, e.admin, general.ID)
	if err != nil || len(before.Values) != 1 || before.Values[0].SecretHash != nil {
		t.Fatalf("predefined key: %+v %v", before, err)
	}
	nv, err := e.reg.RegenerateKeyValue(e.ctx, e.admin, general.ID, "", loopback)
	if err != nil {
		t.Fatal(err)
	}
	if nv.ValueID != before.Values[0].ID {
		t.Fatalf("regenerate changed the value id: %s -> %s", before.Values[0].ID, nv.ValueID)
	}
	res := e.mustRegister(newDevice(t), nv.Value)
	if res.Endpoint.State != registry.StatePending || res.Endpoint.AccountID != tr.custA.ID {
		t.Fatalf("predefined keys trust nothing by themselves: %s in %s", res.Endpoint.State, res.Endpoint.AccountID)
	}
}

func TestGetAndUpdateAccount(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	key := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID})
	childKey := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA1.ID})

	settings := registry.AccountSettings{DeviceTokenTTL: 5 * time.Minute, KeyQuota: 10, StaleAfter: 24 * time.Hour, DeleteStale: true}
	a, err := e.reg.UpdateAccount(e.ctx, e.admin, tr.custA.ID, registry.AccountUpdate{Name: ptr("Customer A Ltd"),
		TrustAllEndpoints: ptr(true), DenyUserCreation: ptr(true), Settings: &settings, Remote: loopback})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.reg.GetAccount(e.ctx, e.admin, tr.custA.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(a, got); d != "" {
		t.Fatalf("GetAccount after UpdateAccount (-want +got):\n%s", d)
	}
	if got.Name != "Customer A Ltd" || !got.TrustAllEndpoints || !got.DenyUserCreation || got.Settings != settings {
		t.Fatalf("updated account: %+v", got)
	}
	if ev := e.lastAudit("account.update"); ev.Detail["name"] != "Customer A Ltd" || ev.Detail["key_quota"] != "10" {
		t.Fatalf("audit: %+v", ev)
	}
	// Trust-all now trusts new endpoints of the account (E2).
	if res := e.mustRegister(newDevice(t), key.Value); res.Endpoint.State != registry.StateTrusted {
		t.Fatalf("trust-all account: %s", res.Endpoint.State)
	}

	// Disabling refuses every key of the account and below (K8).
	if _, err := e.reg.UpdateAccount(e.ctx, e.admin, tr.custA.ID, registry.AccountUpdate{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{key.Value, childKey.Value} {
		_, err := e.register(newDevice(t), v)
		wantKind(t, err, registry.KindInvalidClient)
		if r := registry.RefusalReason(err); r != "account disabled" {
			t.Fatalf("reason %q", r)
		}
	}
	if _, err := e.reg.UpdateAccount(e.ctx, e.admin, tr.custA.ID, registry.AccountUpdate{Disabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	e.mustRegister(newDevice(t), childKey.Value)

	_, err = e.reg.UpdateAccount(e.ctx, e.admin, tr.custA.ID, registry.AccountUpdate{Settings: &registry.AccountSettings{StaleAfter: time.Minute}})
	wantKindMsg(t, err, registry.KindInvalid, "stale time")
	_, err = e.reg.UpdateAccount(e.ctx, e.admin, tr.custA.ID, registry.AccountUpdate{Name: ptr("")})
	wantKind(t, err, registry.KindInvalid)
	_, err = e.reg.UpdateAccount(e.ctx, e.admin, e.root, registry.AccountUpdate{Disabled: ptr(true)})
	wantKindMsg(t, err, registry.KindInvalid, "your own account")

	// Visibility: an approver of customer A sees nothing of it as an
	// account but is not told others exist.
	appr := e.user(tr.custA.ID, "appr", registry.RoleApprover)
	_, err = e.reg.GetAccount(e.ctx, appr, tr.custA.ID)
	wantKind(t, err, registry.KindPermission)
	_, err = e.reg.GetAccount(e.ctx, appr, tr.custB.ID)
	wantKind(t, err, registry.KindNotFound)
	_, err = e.reg.UpdateAccount(e.ctx, appr, tr.custB.ID, registry.AccountUpdate{Name: ptr("mine")})
	wantKind(t, err, registry.KindNotFound)
	_, err = e.reg.GetAccount(e.ctx, e.admin, uuid.NewString())
	wantKind(t, err, registry.KindNotFound)
	aud := e.user(tr.custA.ID, "aud", registry.RoleAuditor)
	if got, err := e.reg.GetAccount(e.ctx, aud, tr.custA1.ID); err != nil || got.ID != tr.custA1.ID {
		t.Fatalf("auditor of A reading A1 (below): %v", err)
	}
	_, err = e.reg.UpdateAccount(e.ctx, aud, tr.custA1.ID, registry.AccountUpdate{Name: ptr("x")})
	wantKind(t, err, registry.KindPermission)
}

// Token lifetimes come from the account when it sets them (T2).
func TestAccountTokenLifetimes(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	settings := registry.AccountSettings{DeviceTokenTTL: 5 * time.Minute, UserTokenTTL: 10 * time.Minute, RefreshTTL: 2 * time.Hour}
	if _, err := e.reg.UpdateAccount(e.ctx, e.admin, tr.custA.ID, registry.AccountUpdate{Settings: &settings}); err != nil {
		t.Fatal(err)
	}
	exp := func(access string) time.Duration {
		t.Helper()
		c, err := e.signer.Verify(access)
		if err != nil {
			t.Fatal(err)
		}
		return c.ExpiresAt.Sub(c.IssuedAt)
	}
	k := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID, AutoTrust: true})
	d := newDevice(t)
	tp := e.mustRegister(d, k.Value).Tokens
	if got := exp(tp.AccessToken); got != 5*time.Minute || tp.ExpiresIn != 5*time.Minute || tp.RefreshExpiresIn != 2*time.Hour {
		t.Fatalf("device token lifetime %v (pair %v, refresh %v), want 5m and 2h", got, tp.ExpiresIn, tp.RefreshExpiresIn)
	}
	login, err := e.reg.Login(e.ctx, registry.LoginRequest{APIKey: k.Value, DeviceToken: tp.AccessToken, JKT: d.jkt,
		Type: protocol.LoginSessionUser, Username: "carol", Remote: loopback})
	if err != nil {
		t.Fatal(err)
	}
	if got := exp(login.AccessToken); got != 10*time.Minute {
		t.Fatalf("user token lifetime %v, want 10m", got)
	}
	refreshed, err := e.reg.Refresh(e.ctx, tp.RefreshToken, d.jkt, loopback)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := e.signer.Verify(refreshed.AccessToken); c.Type != registry.TokenDevice || exp(refreshed.AccessToken) != 5*time.Minute {
		t.Fatalf("refreshed device token: %+v", c)
	}
	// The account's refresh lifetime holds: after 2 h the token is dead.
	e.clk.Advance(2*time.Hour + time.Second)
	_, err = e.reg.Refresh(e.ctx, refreshed.RefreshToken, d.jkt, loopback)
	wantKind(t, err, registry.KindInvalidGrant)

	// Another account keeps the broker defaults.
	other := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custB.ID, AutoTrust: true})
	if got := exp(e.mustRegister(newDevice(t), other.Value).Tokens.AccessToken); got != 15*time.Minute {
		t.Fatalf("default device lifetime %v", got)
	}
}

func TestQuotas(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	settings := registry.AccountSettings{KeyQuota: 2, EndpointQuota: 2}
	if _, err := e.reg.UpdateAccount(e.ctx, e.admin, tr.custA.ID, registry.AccountUpdate{Settings: &settings}); err != nil {
		t.Fatal(err)
	}
	// The four predefined keys do not count against the key quota.
	k := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID})
	e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID})
	_, err := e.reg.CreateAPIKey(e.ctx, e.admin, registry.CreateAPIKeyRequest{AccountID: tr.custA.ID, Name: "third"})
	wantKindMsg(t, err, registry.KindQuota, `account "customer A" has reached its quota of 2 API keys`)
	if ev := e.lastAudit("apikey.create"); ev.Outcome != registry.OutcomeFailure || ev.AccountID != tr.custA.ID {
		t.Fatalf("refused key not audited: %+v", ev)
	}
	// A child account has its own quota.
	e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA1.ID})

	d1, d2 := newDevice(t), newDevice(t)
	e.mustRegister(d1, k.Value)
	e.mustRegister(d2, k.Value)
	_, err = e.register(newDevice(t), k.Value)
	wantKindMsg(t, err, registry.KindQuota, `account "customer A" has reached its quota of 2 endpoints`)
	if ev := e.lastAudit("endpoint.register"); ev.Outcome != registry.OutcomeFailure || ev.Actor != "key:"+k.Key.ID {
		t.Fatalf("refused registration not audited: %+v", ev)
	}
	// Known endpoints re-register; deleting one frees a place.
	e.mustRegister(d1, k.Value)
	if err := e.reg.DeleteEndpoint(e.ctx, e.admin, d2.id, loopback); err != nil {
		t.Fatal(err)
	}
	e.mustRegister(newDevice(t), k.Value)
}

// TestAccountNamesUniqueAmongSiblings: a second "Acme Corp" below the same
// parent, in any case (Unicode too), is refused on create and on rename,
// with a message naming the name and the parent; other parents may reuse it.
func TestAccountNamesUniqueAmongSiblings(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	e.account(tr.vendor.ID, "Ärzte Süd", registry.AccountCustomer)
	cases := []struct {
		name   string
		parent string
		new    string
		msg    string // "" = allowed
	}{
		{"same case", tr.vendor.ID, "customer A", `an account named "customer A" already exists under "vendor"`},
		{"other case", tr.vendor.ID, "CUSTOMER a", `an account named "customer A" already exists under "vendor"`},
		{"spaces trimmed", tr.vendor.ID, "  customer b ", `an account named "customer B" already exists under "vendor"`},
		{"non-ASCII other case", tr.vendor.ID, "ärzte SÜD", `an account named "Ärzte Süd" already exists under "vendor"`},
		{"another parent", tr.custA.ID, "Customer A", ""},
		{"a new name", tr.vendor.ID, "customer C", ""},
	}
	for _, c := range cases {
		t.Run("create "+c.name, func(t *testing.T) {
			_, err := e.reg.CreateAccount(e.ctx, e.admin, registry.CreateAccountRequest{ParentID: c.parent, Name: c.new})
			if c.msg == "" {
				if err != nil {
					t.Fatalf("CreateAccount(%q): %v", c.new, err)
				}
				return
			}
			wantKindMsg(t, err, registry.KindConflict, c.msg)
		})
	}
	renames := []struct {
		name string
		id   string
		to   string
		msg  string
	}{
		{"to a sibling's name", tr.custB.ID, "Customer a", `an account named "customer A" already exists under "vendor"`},
		{"to its own name in other case", tr.custA.ID, "Customer a", ""},
		{"to a name used below another parent", tr.custA1.ID, "customer B", ""},
	}
	for _, c := range renames {
		t.Run("rename "+c.name, func(t *testing.T) {
			_, err := e.reg.UpdateAccount(e.ctx, e.admin, c.id, registry.AccountUpdate{Name: ptr(c.to)})
			if c.msg == "" {
				if err != nil {
					t.Fatalf("UpdateAccount(%q): %v", c.to, err)
				}
				return
			}
			wantKindMsg(t, err, registry.KindConflict, c.msg)
		})
	}
}
