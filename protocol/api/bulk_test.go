package api_test

import (
	"context"
	"testing"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// TestBulkRequests pins the requests of the client methods of the bulk endpoint route.
func TestBulkRequests(t *testing.T) {
	newFakeBroker(t).check(t, []requestCase{
		{"BulkEndpoints", func(ctx context.Context, c *api.Client) error {
			_, err := c.BulkEndpoints(ctx, api.BulkRequest{Action: "approve", Filter: &api.BulkFilter{State: "pending", From: "10.0.0.0/8"}})
			return err
		}, sent{"POST", "/api/v1/endpoints/bulk", "", `{"action":"approve","filter":{"state":"pending","from":"10.0.0.0/8"}}`, "Bearer tok"}},
	})
}
