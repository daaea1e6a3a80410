package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// TestAuditRequests pins the requests of the client methods of the audit route.
func TestAuditRequests(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	newFakeBroker(t).check(t, []requestCase{
		{"ListAudit", func(ctx context.Context, c *api.Client) error {
			_, err := c.ListAudit(ctx, api.AuditFilter{Since: t0, Action: "endpoint.", AccountID: "a", AfterID: 7, Limit: 10})
			return err
		}, sent{"GET", "/api/v1/audit", "account_id=a&action=endpoint.&after_id=7&limit=10&since=2030-01-02T03%3A04%3A05Z", "", "Bearer tok"}},
	})
}
