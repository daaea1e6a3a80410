package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// Webhooks (SPEC E7): the list with add and remove, and one webhook's page
// with its delivery log, redelivery and secret rotation. A new secret is
// shown once, on the webhook's page, as a new key value is (showOnce).

type webhookRow struct {
	registry.Webhook
	AccountName string
}

type webhooksData struct {
	Hooks   []webhookRow
	Account string // the account new webhooks go to ("" = the user's own)
	Types   []string
}

func (c *Console) webhooksPage(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	if !p.Holds(registry.PermViewAccount) {
		c.forbidden(w, r, sess, p, registry.PermViewAccount)
		return
	}
	ctx := r.Context()
	pg := c.base(sess, p, "Webhooks", "webhooks")
	names := map[string]string{}
	for _, a := range c.accountsOf(r, pg, p) {
		names[a.ID] = a.Name
	}
	hooks, err := c.reg.ListWebhooks(ctx, p, pg.Account)
	if err != nil {
		c.fail(w, r, sess, p, err)
		return
	}
	d := &webhooksData{Account: pg.Account, Types: append(registry.WebhookEventTypes(), "endpoint.*", "apikey.*")}
	for _, h := range hooks {
		d.Hooks = append(d.Hooks, webhookRow{Webhook: h, AccountName: names[h.AccountID]})
	}
	pg.Data = d
	c.render(w, r, http.StatusOK, "webhooks", pg)
}

func (c *Console) createWebhook(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	if err := r.ParseForm(); err != nil {
		c.done(w, r, sess, p, registry.E(registry.KindInvalid, "the form does not parse", nil), "", "/webhooks")
		return
	}
	req := registry.WebhookRequest{AccountID: r.PostFormValue("account"), URL: strings.TrimSpace(r.PostFormValue("url")),
		Events: r.PostForm["event"], Description: r.PostFormValue("description")}
	cw, err := c.reg.CreateWebhook(r.Context(), p, req, remote(r))
	if err != nil {
		c.done(w, r, sess, p, err, "", "/webhooks")
		return
	}
	c.showOnce(sess, "webhook:"+cw.Webhook.ID, "", cw.Secret)
	c.done(w, r, sess, p, nil, "Webhook added: its signing secret is below, shown once.", "/webhooks/"+url.PathEscape(cw.Webhook.ID))
}

type webhookData struct {
	Hook        registry.Webhook
	AccountName string
	Deliveries  []registry.WebhookDelivery
	Secret      *shownSecret
}

func (c *Console) webhookPage(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	id := r.PathValue("id")
	ctx := r.Context()
	h, err := c.reg.GetWebhook(ctx, p, id)
	if err != nil {
		c.fail(w, r, sess, p, err)
		return
	}
	ds, err := c.reg.ListWebhookDeliveries(ctx, p, id, 100)
	if err != nil {
		c.fail(w, r, sess, p, err)
		return
	}
	pg := c.base(sess, p, "Webhook "+h.URL, "webhooks")
	d := &webhookData{Hook: *h, AccountName: h.AccountID, Deliveries: ds}
	if a, err := c.reg.GetAccount(ctx, p, h.AccountID); err == nil {
		d.AccountName = a.Name
	}
	sess.mu.Lock()
	if sess.secret != nil && sess.secret.keyID == "webhook:"+id {
		d.Secret, sess.secret = sess.secret, nil
	}
	sess.mu.Unlock()
	pg.Data = d
	c.render(w, r, http.StatusOK, "webhook", pg)
}

func (c *Console) removeWebhook(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	id := r.PathValue("id")
	if r.PostFormValue("confirm") != "yes" {
		c.confirmPage(w, r, sess, p, "Confirm: remove webhook", "Remove this webhook? Deliveries not yet made are dropped with its log.",
			"Remove", "/webhooks")
		return
	}
	err := c.reg.DeleteWebhook(r.Context(), p, id, remote(r))
	c.done(w, r, sess, p, err, "Webhook removed.", "/webhooks")
}

func (c *Console) rotateWebhook(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	id := r.PathValue("id")
	back := "/webhooks/" + url.PathEscape(id)
	if r.PostFormValue("confirm") != "yes" {
		c.confirmPage(w, r, sess, p, "Confirm: new secret", "Give this webhook a new signing secret? Deliveries from now on "+
			"are signed with it; the receiver needs it at once.", "Rotate secret", back)
		return
	}
	cw, err := c.reg.RotateWebhookSecret(r.Context(), p, id, remote(r))
	if err == nil {
		c.showOnce(sess, "webhook:"+id, "", cw.Secret)
	}
	c.done(w, r, sess, p, err, "New secret made: it is below, shown once.", back)
}

func (c *Console) redeliverWebhook(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	id := r.PathValue("id")
	_, err := c.reg.RedeliverWebhook(r.Context(), p, id, r.PathValue("delivery"), remote(r))
	c.done(w, r, sess, p, err, "Delivery queued again.", "/webhooks/"+url.PathEscape(id))
}
