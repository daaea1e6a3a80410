package httpapi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// TestWebhookRoutes: the secret is in the answers to add and rotate only;
// list, show, the delivery log, redeliver and remove answer as documented.
func TestWebhookRoutes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	acct := h.defaultAccount(t)
	cw, err := h.c.CreateWebhook(ctx, api.WebhookRequest{AccountID: acct, URL: "https://hooks.example.com/in", Events: []string{"endpoint.pending", "apikey.*"}})
	if err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	if !strings.HasPrefix(cw.Secret, api.WebhookSecretPrefix) || cw.Webhook.AccountID != acct || cw.Webhook.AccountName == "" {
		t.Errorf("created = %+v, want a whsec_ secret and the account named", cw.Webhook)
	}
	status, body := h.admin(t, "GET", "/api/v1/webhooks?account_id="+acct, nil)
	if status != 200 || strings.Contains(string(body), strings.TrimPrefix(cw.Secret, api.WebhookSecretPrefix)) || !strings.Contains(string(body), cw.Webhook.ID) {
		t.Errorf("GET /api/v1/webhooks = %d %s, want the webhook without its secret", status, body)
	}
	got, err := h.c.GetWebhook(ctx, cw.Webhook.ID)
	if err != nil || got.URL != "https://hooks.example.com/in" {
		t.Errorf("GetWebhook = %+v, %v", got, err)
	}
	if _, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: acct, Name: "k"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.reg.EnqueueWebhookDeliveries(ctx); err != nil {
		t.Fatal(err)
	}
	ds, err := h.c.ListWebhookDeliveries(ctx, cw.Webhook.ID, 10)
	if err != nil || len(ds) != 1 || ds[0].EventType != "apikey.created" || ds[0].State != "pending" || !strings.Contains(string(ds[0].Payload), `"apikey.created"`) {
		t.Fatalf("ListWebhookDeliveries = %+v, %v; want one pending apikey.created", ds, err)
	}
	d, err := h.c.RedeliverWebhook(ctx, cw.Webhook.ID, ds[0].ID)
	if err != nil || d.ID != ds[0].ID || d.State != "pending" {
		t.Errorf("RedeliverWebhook = %+v, %v", d, err)
	}
	rot, err := h.c.RotateWebhookSecret(ctx, cw.Webhook.ID)
	if err != nil || rot.Secret == cw.Secret || !strings.HasPrefix(rot.Secret, api.WebhookSecretPrefix) {
		t.Errorf("RotateWebhookSecret = %v, want a new secret", err)
	}

	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code, desc         string
	}{
		{"http URL", "POST", "/api/v1/webhooks", api.WebhookRequest{URL: "http://h.example/", Events: []string{"apikey.*"}}, 400, "invalid_request", "https"},
		{"unknown type", "POST", "/api/v1/webhooks", api.WebhookRequest{URL: "https://h.example/", Events: []string{"x.y"}}, 400, "invalid_request", "unknown event type"},
		{"bad limit", "GET", "/api/v1/webhooks/" + cw.Webhook.ID + "/deliveries?limit=0", nil, 400, "invalid_request", "limit"},
		{"no such webhook", "GET", "/api/v1/webhooks/nope", nil, 404, "not_found", ""},
		{"delivery of another webhook", "POST", "/api/v1/webhooks/nope/deliveries/" + ds[0].ID + "/redeliver", nil, 404, "not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := h.admin(t, tc.method, tc.path, tc.body)
			wantError(t, status, body, tc.status, tc.code, tc.desc)
		})
	}

	if err := h.c.DeleteWebhook(ctx, cw.Webhook.ID); err != nil {
		t.Fatalf("DeleteWebhook: %v", err)
	}
	if ws, err := h.c.ListWebhooks(ctx, ""); err != nil || len(ws) != 0 {
		t.Errorf("after remove: %v, %v; want none", ws, err)
	}
}
