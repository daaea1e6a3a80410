package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserWebhooks: add a webhook (its secret shown once), see a
// delivery in its log, redeliver it, and remove the webhook, confirmed.
func TestBrowserWebhooks(t *testing.T) {
	e := shared(t)
	ctx := tab(t, e)
	signIn(t, ctx, e, "admin", adminPassword)
	url := "https://hooks.invalid/console-" + time.Now().Format("150405.000")
	do(t, ctx, "adding a webhook",
		chromedp.Navigate(e.base+"/webhooks"),
		chromedp.WaitVisible(chromedp.ID("wh-url")),
		chromedp.SendKeys(chromedp.ID("wh-url"), url),
		chromedp.Click(chromedp.CSS(`input[name="event"][value="apikey.created"]`)),
		chromedp.Click(chromedp.ID("add-webhook")),
		chromedp.WaitVisible(chromedp.ID("secret-value")))
	secret := eval[string](t, ctx, `document.getElementById("secret-value").value`)
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("the page shows %q, want a whsec_ secret", secret)
	}
	page := eval[string](t, ctx, `location.pathname`)
	shot(t, ctx, "webhook-added")
	do(t, ctx, "reloading", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("rotate-secret")))
	if strings.Contains(eval[string](t, ctx, `document.documentElement.outerHTML`), secret) {
		t.Fatal("the reloaded page holds the secret")
	}

	e.newKey(t, nil) // apikey.created: one delivery (to a name that never resolves)
	deadline := time.Now().Add(30 * time.Second)
	for !eval[bool](t, ctx, `document.querySelector("#deliveries-table button.redeliver") !== null`) {
		if time.Now().After(deadline) {
			shot(t, ctx, "failed")
			t.Fatal("no delivery in the log")
		}
		time.Sleep(100 * time.Millisecond)
		do(t, ctx, "reloading", chromedp.Navigate(e.base+page), chromedp.WaitVisible(chromedp.ID("rotate-secret")))
	}
	waitText(t, ctx, "#deliveries-table", "apikey.created")
	shot(t, ctx, "webhook-deliveries")
	do(t, ctx, "redelivering", chromedp.Click(chromedp.CSS("#deliveries-table button.redeliver")), chromedp.WaitVisible(chromedp.ID("rotate-secret")))
	waitText(t, ctx, "body", "Delivery queued again.")

	do(t, ctx, "removing",
		chromedp.Navigate(e.base+"/webhooks"),
		chromedp.WaitVisible(chromedp.ID("webhooks-table")),
		chromedp.Click(chromedp.CSS(`button[aria-label="Remove webhook `+url+`"]`)),
		chromedp.WaitVisible(chromedp.ID("confirm")),
		chromedp.Click(chromedp.ID("confirm")),
		chromedp.WaitVisible(chromedp.ID("wh-url")))
	waitText(t, ctx, "body", "Webhook removed.")
	if strings.Contains(eval[string](t, ctx, `document.body.textContent`), url) {
		t.Error("the removed webhook is still listed")
	}
}
