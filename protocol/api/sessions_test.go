package api_test

import (
	"context"
	"testing"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// TestSessionRequests pins the requests of the client methods of the session routes.
func TestSessionRequests(t *testing.T) {
	newFakeBroker(t).check(t, []requestCase{
		{"ListSessions", func(ctx context.Context, c *api.Client) error { _, err := c.ListSessions(ctx, ""); return err },
			sent{"GET", "/api/v1/sessions", "", "", "Bearer tok"}},
		{"ListSessions of a user", func(ctx context.Context, c *api.Client) error { _, err := c.ListSessions(ctx, "u 1"); return err },
			sent{"GET", "/api/v1/sessions", "user_id=u+1", "", "Bearer tok"}},
		{"EndSession", func(ctx context.Context, c *api.Client) error { return c.EndSession(ctx, "s/1") },
			sent{"DELETE", "/api/v1/sessions/s%2F1", "", "", "Bearer tok"}},
		{"EndSessions", func(ctx context.Context, c *api.Client) error { _, err := c.EndSessions(ctx, "u"); return err },
			sent{"DELETE", "/api/v1/sessions", "user_id=u", "", "Bearer tok"}},
	})
}
