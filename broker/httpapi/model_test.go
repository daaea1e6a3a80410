package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// send sends a JSON request with the given headers and returns the status
// and body. A nil body sends none; a string body is sent as is.
func (h *harness) send(t *testing.T, method, path string, headers map[string]string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// admin sends a request as the signed-in admin.
func (h *harness) admin(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	return h.send(t, method, path, map[string]string{"Authorization": "Bearer " + h.tokens.AccessToken}, body)
}

// adminErrorCase is an admin request that must fail with status and code,
// inDesc in its description.
type adminErrorCase struct {
	name, method, path string
	body               any
	status             int
	code, inDesc       string
}

// wantAdminErrors sends each request as the admin, in a subtest of its
// name, and checks its error answer.
func (h *harness) wantAdminErrors(t *testing.T, tests []adminErrorCase) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := h.admin(t, tc.method, tc.path, tc.body)
			wantError(t, status, body, tc.status, tc.code, tc.inDesc)
		})
	}
}

// wantError checks an error answer's status, code and a part of its text.
func wantError(t *testing.T, status int, body []byte, wantStatus int, wantCode, wantInDesc string) {
	t.Helper()
	var er api.ErrorResponse
	if err := json.Unmarshal(body, &er); err != nil {
		t.Fatalf("status %d, body %s: not an error body: %v", status, body, err)
	}
	if status != wantStatus || er.Error != wantCode || !strings.Contains(er.ErrorDescription, wantInDesc) {
		t.Errorf("got %d %+v, want %d %q with %q in the description", status, er, wantStatus, wantCode, wantInDesc)
	}
}

func (h *harness) registerFrom(t *testing.T, keyValue, hostname, from string) registry.Endpoint {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.reg.Register(context.Background(), registry.RegisterRequest{
		APIKey: keyValue, ClientID: uuid.NewString(), ClientType: protocol.ClientDesktop,
		Hostname: hostname, OS: "linux", Version: "1.0.0", KeyType: registry.KeyTypeEd25519,
		PublicKey: pub, Remote: netip.MustParseAddr(from),
	})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	return res.Endpoint
}

func TestAccountRoutes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	root := h.tokens.User.AccountID

	vendor, err := h.c.CreateAccount(ctx, api.CreateAccountRequest{Name: "Vendor P", Type: "vendor"})
	if err != nil {
		t.Fatalf("CreateAccount vendor: %v", err)
	}
	if vendor.ParentID != root || vendor.Type != "vendor" || vendor.Name != "Vendor P" {
		t.Errorf("vendor %+v: want a vendor below root %s", vendor, root)
	}
	settings := &api.AccountSettings{DeviceTokenTTLSeconds: 900, KeyQuota: 10, StaleAfterSeconds: 7200, DeleteStale: true}
	cust, err := h.c.CreateAccount(ctx, api.CreateAccountRequest{Name: "Customer A", ParentID: vendor.ID, TrustAllEndpoints: true, Settings: settings})
	if err != nil {
		t.Fatalf("CreateAccount customer: %v", err)
	}
	want := api.Account{ID: cust.ID, Name: "Customer A", ParentID: vendor.ID, Type: "customer", TrustAllEndpoints: true, Settings: *settings}
	ignoreTimes := cmpopts.IgnoreFields(api.Account{}, "CreatedAt", "UpdatedAt")
	if diff := cmp.Diff(want, *cust, ignoreTimes); diff != "" {
		t.Errorf("created account (-want +got):\n%s", diff)
	}

	t.Run("get", func(t *testing.T) {
		got, err := h.c.GetAccount(ctx, cust.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, *got, ignoreTimes); diff != "" {
			t.Errorf("account (-want +got):\n%s", diff)
		}
	})
	t.Run("predefined keys of a customer account", func(t *testing.T) {
		keys, err := h.c.ListKeys(ctx, cust.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, k := range keys {
			if k.Predefined && !k.AutoTrust && !k.AllowUnauthenticated && !k.AllowUntrustedEndpoints {
				got = append(got, k.Type)
			}
		}
		slices.Sort(got)
		if diff := cmp.Diff([]string{"chrome", "edge", "embedded", "general"}, got); diff != "" {
			t.Errorf("predefined key types with every flag off (-want +got):\n%s", diff)
		}
	})
	t.Run("update", func(t *testing.T) {
		name, disabled := "Customer A2", true
		got, err := h.c.UpdateAccount(ctx, cust.ID, api.UpdateAccountRequest{Name: &name, Disabled: &disabled, Settings: &api.AccountSettings{}})
		if err != nil {
			t.Fatal(err)
		}
		want := api.Account{ID: cust.ID, Name: name, ParentID: vendor.ID, Type: "customer", Disabled: true, TrustAllEndpoints: true}
		if diff := cmp.Diff(want, *got, ignoreTimes); diff != "" {
			t.Errorf("updated account (-want +got):\n%s", diff)
		}
	})
	t.Run("list", func(t *testing.T) {
		accts, err := h.c.ListAccounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range accts {
			names = append(names, a.Name)
		}
		slices.Sort(names)
		if diff := cmp.Diff([]string{"Customer A2", "Vendor P", "default", "root"}, names); diff != "" {
			t.Errorf("names (-want +got):\n%s", diff)
		}
	})
	t.Run("errors", func(t *testing.T) {
		h.wantAdminErrors(t, []adminErrorCase{
			{"bad type", "POST", "/api/v1/accounts", `{"name":"x","type":"reseller"}`, 400, "invalid_request", "reseller"},
			{"no name", "POST", "/api/v1/accounts", `{"name":" "}`, 400, "invalid_request", "name"},
			{"vendor below customer", "POST", "/api/v1/accounts", api.CreateAccountRequest{Name: "v", Type: "vendor", ParentID: cust.ID}, 400, "invalid_request", "vendor"},
			{"negative setting", "POST", "/api/v1/accounts", `{"name":"x","settings":{"key_quota":-1}}`, 400, "invalid_request", "key_quota"},
			{"setting out of range", "PATCH", "/api/v1/accounts/" + cust.ID, `{"settings":{"device_token_ttl_seconds":5}}`, 400, "invalid_request", "lifetime"},
			{"unknown parent", "POST", "/api/v1/accounts", api.CreateAccountRequest{Name: "x", ParentID: uuid.NewString()}, 404, "not_found", ""},
			{"unknown account", "GET", "/api/v1/accounts/" + uuid.NewString(), nil, 404, "not_found", ""},
			{"unknown account update", "PATCH", "/api/v1/accounts/" + uuid.NewString(), `{"name":"x"}`, 404, "not_found", ""},
			{"disable own account", "PATCH", "/api/v1/accounts/" + root, `{"disabled":true}`, 400, "invalid_request", "own account"},
		})
	})
}

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
		User: api.User{ID: u.ID, Username: "alice", AccountID: acct}, Email: "a@example.com", Source: "local",
		Grants: []api.Grant{{RoleID: registry.RoleApprover, AccountID: acct}},
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
		wantRole := api.Role{ID: role.ID, AccountID: acct, Name: "Key viewer", Permissions: []string{"ViewApiKey"}}
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

func TestKeyValueRoutes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	acct := h.defaultAccount(t)
	ck, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: acct, Name: "fleet", AutoTrust: true})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("show", func(t *testing.T) {
		k, err := h.c.GetKey(ctx, ck.ID)
		if err != nil {
			t.Fatalf("GetKey: %v", err)
		}
		if diff := cmp.Diff(ck.Key, k.Key); diff != "" {
			t.Errorf("key (-want +got):\n%s", diff)
		}
		if len(k.Values) != 1 || k.Values[0].ID != ck.ValueID || k.Values[0].UseCount != 0 || k.Values[0].LastUsedAt != nil {
			t.Errorf("values %+v, want the one unused value %s", k.Values, ck.ValueID)
		}
		_, body := h.admin(t, "GET", "/api/v1/keys/"+ck.ID, nil)
		if strings.Contains(string(body), "etk_") || strings.Contains(string(body), "hash") {
			t.Errorf("key JSON shows a secret: %s", body)
		}
	})

	h.registerFrom(t, ck.Value, "first", "10.1.2.3")
	t.Run("usage is shown", func(t *testing.T) {
		k, err := h.c.GetKey(ctx, ck.ID)
		if err != nil {
			t.Fatal(err)
		}
		v := k.Values[0]
		if v.UseCount != 1 || v.LastUsedAt == nil || v.LastUsedFrom != "10.1.2.3" {
			t.Errorf("value after one registration %+v, want use count 1 from 10.1.2.3", v)
		}
	})

	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	added, err := h.c.AddKeyValue(ctx, ck.ID, api.AddValueRequest{Description: "batch 2", UseLimit: 1, ExpiresAt: &exp})
	if err != nil {
		t.Fatalf("AddKeyValue: %v", err)
	}
	if added.ID != ck.ID || added.ValueID == "" || added.ValueID == ck.ValueID || !strings.HasPrefix(added.Value, "etk_") {
		t.Fatalf("added value %+v", added)
	}

	t.Run("regenerate needs the value on a key with several", func(t *testing.T) {
		status, body := h.admin(t, "POST", "/api/v1/keys/"+ck.ID+"/regenerate", nil)
		wantError(t, status, body, 400, "invalid_request", added.ValueID)
	})
	t.Run("regenerate", func(t *testing.T) {
		cv, err := h.c.RegenerateKeyValue(ctx, ck.ID, ck.ValueID)
		if err != nil {
			t.Fatalf("RegenerateKeyValue: %v", err)
		}
		if cv.ID != ck.ID || cv.ValueID != ck.ValueID || cv.Value == ck.Value || !strings.HasPrefix(cv.Value, "etk_") {
			t.Fatalf("regenerated %+v: want the same ids and a new value", cv)
		}
		// The old secret is dead at once, the new one works.
		pub, _, _ := ed25519.GenerateKey(nil)
		_, err = h.reg.Register(ctx, registry.RegisterRequest{APIKey: ck.Value, ClientID: uuid.NewString(), ClientType: protocol.ClientDesktop,
			KeyType: registry.KeyTypeEd25519, PublicKey: pub, Remote: netip.MustParseAddr("10.1.2.3")})
		if registry.KindOf(err) != registry.KindInvalidClient {
			t.Errorf("registering with the old value = %v, want invalid_client", err)
		}
		h.registerFrom(t, cv.Value, "second", "10.1.2.4")
		k, _ := h.c.GetKey(ctx, ck.ID)
		if k.Values[0].UseCount != 2 {
			t.Errorf("use count after regenerate and one more use = %d, want 2 (history kept)", k.Values[0].UseCount)
		}
	})
	t.Run("revoke value", func(t *testing.T) {
		if err := h.c.RevokeKeyValue(ctx, ck.ID, added.ValueID); err != nil {
			t.Fatalf("RevokeKeyValue: %v", err)
		}
		if err := h.c.RevokeKeyValue(ctx, ck.ID, added.ValueID); err != nil {
			t.Errorf("revoking twice = %v, want no-op", err)
		}
		k, _ := h.c.GetKey(ctx, ck.ID)
		got := map[string]bool{}
		for _, v := range k.Values {
			got[v.ID] = v.Revoked && v.RevokedAt != nil
		}
		if diff := cmp.Diff(map[string]bool{ck.ValueID: false, added.ValueID: true}, got); diff != "" {
			t.Errorf("revoked (-want +got):\n%s", diff)
		}
		status, body := h.admin(t, "DELETE", "/api/v1/keys/"+ck.ID+"/values/"+uuid.NewString(), nil)
		wantError(t, status, body, 404, "not_found", "")
	})

	t.Run("update", func(t *testing.T) {
		f, tr := false, true
		later := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
		steps := []struct {
			name string
			req  api.UpdateKeyRequest
			want func(k *api.Key)
		}{
			{"deactivate", api.UpdateKeyRequest{Active: &f}, func(k *api.Key) { k.Active = false }},
			{"auto-trust off, expiry", api.UpdateKeyRequest{AutoTrust: &f, ExpiresAt: &later}, func(k *api.Key) { k.AutoTrust, k.ExpiresAt = false, &later }},
			{"allowed ips replace", api.UpdateKeyRequest{AllowedIPs: &[]string{"10.0.0.0/8", "192.168.1.7"}}, func(k *api.Key) { k.AllowedIPs = []string{"10.0.0.0/8", "192.168.1.7"} }},
			{"no expiry, reactivate", api.UpdateKeyRequest{NoExpiry: true, Active: &tr}, func(k *api.Key) { k.ExpiresAt, k.Active = nil, true }},
			{"clear allowed ips", api.UpdateKeyRequest{AllowedIPs: &[]string{}}, func(k *api.Key) { k.AllowedIPs = []string{} }},
		}
		want := ck.Key
		for _, s := range steps {
			t.Run(s.name, func(t *testing.T) {
				got, err := h.c.UpdateKey(ctx, ck.ID, s.req)
				if err != nil {
					t.Fatalf("UpdateKey: %v", err)
				}
				s.want(&want)
				if diff := cmp.Diff(want, got.Key, cmpopts.IgnoreFields(api.Key{}, "UpdatedAt")); diff != "" {
					t.Errorf("key (-want +got):\n%s", diff)
				}
				if len(got.Values) != 2 {
					t.Errorf("update answers %d values, want 2", len(got.Values))
				}
			})
		}
		for _, tc := range []struct {
			name, body, inDesc string
		}{
			{"expiry and no expiry", `{"expires_at":"2030-01-01T00:00:00Z","no_expiry":true}`, "not both"},
			{"past expiry", `{"expires_at":"2001-01-01T00:00:00Z"}`, "past"},
			{"bad ip", `{"allowed_ips":["10.0.0.300"]}`, "allowed_ips[0]"},
			{"wrong type", `{"active":"no"}`, `"active"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, body := h.admin(t, "PATCH", "/api/v1/keys/"+ck.ID, tc.body)
				wantError(t, status, body, 400, "invalid_request", tc.inDesc)
			})
		}
	})

	t.Run("add value errors", func(t *testing.T) {
		status, body := h.admin(t, "POST", "/api/v1/keys/"+ck.ID+"/values", `{"description":"x","use_limit":-1}`)
		wantError(t, status, body, 400, "invalid_request", "use_limit")
		status, body = h.admin(t, "POST", "/api/v1/keys/"+uuid.NewString()+"/values", `{"description":"x"}`)
		wantError(t, status, body, 404, "not_found", "")
	})

	t.Run("delete", func(t *testing.T) {
		if err := h.c.DeleteKey(ctx, ck.ID); err != nil {
			t.Fatalf("DeleteKey: %v", err)
		}
		if _, err := h.c.GetKey(ctx, ck.ID); !api.IsStatus(err, http.StatusNotFound) {
			t.Errorf("GetKey after delete = %v, want 404", err)
		}
		// Endpoints it registered stay trusted (SPEC K12).
		eps, err := h.c.ListEndpoints(ctx, api.EndpointFilter{KeyID: ck.ID, State: "trusted"})
		if err != nil || len(eps) != 2 {
			t.Errorf("trusted endpoints of the deleted key = %d (%v), want 2", len(eps), err)
		}
	})
}

func TestEdgeDeviceRoutes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	acct := h.defaultAccount(t)
	cv, err := h.c.AddEdgeDevice(ctx, api.EdgeDeviceRequest{AccountID: acct, Name: "bridge-7", Description: "warehouse"})
	if err != nil {
		t.Fatalf("AddEdgeDevice: %v", err)
	}
	k, err := h.c.GetKey(ctx, cv.ID)
	if err != nil {
		t.Fatalf("GetKey of the edge key: %v", err)
	}
	if k.Type != "edge" || !k.Predefined {
		t.Errorf("edge device value on key %+v, want the predefined edge key", k.Key)
	}
	var found bool
	for _, v := range k.Values {
		if v.ID == cv.ValueID {
			found = v.EdgeDevice == "bridge-7" && !v.Revoked
		}
	}
	if !found {
		t.Errorf("values %+v lack the live edge device value %s", k.Values, cv.ValueID)
	}
	status, body := h.admin(t, "POST", "/api/v1/edge-devices", api.EdgeDeviceRequest{AccountID: acct, Name: "bridge-7"})
	wantError(t, status, body, 409, "conflict", "bridge-7")

	if err := h.c.RemoveEdgeDevice(ctx, acct, cv.ValueID); err != nil {
		t.Fatalf("RemoveEdgeDevice: %v", err)
	}
	k, _ = h.c.GetKey(ctx, cv.ID)
	for _, v := range k.Values {
		if v.ID == cv.ValueID && !v.Revoked {
			t.Errorf("edge device value %s not revoked after removal", v.ID)
		}
	}
	status, body = h.admin(t, "DELETE", "/api/v1/edge-devices/"+uuid.NewString()+"?account_id="+acct, nil)
	wantError(t, status, body, 404, "not_found", "")
	// The root is a vendor account: it has no Edge key.
	status, body = h.admin(t, "POST", "/api/v1/edge-devices", `{"name":"x"}`)
	wantError(t, status, body, 400, "invalid_request", "Edge key")
}

func TestBulkRoute(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	acct := h.defaultAccount(t)
	manual, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: acct, Name: "manual"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: acct, Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	a1 := h.registerFrom(t, manual.Value, "a1", "10.1.0.5")
	a2 := h.registerFrom(t, manual.Value, "a2", "10.1.7.9")
	b1 := h.registerFrom(t, manual.Value, "b1", "10.2.0.1")
	o1 := h.registerFrom(t, other.Value, "o1", "10.1.0.6")
	missing := uuid.NewString()

	type res struct{ ID, Outcome, State string }
	short := func(r *api.BulkResponse) []res {
		out := []res{}
		for _, x := range r.Results {
			out = append(out, res{x.ID, x.Outcome, x.State})
		}
		return out
	}
	bySorted := cmpopts.SortSlices(func(a, b res) bool { return a.ID < b.ID })
	steps := []struct {
		name       string
		req        api.BulkRequest
		want       []res
		ok, failed int
	}{
		{"approve by filter: pending of key from 10.1.0.0/16",
			api.BulkRequest{Action: "approve", Filter: &api.BulkFilter{State: "pending", KeyID: manual.ID, From: "10.1.0.0/16"}},
			[]res{{a1.ID, "ok", "trusted"}, {a2.ID, "ok", "trusted"}}, 2, 0},
		{"by ids, mixed outcomes",
			api.BulkRequest{Action: "approve", IDs: []string{a1.ID, b1.ID, missing}},
			[]res{{a1.ID, "noop", "trusted"}, {b1.ID, "ok", "trusted"}, {missing, "not_found", ""}}, 2, 1},
		{"reject conflicts on trusted",
			api.BulkRequest{Action: "reject", IDs: []string{a2.ID, o1.ID}},
			[]res{{a2.ID, "conflict", "trusted"}, {o1.ID, "ok", "rejected"}}, 1, 1},
		{"untrust every trusted of the account",
			api.BulkRequest{Action: "untrust", Filter: &api.BulkFilter{State: "trusted", AccountID: acct}},
			[]res{{a1.ID, "ok", "untrusted"}, {a2.ID, "ok", "untrusted"}, {b1.ID, "ok", "untrusted"}}, 3, 0},
		{"filter matching nothing",
			api.BulkRequest{Action: "approve", Filter: &api.BulkFilter{State: "pending"}},
			[]res{}, 0, 0},
		{"delete by filter registered after",
			api.BulkRequest{Action: "delete", Filter: &api.BulkFilter{State: "rejected", RegisteredAfter: &time.Time{}}},
			[]res{{o1.ID, "ok", "deleted"}}, 1, 0},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			got, err := h.c.BulkEndpoints(ctx, s.req)
			if err != nil {
				t.Fatalf("BulkEndpoints: %v", err)
			}
			if diff := cmp.Diff(s.want, short(got), bySorted); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if got.OK != s.ok || got.Failed != s.failed {
				t.Errorf("ok %d failed %d, want %d and %d", got.OK, got.Failed, s.ok, s.failed)
			}
			for _, r := range got.Results {
				if r.OK != (r.Outcome == "ok" || r.Outcome == "noop") || (r.OK == (r.Error != "")) {
					t.Errorf("result %+v: ok and error disagree with the outcome", r)
				}
			}
		})
	}

	t.Run("raw shape", func(t *testing.T) {
		status, body := h.admin(t, "POST", "/api/v1/endpoints/bulk", `{"action":"approve","ids":["`+a1.ID+`"]}`)
		var m map[string]any
		if err := json.Unmarshal(body, &m); status != 200 || err != nil {
			t.Fatalf("status %d body %s", status, body)
		}
		results, _ := m["results"].([]any)
		if len(results) != 1 || m["ok"] != 1.0 || m["failed"] != 0.0 {
			t.Fatalf("answer %s", body)
		}
		r := results[0].(map[string]any)
		for _, f := range []string{"id", "outcome", "state", "error"} {
			if _, ok := r[f]; !ok {
				t.Errorf("result lacks %q: %s", f, body)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name, body string
			status     int
			inDesc     string
		}{
			{"unknown action", `{"action":"bless","ids":["x"]}`, 400, "bless"},
			{"neither", `{"action":"approve"}`, 400, "either"},
			{"both", `{"action":"approve","ids":["x"],"filter":{}}`, 400, "either"},
			{"bad state", `{"action":"approve","filter":{"state":"asleep"}}`, 400, "asleep"},
			{"bad type", `{"action":"approve","filter":{"type":"toaster"}}`, 400, "toaster"},
			{"bad from", `{"action":"approve","filter":{"from":"10.0.0.0/40"}}`, 400, "CIDR"},
			{"bad time", `{"action":"approve","filter":{"registered_before":"yesterday"}}`, 400, "JSON"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, body := h.admin(t, "POST", "/api/v1/endpoints/bulk", tc.body)
				wantError(t, status, body, tc.status, "invalid_request", tc.inDesc)
			})
		}
		status, body := h.admin(t, "POST", "/api/v1/endpoints/bulk", api.BulkRequest{Action: "approve", Filter: &api.BulkFilter{AccountID: uuid.NewString()}})
		wantError(t, status, body, 404, "not_found", "")
	})

	t.Run("a large id list fits", func(t *testing.T) {
		ids := make([]string, 5000) // 5000 ids are ~200 KB: over the 64 KiB of other routes
		for i := range ids {
			ids[i] = uuid.NewString()
		}
		got, err := h.c.BulkEndpoints(ctx, api.BulkRequest{Action: "approve", IDs: ids})
		if err != nil {
			t.Fatalf("BulkEndpoints with %d ids: %v", len(ids), err)
		}
		if got.Failed != len(ids) {
			t.Errorf("failed %d, want %d not found", got.Failed, len(ids))
		}
	})
}

func TestEndpointListFilters(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	acct := h.defaultAccount(t)
	k, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: acct, Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	e1 := h.registerFrom(t, k.Value, "north-1", "10.1.0.5")
	mid := time.Now().UTC()
	// Registration times are the registry clock's: wait until it has moved on.
	waitUntil(t, func() bool { return time.Now().After(mid.Add(10 * time.Millisecond)) })
	e2 := h.registerFrom(t, k.Value, "south-1", "192.168.3.4")
	ts := mid.Add(5 * time.Millisecond).Format(time.RFC3339Nano)

	for _, tc := range []struct {
		name  string
		query string
		want  []string
	}{
		{"from", "from=10.0.0.0/8", []string{e1.ID}},
		{"from single address", "from=192.168.3.4", []string{e2.ID}},
		{"text", "text=SOUTH", []string{e2.ID}},
		{"q alias", "q=north", []string{e1.ID}},
		{"registered before", "registered_before=" + ts, []string{e1.ID}},
		{"registered after", "registered_after=" + ts, []string{e2.ID}},
		{"seen after", "seen_after=" + ts, []string{e2.ID}},
		{"seen before", "seen_before=" + ts, []string{e1.ID}},
		{"everything", "state=pending&type=desktop_client&key_id=" + k.ID + "&account_id=" + acct, []string{e1.ID, e2.ID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := h.admin(t, "GET", "/api/v1/endpoints?"+strings.ReplaceAll(tc.query, "+", "%2B"), nil)
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			var eps []api.Endpoint
			if err := json.Unmarshal(body, &eps); err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, e := range eps {
				got = append(got, e.ID)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("client filter", func(t *testing.T) {
		eps, err := h.c.ListEndpoints(ctx, api.EndpointFilter{From: "192.168.0.0/16", SeenAfter: mid, Text: "south"})
		if err != nil || len(eps) != 1 || eps[0].ID != e2.ID {
			t.Errorf("ListEndpoints = %+v, %v; want %s", eps, err, e2.ID)
		}
	})
	status, body := h.admin(t, "GET", "/api/v1/endpoints?seen_before=monday", nil)
	wantError(t, status, body, 400, "invalid_request", "seen_before")
}

// waitUntil polls cond with a deadline.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestAuditRoute(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	acct := h.defaultAccount(t)
	start := time.Now().Add(-time.Second).UTC()
	k, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: acct, Name: "audited"})
	if err != nil {
		t.Fatal(err)
	}
	e := h.registerFrom(t, k.Value, "h", "10.1.2.3")
	if _, err := h.c.ApproveEndpoint(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	bad := api.New(h.srv.URL, h.srv.Client())
	_, _ = bad.SignIn(ctx, api.SignInRequest{Username: "admin", Password: "wrong-password"})

	actor := "user:" + h.tokens.User.ID
	t.Run("approve", func(t *testing.T) {
		evs, err := h.c.ListAudit(ctx, api.AuditFilter{Action: "endpoint.approve", Since: start})
		if err != nil {
			t.Fatalf("ListAudit: %v", err)
		}
		want := []api.AuditEvent{{Actor: actor, Action: "endpoint.approve", AccountID: acct, Target: "endpoint:" + e.ID,
			Outcome: "success", Detail: map[string]string{"from": "pending", "to": "trusted"}}}
		if diff := cmp.Diff(want, evs, cmpopts.IgnoreFields(api.AuditEvent{}, "ID", "Time", "Remote")); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
	t.Run("filters", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			f    api.AuditFilter
			want []string // actions
		}{
			{"prefix", api.AuditFilter{Action: "apikey.", Actor: actor}, []string{"apikey.create"}},
			{"target", api.AuditFilter{Target: "apikey:" + k.ID}, []string{"apikey.create"}},
			{"failures", api.AuditFilter{Outcome: "failure", Action: "auth.signin"}, []string{"auth.signin"}},
			{"account", api.AuditFilter{AccountID: acct, Since: start, Action: "endpoint."}, []string{"endpoint.register", "endpoint.approve"}},
			{"until before everything", api.AuditFilter{Until: start.Add(-time.Hour)}, []string{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				evs, err := h.c.ListAudit(ctx, tc.f)
				if err != nil {
					t.Fatalf("ListAudit: %v", err)
				}
				got := []string{}
				for _, e := range evs {
					got = append(got, e.Action)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("actions (-want +got):\n%s", diff)
				}
			})
		}
	})
	t.Run("paging", func(t *testing.T) {
		all, err := h.c.ListAudit(ctx, api.AuditFilter{})
		if err != nil || len(all) < 4 {
			t.Fatalf("ListAudit = %d events, %v", len(all), err)
		}
		var paged []api.AuditEvent
		f := api.AuditFilter{Limit: 2}
		for {
			page, err := h.c.ListAudit(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > 2 {
				t.Fatalf("page of %d, limit 2", len(page))
			}
			paged = append(paged, page...)
			if len(page) < 2 {
				break
			}
			f.AfterID = page[len(page)-1].ID
		}
		if diff := cmp.Diff(all, paged); diff != "" {
			t.Errorf("paged events differ from the whole list (-want +got):\n%s", diff)
		}
	})
	t.Run("no secrets", func(t *testing.T) {
		_, body := h.admin(t, "GET", "/api/v1/audit", nil)
		for _, s := range []string{k.Value, adminPassword, "wrong-password", h.tokens.AccessToken} {
			if strings.Contains(string(body), s) {
				t.Errorf("the audit log holds a secret")
			}
		}
	})
	for _, tc := range []struct{ name, query, inDesc string }{
		{"bad since", "since=yesterday", "since"},
		{"bad limit", "limit=0", "limit"},
		{"limit too large", fmt.Sprintf("limit=%d", 100000), "limit"},
		{"bad after_id", "after_id=x", "after_id"},
		{"bad outcome", "outcome=maybe", "outcome"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := h.admin(t, "GET", "/api/v1/audit?"+tc.query, nil)
			wantError(t, status, body, 400, "invalid_request", tc.inDesc)
		})
	}
	status, body := h.admin(t, "GET", "/api/v1/audit?account_id="+uuid.NewString(), nil)
	wantError(t, status, body, 404, "not_found", "")
}

func TestAPIKeyAuthentication(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	root := h.tokens.User.AccountID
	yes := true
	adminID := h.tokens.User.ID

	// S5, K1: a key alone acts as its run-as identity when it allows
	// unauthenticated requests; admin routes also need full API access.
	ck, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: root, Name: "automation", FullAPIAccess: true, AllowUnauthenticated: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.UpdateKey(ctx, ck.ID, api.UpdateKeyRequest{RunAsUserID: &adminID}); err != nil {
		t.Fatalf("UpdateKey run-as: %v", err)
	}
	plain, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: root, Name: "plain"})
	if err != nil {
		t.Fatal(err)
	}
	fullOnly, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: root, Name: "full, needs a user token", FullAPIAccess: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.UpdateKey(ctx, fullOnly.ID, api.UpdateKeyRequest{RunAsUserID: &adminID, FullAPIAccess: &yes}); err != nil {
		t.Fatal(err)
	}

	t.Run("accepted forms", func(t *testing.T) {
		for name, hdr := range map[string]map[string]string{
			"X-API-Key":                {"X-API-Key": ck.Value},
			"Authorization: ApiKey":    {"Authorization": "ApiKey " + ck.Value},
			"scheme case":              {"Authorization": "apikey " + ck.Value},
			"key and user token":       {"Authorization": "Bearer " + h.tokens.AccessToken, "X-API-Key": fullOnly.Value},
			"user token alone":         {"Authorization": "Bearer " + h.tokens.AccessToken},
			"unauthenticated key+user": {"Authorization": "Bearer " + h.tokens.AccessToken, "X-API-Key": ck.Value},
		} {
			t.Run(name, func(t *testing.T) {
				status, body := h.send(t, "GET", "/api/v1/accounts", hdr, nil)
				if status != 200 {
					t.Errorf("status %d: %s", status, body)
				}
			})
		}
		c := api.New(h.srv.URL, h.srv.Client())
		c.SetAPIKey(ck.Value)
		acct, err := c.CreateAccount(ctx, api.CreateAccountRequest{Name: "made by a key"})
		if err != nil {
			t.Fatalf("CreateAccount with the key: %v", err)
		}
		evs, err := h.c.ListAudit(ctx, api.AuditFilter{Action: "account.create", Target: "account:" + acct.ID})
		if err != nil || len(evs) != 1 || evs[0].Actor != "key:"+ck.ID {
			t.Errorf("audit of the key's change = %+v, %v; want actor key:%s", evs, err, ck.ID)
		}
	})

	// Every failure without a key's refusal answers the same 401 body.
	unauthenticated := map[string]map[string]string{
		"nothing":              {},
		"bad bearer":           {"Authorization": "Bearer not-a-token"},
		"empty bearer":         {"Authorization": "Bearer "},
		"unknown scheme":       {"Authorization": "Basic YWRtaW46YWRtaW4="},
		"good key, bad bearer": {"Authorization": "Bearer not-a-token", "X-API-Key": ck.Value},
	}
	// Every refusal of a key answers the same 403 body (SPEC K8).
	refused := map[string]map[string]string{
		"bad key":                          {"X-API-Key": "etk_nope"},
		"key without full access":          {"X-API-Key": plain.Value},
		"key without full, ApiKey":         {"Authorization": "ApiKey " + plain.Value},
		"key without full, with a token":   {"Authorization": "Bearer " + h.tokens.AccessToken, "X-API-Key": plain.Value},
		"key not allowing unauthenticated": {"X-API-Key": fullOnly.Value},
		"bad key with a good token":        {"Authorization": "Bearer " + h.tokens.AccessToken, "X-API-Key": "etk_nope"},
	}
	for _, group := range []struct {
		cases        map[string]map[string]string
		status       int
		code, inDesc string
	}{
		{unauthenticated, 401, "unauthorized", "Bearer"},
		{refused, 403, "invalid_client", "invalid client credentials"},
	} {
		var first []byte
		for name, hdr := range group.cases {
			t.Run(name, func(t *testing.T) {
				status, body := h.send(t, "GET", "/api/v1/keys", hdr, nil)
				wantError(t, status, body, group.status, group.code, group.inDesc)
				if first == nil {
					first = body
				} else if diff := cmp.Diff(string(first), string(body)); diff != "" {
					t.Errorf("%d bodies differ (-first +this):\n%s", group.status, diff)
				}
			})
		}
	}
	t.Run("query form is not accepted on admin routes", func(t *testing.T) {
		status, body := h.send(t, "GET", "/api/v1/keys?rest_api_key="+ck.Value, nil, nil)
		wantError(t, status, body, 401, "unauthorized", "")
	})
	t.Run("refusal is audited", func(t *testing.T) {
		evs, err := h.c.ListAudit(ctx, api.AuditFilter{Action: "auth.apikey", Outcome: "failure"})
		if err != nil || len(evs) == 0 {
			t.Errorf("failed key authentications in the audit: %d, %v; want some", len(evs), err)
		}
	})
	t.Run("logs hold no key", func(t *testing.T) {
		for _, e := range h.logs.All() {
			line := e.Message
			for k, v := range e.ContextMap() {
				line += " " + k + "=" + toString(v)
			}
			for _, secret := range []string{ck.Value, plain.Value} {
				if strings.Contains(line, secret) {
					t.Errorf("log line %q holds a key value", line)
				}
			}
		}
	})
}
