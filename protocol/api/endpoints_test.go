package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// TestEndpointRequests pins the requests of the client methods of the endpoint routes.
func TestEndpointRequests(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	newFakeBroker(t).check(t, []requestCase{
		{"ListEndpoints filters", func(ctx context.Context, c *api.Client) error {
			_, err := c.ListEndpoints(ctx, api.EndpointFilter{Text: "x", From: "10.0.0.0/8", SeenBefore: t0, RegisteredAfter: t0})
			return err
		}, sent{"GET", "/api/v1/endpoints", "from=10.0.0.0%2F8&registered_after=2030-01-02T03%3A04%3A05Z&seen_before=2030-01-02T03%3A04%3A05Z&text=x", "", "Bearer tok"}},
	})
}
