package httpapi_test

import (
	"context"
	"slices"
	"testing"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
)

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
	want := api.Account{ID: cust.ID, Name: "Customer A", ParentID: vendor.ID, ParentName: "Vendor P", Type: "customer", TrustAllEndpoints: true, Settings: *settings}
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
		want := api.Account{ID: cust.ID, Name: name, ParentID: vendor.ID, ParentName: "Vendor P", Type: "customer", Disabled: true, TrustAllEndpoints: true}
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

func TestAccounts(t *testing.T) {
	h := newHarness(t)
	accts, err := h.c.ListAccounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type short struct{ Name, Type string }
	var got []short
	var root string
	for _, a := range accts {
		got = append(got, short{a.Name, a.Type})
		if a.Name == registry.RootAccountName {
			root = a.ID
		}
	}
	want := []short{{"root", "vendor"}, {"default", "customer"}}
	// Both are created in one instant; the order among equal times is by id.
	bySorted := cmpopts.SortSlices(func(a, b short) bool { return a.Name < b.Name })
	if diff := cmp.Diff(want, got, bySorted); diff != "" {
		t.Errorf("accounts (-want +got):\n%s", diff)
	}
	for _, a := range accts {
		if a.Name == registry.DefaultAccountName && a.ParentID != root {
			t.Errorf("default's parent %q, want root %q", a.ParentID, root)
		}
	}
}
