package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// TestKeyValueRequests pins the requests of the client methods of the key value routes.
func TestKeyValueRequests(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	newFakeBroker(t).check(t, []requestCase{
		{"AddKeyValue", func(ctx context.Context, c *api.Client) error {
			_, err := c.AddKeyValue(ctx, "k", api.AddValueRequest{Description: "d", UseLimit: 2, ExpiresAt: &t0})
			return err
		}, sent{"POST", "/api/v1/keys/k/values", "", `{"description":"d","use_limit":2,"expires_at":"2030-01-02T03:04:05Z"}`, "Bearer tok"}},
		{"RegenerateKeyValue", func(ctx context.Context, c *api.Client) error {
			_, err := c.RegenerateKeyValue(ctx, "k", "v")
			return err
		},
			sent{"POST", "/api/v1/keys/k/regenerate", "", `{"value_id":"v"}`, "Bearer tok"}},
		{"RevokeKeyValue", func(ctx context.Context, c *api.Client) error { return c.RevokeKeyValue(ctx, "k", "v") },
			sent{"DELETE", "/api/v1/keys/k/values/v", "", "", "Bearer tok"}},
	})
}
