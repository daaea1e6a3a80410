package api_test

import (
	"context"
	"testing"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// TestKeyRequests pins the requests of the client methods of the API key routes.
func TestKeyRequests(t *testing.T) {
	f := false
	newFakeBroker(t).check(t, []requestCase{
		{"UpdateKey", func(ctx context.Context, c *api.Client) error {
			_, err := c.UpdateKey(ctx, "k", api.UpdateKeyRequest{Active: &f, NoExpiry: true, AllowedIPs: &[]string{}})
			return err
		}, sent{"PATCH", "/api/v1/keys/k", "", `{"active":false,"no_expiry":true,"allowed_ips":[]}`, "Bearer tok"}},
	})
}
