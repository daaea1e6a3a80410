package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgetrust/edgetrust/protocol/api"
)

func TestWebhooksUsage(t *testing.T) {
	runUsageCases(t, []usageCase{
		{"add without url", []string{"webhooks", "add", "--event", "apikey.*"}, 2, "", "--url"},
		{"add without event", []string{"webhooks", "add", "--url", "https://h.example/"}, 2, "", "--event"},
		{"redeliver one arg", []string{"webhooks", "redeliver", "x"}, 2, "", "delivery id"},
		{"verify without headers", []string{"webhooks", "verify", "--secret-file", "f"}, 2, "", "--timestamp"},
		{"deliveries bad limit", []string{"webhooks", "deliveries", "x", "--limit", "501"}, 2, "", "--limit"},
		{"help webhooks", []string{"webhooks", "--help"}, 0, "webhooks rotate-secret", ""},
	})
}

// TestWebhooksVerify checks signatures offline, among them the Standard
// Webhooks specification's own example.
func TestWebhooksVerify(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const (
		id   = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		ts   = "1614265330"
		body = `{"test": 2432232314}`
		sig  = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	verify := func(body, sig string, extra ...string) result {
		args := append([]string{"webhooks", "verify", "--secret-file", secretFile, "--id", id, "--timestamp", ts, "--signature", sig}, extra...)
		return runCLI(t, nil, body, args...)
	}
	for _, tc := range []struct {
		name       string
		body, sig  string
		extra      []string
		code       int
		out, inErr string
	}{
		{"the specification's example", body, sig, []string{"--max-age", "0"}, 0, "signature valid", ""},
		{"among several signatures", body, "v1,bm90IGl0 " + sig, []string{"--max-age", "0"}, 0, "signature valid", ""},
		{"json", body, sig, []string{"--max-age", "0", "-o", "json"}, 0, `"valid": true`, ""},
		{"body changed", body + " ", sig, []string{"--max-age", "0"}, 1, "", "does not match"},
		{"too old", body, sig, nil, 1, "", "from now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := verify(tc.body, tc.sig, tc.extra...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.out) || (tc.inErr != "" && !strings.Contains(r.stderr, tc.inErr)) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", r.code, r.stdout, r.stderr, tc.code, tc.out, tc.inErr)
			}
			if strings.Contains(r.stdout+r.stderr, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") {
				t.Error("the secret was printed")
			}
		})
	}
}

// walkWebhooks configures a webhook in Shop, lists, shows, reads its
// log, redelivers, rotates its secret and removes it.
func walkWebhooks(t *testing.T, w *walk) {
	t.Run("webhooks", func(t *testing.T) {
		cw := decodeJSON[api.CreatedWebhook](t, w.mustRun(t, "", "webhooks", "add", "--account", w.cust.ID,
			"--url", "https://hooks.example.com/in", "--event", "endpoint.pending,apikey.*", "-o", "json").stdout)
		if !strings.HasPrefix(cw.Secret, "whsec_") || len(cw.Webhook.Events) != 2 {
			t.Fatalf("webhooks add = %+v", cw)
		}
		if out := w.mustRun(t, "", "webhooks", "list", "--account", w.cust.ID).stdout; !strings.Contains(out, cw.Webhook.ID) || strings.Contains(out, cw.Secret) {
			t.Errorf("webhooks list = %q", out)
		}
		if out := w.mustRun(t, "", "webhooks", "show", cw.Webhook.ID).stdout; !strings.Contains(out, "https://hooks.example.com/in") {
			t.Errorf("webhooks show = %q", out)
		}
		w.mustRun(t, "", "keys", "create", "--account", w.cust.ID, "--name", "hooked")
		if _, _, err := w.b.reg.EnqueueWebhookDeliveries(context.Background()); err != nil {
			t.Fatal(err)
		}
		ds := decodeJSON[[]api.WebhookDelivery](t, w.mustRun(t, "", "webhooks", "deliveries", cw.Webhook.ID, "-o", "json").stdout)
		if len(ds) != 1 || ds[0].EventType != "apikey.created" {
			t.Fatalf("webhooks deliveries = %+v, want one apikey.created", ds)
		}
		if out := w.mustRun(t, "", "webhooks", "deliveries", cw.Webhook.ID).stdout; !strings.HasPrefix(out, "ID") || !strings.Contains(out, ds[0].ID) {
			t.Errorf("webhooks deliveries table = %q", out)
		}
		if out := w.mustRun(t, "", "webhooks", "redeliver", cw.Webhook.ID, ds[0].ID).stdout; !strings.Contains(out, "queued again") {
			t.Errorf("webhooks redeliver = %q", out)
		}
		if out := w.mustRun(t, "", "webhooks", "rotate-secret", cw.Webhook.ID).stdout; !strings.Contains(out, "whsec_") || strings.Contains(out, cw.Secret) {
			t.Errorf("webhooks rotate-secret = %q", out)
		}
		file := filepath.Join(t.TempDir(), "hook.secret")
		if out := w.mustRun(t, "", "webhooks", "rotate-secret", cw.Webhook.ID, "--secret-file", file).stdout; strings.Contains(out, "whsec_") || !strings.Contains(out, file) {
			t.Errorf("webhooks rotate-secret --secret-file printed %q", out)
		}
		if b, err := os.ReadFile(file); err != nil || !strings.HasPrefix(string(b), "whsec_") {
			t.Errorf("secret file = %q, %v", b, err)
		} else if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
			t.Errorf("secret file mode %v, want 0600", fi.Mode().Perm())
		}
		w.mustRun(t, "", "webhooks", "remove", cw.Webhook.ID)
		if r := runCLI(t, w.env, "", "webhooks", "show", cw.Webhook.ID); r.code != 1 || r.stderr == "" {
			t.Errorf("show after remove: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}
