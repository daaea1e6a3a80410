package registry_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// TestWebhookPermissions: ModifyAccount manages, ViewAccount reads, and
// an admin sees only its account and below.
func TestWebhookPermissions(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	adminA := e.user(tr.custA.ID, "admin-a", registry.RoleAdministrator)
	approverA := e.user(tr.custA.ID, "approver-a", registry.RoleApprover)
	auditorA := e.user(tr.custA.ID, "auditor-a", registry.RoleAuditor)
	req := func(account string) registry.WebhookRequest {
		return registry.WebhookRequest{AccountID: account, URL: "https://hooks.example.com/x", Events: []string{"endpoint.*", "apikey.*"}}
	}
	cw, err := e.reg.CreateWebhook(e.ctx, adminA, req(tr.custA1.ID), loopback)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cw.Secret, "whsec_") || len(cw.Webhook.SealedSecret) != 0 {
		t.Errorf("created: secret %q…, sealed secret shown: %v", cw.Secret[:6], cw.Webhook.SealedSecret != nil)
	}
	tests := []struct {
		name string
		p    *registry.Principal
		run  func(p *registry.Principal) error
		want registry.Kind // 0 = allowed (KindInternal is never wanted)
	}{
		{"admin of A at B", adminA, func(p *registry.Principal) error {
			_, err := e.reg.CreateWebhook(e.ctx, p, req(tr.custB.ID), loopback)
			return err
		}, registry.KindNotFound},
		{"approver creates", approverA, func(p *registry.Principal) error {
			_, err := e.reg.CreateWebhook(e.ctx, p, req(tr.custA.ID), loopback)
			return err
		}, registry.KindPermission},
		{"auditor lists", auditorA, func(p *registry.Principal) error {
			ws, err := e.reg.ListWebhooks(e.ctx, p, "")
			if err == nil && (len(ws) != 1 || ws[0].ID != cw.Webhook.ID || ws[0].SealedSecret != nil) {
				t.Errorf("auditor's list = %+v, want the one webhook without its secret", ws)
			}
			return err
		}, 0},
		{"auditor reads the log", auditorA, func(p *registry.Principal) error {
			_, err := e.reg.ListWebhookDeliveries(e.ctx, p, cw.Webhook.ID, 0)
			return err
		}, 0},
		{"auditor rotates", auditorA, func(p *registry.Principal) error {
			_, err := e.reg.RotateWebhookSecret(e.ctx, p, cw.Webhook.ID, loopback)
			return err
		}, registry.KindPermission},
		{"auditor removes", auditorA, func(p *registry.Principal) error {
			return e.reg.DeleteWebhook(e.ctx, p, cw.Webhook.ID, loopback)
		}, registry.KindPermission},
		{"unknown event type", adminA, func(p *registry.Principal) error {
			_, err := e.reg.CreateWebhook(e.ctx, p, registry.WebhookRequest{URL: "https://h.example/", Events: []string{"endpoint.exploded"}}, loopback)
			return err
		}, registry.KindInvalid},
		{"no event type", adminA, func(p *registry.Principal) error {
			_, err := e.reg.CreateWebhook(e.ctx, p, registry.WebhookRequest{URL: "https://h.example/"}, loopback)
			return err
		}, registry.KindInvalid},
		{"clone warning subscribable", adminA, func(p *registry.Principal) error {
			w, err := e.reg.CreateWebhook(e.ctx, p, registry.WebhookRequest{URL: "https://h.example/", Events: []string{"endpoint.clone_suspected"}}, loopback)
			if err == nil {
				err = e.reg.DeleteWebhook(e.ctx, p, w.Webhook.ID, loopback)
			}
			return err
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run(tc.p)
			if tc.want == 0 {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			wantKind(t, err, tc.want)
		})
	}

	rot, err := e.reg.RotateWebhookSecret(e.ctx, adminA, cw.Webhook.ID, loopback)
	if err != nil {
		t.Fatal(err)
	}
	if rot.Secret == cw.Secret || !strings.HasPrefix(rot.Secret, "whsec_") {
		t.Errorf("rotated secret is not a new whsec_ secret")
	}
	for _, ev := range e.audits(registry.AuditFilter{Action: "webhook."}) {
		b, _ := json.Marshal(ev)
		if strings.Contains(string(b), strings.TrimPrefix(cw.Secret, "whsec_")) || strings.Contains(string(b), strings.TrimPrefix(rot.Secret, "whsec_")) {
			t.Errorf("audit row %s holds a secret", ev.Action)
		}
		if strings.Contains(string(b), "/x") {
			t.Errorf("audit row %s holds the URL's path", ev.Action)
		}
	}
}

// TestWebhookOutboxScope: a webhook gets the events of its account and
// below, of the types it subscribed to, from its creation on.
func TestWebhookOutboxScope(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID, Name: "before the webhook"})
	cw, err := e.reg.CreateWebhook(e.ctx, e.admin, registry.WebhookRequest{AccountID: tr.custA.ID, URL: "https://h.example/",
		Events: []string{"apikey.created"}}, loopback)
	if err != nil {
		t.Fatal(err)
	}
	k := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA1.ID, Name: "below"})
	e.key(registry.CreateAPIKeyRequest{AccountID: tr.custB.ID, Name: "beside"})
	if err := e.reg.DeleteAPIKey(e.ctx, e.admin, k.Key.ID, loopback); err != nil {
		t.Fatal(err)
	}
	n, more, err := e.reg.EnqueueWebhookDeliveries(e.ctx)
	if err != nil || n != 1 || more {
		t.Fatalf("EnqueueWebhookDeliveries = %d, %v, %v; want 1, false, nil", n, more, err)
	}
	if n, _, _ := e.reg.EnqueueWebhookDeliveries(e.ctx); n != 0 {
		t.Errorf("second EnqueueWebhookDeliveries queued %d again", n)
	}
	ds, err := e.reg.ListWebhookDeliveries(e.ctx, e.admin, cw.Webhook.ID, 0)
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries = %v, %v; want one", ds, err)
	}
	var p registry.WebhookPayload
	if err := json.Unmarshal(ds[0].Payload, &p); err != nil {
		t.Fatal(err)
	}
	want := registry.WebhookPayload{Type: "apikey.created", Timestamp: p.Timestamp, Data: registry.WebhookData{AccountID: tr.custA1.ID, KeyID: k.Key.ID}}
	if d := cmp.Diff(want, p); d != "" {
		t.Errorf("payload mismatch (-want +got):\n%s", d)
	}

	// A delivery a worker holds is not queued again under it.
	due, err := e.reg.ClaimWebhookDeliveries(e.ctx, "worker-1", time.Minute, 10)
	if err != nil || len(due) != 1 || !strings.HasPrefix(due[0].Secret, "whsec_") || due[0].URL != "https://h.example/" {
		t.Fatalf("ClaimWebhookDeliveries = %d, %v; want the one delivery with its URL and secret", len(due), err)
	}
	_, err = e.reg.RedeliverWebhook(e.ctx, e.admin, cw.Webhook.ID, ds[0].ID, loopback)
	wantKind(t, err, registry.KindConflict)
	if err := e.reg.RecordWebhookAttempt(e.ctx, "worker-2", due[0].Delivery, registry.WebhookAttempt{Delivered: true}); registry.KindOf(err) != registry.KindConflict {
		t.Errorf("RecordWebhookAttempt by another worker = %v, want KindConflict", err)
	}
	if err := e.reg.RecordWebhookAttempt(e.ctx, "worker-1", due[0].Delivery, registry.WebhookAttempt{Status: 200, Delivered: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.RedeliverWebhook(e.ctx, e.admin, cw.Webhook.ID, ds[0].ID, loopback); err != nil {
		t.Errorf("RedeliverWebhook after the attempt = %v", err)
	}
}

// TestExpiryWarnings: a week before a key or a value expires, the sweep
// warns once (apikey.expiry_warning), and a webhook gets apikey.expiring.
func TestExpiryWarnings(t *testing.T) {
	e := newEnv(t)
	cw, err := e.reg.CreateWebhook(e.ctx, e.admin, registry.WebhookRequest{URL: "https://h.example/", Events: []string{"apikey.expiring"}}, loopback)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clk.Now()
	k := e.key(registry.CreateAPIKeyRequest{Name: "expires in 10 days", ExpiresAt: now.Add(10 * 24 * time.Hour)})
	v, err := e.reg.AddKeyValue(e.ctx, e.admin, k.Key.ID, registry.AddValueRequest{Description: "3 days", ExpiresAt: now.Add(3 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	type warning struct{ value, expires string }
	sweep := func() []warning {
		t.Helper()
		if _, err := e.reg.Sweep(e.ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.reg.EnqueueWebhookDeliveries(e.ctx); err != nil {
			t.Fatal(err)
		}
		ds, err := e.reg.ListWebhookDeliveries(e.ctx, e.admin, cw.Webhook.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []warning
		for i := len(ds) - 1; i >= 0; i-- {
			var p registry.WebhookPayload
			if err := json.Unmarshal(ds[i].Payload, &p); err != nil {
				t.Fatal(err)
			}
			if p.Type != "apikey.expiring" || p.Data.KeyID != k.Key.ID {
				t.Errorf("payload %+v, want apikey.expiring of %s", p, k.Key.ID)
			}
			out = append(out, warning{p.Data.ValueID, p.Data.ExpiresAt})
		}
		return out
	}
	day := func(d int) string { return now.Add(time.Duration(d) * 24 * time.Hour).UTC().Format(time.RFC3339) }
	if d := cmp.Diff([]warning{{v.ValueID, day(3)}}, sweep(), cmp.AllowUnexported(warning{})); d != "" {
		t.Errorf("first sweep (-want +got):\n%s", d)
	}
	e.clk.Advance(2 * time.Hour)
	if got := sweep(); len(got) != 1 {
		t.Errorf("second sweep: %d warnings in all, want the first alone", len(got))
	}
	e.clk.Advance(4 * 24 * time.Hour) // the key is 6 days from its expiry
	if d := cmp.Diff([]warning{{v.ValueID, day(3)}, {"", day(10)}}, sweep(), cmp.AllowUnexported(warning{})); d != "" {
		t.Errorf("after 4 days (-want +got):\n%s", d)
	}
}
