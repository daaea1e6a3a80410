package api_test

import (
	"context"
	"testing"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// TestRoleRequests pins the requests of the client methods of the role and grant routes.
func TestRoleRequests(t *testing.T) {
	newFakeBroker(t).check(t, []requestCase{
		{"Grant", func(ctx context.Context, c *api.Client) error {
			_, err := c.Grant(ctx, "u", api.GrantRequest{Role: "Auditor", AccountID: "a"})
			return err
		},
			sent{"POST", "/api/v1/users/u/grants", "", `{"role":"Auditor","account_id":"a"}`, "Bearer tok"}},
		{"Ungrant", func(ctx context.Context, c *api.Client) error { return c.Ungrant(ctx, "u", "Key viewer", "a") },
			sent{"DELETE", "/api/v1/users/u/grants", "account_id=a&role=Key+viewer", "", "Bearer tok"}},
		{"CreateRole", func(ctx context.Context, c *api.Client) error {
			_, err := c.CreateRole(ctx, api.CreateRoleRequest{Name: "r", Permissions: []string{"ViewApiKey"}})
			return err
		}, sent{"POST", "/api/v1/roles", "", `{"name":"r","permissions":["ViewApiKey"]}`, "Bearer tok"}},
		{"DeleteRole", func(ctx context.Context, c *api.Client) error { return c.DeleteRole(ctx, "r") }, sent{"DELETE", "/api/v1/roles/r", "", "", "Bearer tok"}},
	})
}
