package api_test

import (
	"context"
	"testing"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// TestUserRequests pins the requests of the client methods of the user routes.
func TestUserRequests(t *testing.T) {
	newFakeBroker(t).check(t, []requestCase{
		{"CreateUser", func(ctx context.Context, c *api.Client) error {
			_, err := c.CreateUser(ctx, api.CreateUserRequest{AccountID: "a", Username: "u", Roles: []string{"Auditor"}})
			return err
		}, sent{"POST", "/api/v1/users", "", `{"account_id":"a","username":"u","roles":["Auditor"]}`, "Bearer tok"}},
		{"ListUsers", func(ctx context.Context, c *api.Client) error { _, err := c.ListUsers(ctx, "a"); return err },
			sent{"GET", "/api/v1/users", "account_id=a", "", "Bearer tok"}},
		{"DeleteUser", func(ctx context.Context, c *api.Client) error { return c.DeleteUser(ctx, "u") }, sent{"DELETE", "/api/v1/users/u", "", "", "Bearer tok"}},
	})
}
