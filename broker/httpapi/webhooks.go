package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// Webhooks (SPEC E7): configuration and the delivery log. The signing
// secret is in the answers to a creation and a rotation only.

func (a *API) createWebhook(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.WebhookRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	cw, err := a.reg.CreateWebhook(r.Context(), p, registry.WebhookRequest{AccountID: req.AccountID, URL: req.URL,
		Events: req.Events, Description: req.Description}, remote(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, api.CreatedWebhook{Webhook: webhookOut(&cw.Webhook, a.webhookNames(r, p, cw.Webhook)), Secret: cw.Secret})
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	hooks, err := a.reg.ListWebhooks(r.Context(), p, r.URL.Query().Get("account_id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	n := a.webhookNames(r, p, hooks...)
	out := make([]api.Webhook, 0, len(hooks))
	for i := range hooks {
		out = append(out, webhookOut(&hooks[i], n))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getWebhook(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	wh, err := a.reg.GetWebhook(r.Context(), p, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, webhookOut(wh, a.webhookNames(r, p, *wh)))
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	if err := a.reg.DeleteWebhook(r.Context(), p, r.PathValue("id"), remote(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) rotateWebhookSecret(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	cw, err := a.reg.RotateWebhookSecret(r.Context(), p, r.PathValue("id"), remote(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.CreatedWebhook{Webhook: webhookOut(&cw.Webhook, a.webhookNames(r, p, cw.Webhook)), Secret: cw.Secret})
}

func (a *API) listWebhookDeliveries(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	limit := 0
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			a.writeError(w, r, registry.E(registry.KindInvalid, "limit must be a number from 1 to 500", nil))
			return
		}
		limit = n
	}
	ds, err := a.reg.ListWebhookDeliveries(r.Context(), p, r.PathValue("id"), limit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]api.WebhookDelivery, 0, len(ds))
	for i := range ds {
		out = append(out, deliveryOut(&ds[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) redeliverWebhook(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	d, err := a.reg.RedeliverWebhook(r.Context(), p, r.PathValue("id"), r.PathValue("delivery_id"), remote(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, deliveryOut(d))
}

func (a *API) webhookNames(r *http.Request, p *registry.Principal, hooks ...registry.Webhook) *registry.Names {
	var q registry.NameQuery
	for _, h := range hooks {
		q.Accounts = append(q.Accounts, h.AccountID)
	}
	return a.names(r, p, q)
}

func webhookOut(w *registry.Webhook, n *registry.Names) api.Webhook {
	return api.Webhook{ID: w.ID, AccountID: w.AccountID, AccountName: n.Account(w.AccountID), URL: w.URL,
		Events: append([]string{}, w.Events...), Description: w.Description, CreatedBy: w.CreatedBy,
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
}

func deliveryOut(d *registry.WebhookDelivery) api.WebhookDelivery {
	out := api.WebhookDelivery{ID: d.ID, WebhookID: d.WebhookID, EventType: d.EventType, State: d.State,
		Attempts: d.Attempts, CreatedAt: d.CreatedAt, LastAttemptAt: timePtr(d.LastAttemptAt), LastStatus: d.LastStatus,
		LastError: d.LastError, DeliveredAt: timePtr(d.DeliveredAt), Payload: json.RawMessage(d.Payload)}
	if d.State == registry.DeliveryPending {
		out.NextAttemptAt = timePtr(d.NextAttemptAt)
	}
	if !json.Valid(out.Payload) {
		out.Payload = json.RawMessage("null")
	}
	return out
}
