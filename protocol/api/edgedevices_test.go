package api_test

import (
	"context"
	"testing"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// TestEdgeDeviceRequests pins the requests of the client methods of the edge device routes.
func TestEdgeDeviceRequests(t *testing.T) {
	newFakeBroker(t).check(t, []requestCase{
		{"RemoveEdgeDevice", func(ctx context.Context, c *api.Client) error { return c.RemoveEdgeDevice(ctx, "a", "v") },
			sent{"DELETE", "/api/v1/edge-devices/v", "account_id=a", "", "Bearer tok"}},
	})
}
