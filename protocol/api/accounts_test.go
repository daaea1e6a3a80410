package api_test

import (
	"context"
	"testing"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// TestAccountRequests pins the requests of the client methods of the account routes.
func TestAccountRequests(t *testing.T) {
	tr := true
	newFakeBroker(t).check(t, []requestCase{
		{"CreateAccount", func(ctx context.Context, c *api.Client) error {
			_, err := c.CreateAccount(ctx, api.CreateAccountRequest{Name: "A", ParentID: "p", Type: "vendor"})
			return err
		}, sent{"POST", "/api/v1/accounts", "", `{"name":"A","parent_id":"p","type":"vendor"}`, "Bearer tok"}},
		{"GetAccount escapes", func(ctx context.Context, c *api.Client) error { _, err := c.GetAccount(ctx, "a/b"); return err },
			sent{"GET", "/api/v1/accounts/a%2Fb", "", "", "Bearer tok"}},
		{"UpdateAccount", func(ctx context.Context, c *api.Client) error {
			_, err := c.UpdateAccount(ctx, "a", api.UpdateAccountRequest{Disabled: &tr})
			return err
		}, sent{"PATCH", "/api/v1/accounts/a", "", `{"disabled":true}`, "Bearer tok"}},
	})
}
