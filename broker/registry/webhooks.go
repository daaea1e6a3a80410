package registry

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Webhooks (SPEC E7): an account's administrators configure URLs that the
// events of the account and of the accounts below it are POSTed to, signed
// with a secret shown once. This file is the configuration (permission
// checked, audited); webhook_outbox.go turns the change feed into
// deliveries and hands them to the delivery worker (broker/webhook), which
// holds the HTTP client, the SSRF guard and the signing.

// Webhook is one configured URL of an account.
type Webhook struct {
	ID          string
	AccountID   string
	URL         string
	Events      []string // event types; "endpoint.*", "apikey.*" keep a family
	Description string
	// SealedSecret is the signing secret as the SecretSealer sealed it
	// (bound to the webhook's id); the clear secret is never stored.
	SealedSecret []byte
	CreatedBy    string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Delivery states.
const (
	DeliveryPending   = "pending"   // waiting for its (next) attempt
	DeliveryDelivered = "delivered" // a 2xx answer was received
	DeliveryFailed    = "failed"    // given up on (retried for a day); redeliver queues it again
)

// WebhookDelivery is one event for one webhook: the outbox row and its
// entry in the delivery log.
type WebhookDelivery struct {
	// ID is the webhook-id header, the same on every attempt and on a
	// redelivery, so a receiver drops duplicates by it.
	ID        string
	WebhookID string
	AccountID string // the webhook's account
	EventType string
	// Payload is the exact body signed and sent.
	Payload   []byte
	CreatedAt time.Time
	// QueuedAt starts the retry window: CreatedAt, or the last redelivery.
	QueuedAt      time.Time
	State         string
	Attempts      int
	NextAttemptAt time.Time
	// LeaseOwner and LeaseUntil: the worker that claimed the delivery, and
	// until when no other worker may (ClaimWebhookDeliveries).
	LeaseOwner    string
	LeaseUntil    time.Time
	LastAttemptAt time.Time
	LastStatus    int    // the last answer's HTTP status (0 = none)
	LastError     string // why the last attempt failed ("" = it did not)
	DeliveredAt   time.Time
}

// WebhookTx keeps webhooks and their deliveries.
type WebhookTx interface {
	CreateWebhook(w *Webhook) error // ErrConflict on a duplicate id
	GetWebhook(id string) (*Webhook, error)
	// ListWebhooks lists one account's webhooks ("" = every account's),
	// ordered by CreatedAt, then ID.
	ListWebhooks(accountID string) ([]Webhook, error)
	// UpdateWebhook replaces URL, Events, Description, SealedSecret and
	// UpdatedAt. ErrNotFound when missing.
	UpdateWebhook(w *Webhook) error
	// DeleteWebhook deletes a webhook and its deliveries. ErrNotFound when
	// missing.
	DeleteWebhook(id string) error
	// CreateWebhookDelivery adds a delivery; ErrConflict on a duplicate id,
	// ErrNotFound when its webhook is missing.
	CreateWebhookDelivery(d *WebhookDelivery) error
	GetWebhookDelivery(id string) (*WebhookDelivery, error)
	// ListWebhookDeliveries lists a webhook's deliveries newest first (by
	// CreatedAt, then ID, descending), at most limit (<= 0: all).
	ListWebhookDeliveries(webhookID string, limit int) ([]WebhookDelivery, error)
	// ClaimWebhookDeliveries leases to owner, until `until`, up to limit
	// pending deliveries due at `now` (NextAttemptAt <= now) whose lease is
	// free (none, or ended by now), in one conditional update, and returns
	// them ordered by NextAttemptAt, then ID. Workers sharing a database
	// never claim the same delivery while its lease holds (PostgreSQL: FOR
	// UPDATE SKIP LOCKED).
	ClaimWebhookDeliveries(owner string, now, until time.Time, limit int) ([]WebhookDelivery, error)
	// AnyWebhookDeliveryDue reports whether ClaimWebhookDeliveries at now
	// would claim something (a read: workers poll with it, and write only
	// when there is work).
	AnyWebhookDeliveryDue(now time.Time) (bool, error)
	// SaveWebhookDelivery replaces State, Attempts, NextAttemptAt,
	// QueuedAt, LeaseOwner, LeaseUntil, LastAttemptAt, LastStatus,
	// LastError and DeliveredAt. With owner != "" it does so only while
	// the delivery's lease is owner's (ErrConflict otherwise: another
	// worker took it over). ErrNotFound when missing.
	SaveWebhookDelivery(d *WebhookDelivery, owner string) error
	// PurgeWebhookDeliveries deletes the deliveries no longer pending
	// (delivered or failed) queued before `before`, and returns how many.
	PurgeWebhookDeliveries(before time.Time) (int, error)
}

// SecretSealer seals webhook signing secrets before they reach the store
// and opens them for the delivery worker (broker/webhook: AES-GCM with a
// key in DATA_DIR/keys, or one derived from the cluster key). aad binds a
// sealed secret to its webhook: one cannot be moved to another.
type SecretSealer interface {
	Seal(plain, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// WebhookSecretPrefix starts a signing secret (the Standard Webhooks
// form): whsec_ and the base64 of 32 random bytes, the HMAC key.
const WebhookSecretPrefix = "whsec_"

// maxWebhooks bounds the webhooks of one account: each one multiplies
// the deliveries every change queues.
const maxWebhooks = 20

// webhookEventTypes are the types a webhook may subscribe to: the events
// of the change feed (the clone warning among them).
var webhookEventTypes = slices.Clone(eventTypes)

// WebhookEventTypes returns the event types a webhook may subscribe to.
func WebhookEventTypes() []string { return slices.Clone(webhookEventTypes) }

// WebhookRequest configures a webhook.
type WebhookRequest struct {
	AccountID   string // "" = the caller's own
	URL         string
	Events      []string // at least one; "endpoint.*" and "apikey.*" keep a family
	Description string
}

// CreatedWebhook is a webhook with its signing secret, which is shown
// only here (at creation and on rotation).
type CreatedWebhook struct {
	Webhook Webhook
	Secret  string
}

// checkWebhookEvents checks a subscription's types (KindInvalid).
func checkWebhookEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, E(KindInvalid, "name at least one event type: "+strings.Join(webhookEventTypes, ", ")+", or endpoint.* or apikey.*", nil)
	}
	var out []string
	for _, t := range events {
		t = strings.TrimSpace(t)
		prefix, wild := strings.CutSuffix(t, ".*")
		known := slices.Contains(webhookEventTypes, t) ||
			wild && slices.ContainsFunc(webhookEventTypes, func(e string) bool { return strings.HasPrefix(e, prefix+".") })
		if !known {
			return nil, E(KindInvalid, "unknown event type "+fmt.Sprintf("%q", t)+": use one of "+strings.Join(webhookEventTypes, ", ")+", or endpoint.* or apikey.*", nil)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// webhookKeeps reports whether a webhook subscribed to typ.
func webhookKeeps(w *Webhook, typ string) bool {
	f := ChangeFilter{Types: w.Events}
	return len(w.Events) > 0 && f.keeps(typ)
}

// checkWebhookURL checks what the registry can know of a URL: https, a
// host, no credentials (they would be shown to every viewer). Where it
// may point (no loopback or private address) is the delivery worker's
// check too, at dial time (Config.CheckWebhookURL at configuration).
func (r *Registry) checkWebhookURL(s string) error {
	const how = "give an https:// URL with a host, e.g. https://hooks.example.com/edgetrust"
	if len(s) > 2048 || strings.ContainsFunc(s, isControl) {
		return E(KindInvalid, "a webhook URL is at most 2048 bytes without control characters", nil)
	}
	u, err := url.Parse(s)
	if err != nil {
		return E(KindInvalid, "the webhook URL does not parse: "+how, nil)
	}
	if u.Scheme != "https" {
		return E(KindInvalid, "a webhook URL must use https: "+how, nil)
	}
	if u.Hostname() == "" {
		return E(KindInvalid, "the webhook URL names no host: "+how, nil)
	}
	if u.User != nil {
		return E(KindInvalid, "a webhook URL may not hold a user name or password: the signature authenticates the broker", nil)
	}
	if u.Fragment != "" {
		return E(KindInvalid, "a webhook URL has no #fragment", nil)
	}
	if r.checkURL != nil {
		if err := r.checkURL(s); err != nil {
			return E(KindInvalid, "the webhook URL is refused: "+err.Error(), nil)
		}
	}
	return nil
}

// newWebhookSecret returns a new signing secret and its sealed form.
func (r *Registry) newWebhookSecret(webhookID string) (string, []byte, error) {
	if r.sealer == nil {
		return "", nil, E(KindUnavailable, "this broker has no key to seal webhook secrets; ask its operator", nil)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", nil, internal("making a webhook secret", err)
	}
	secret := WebhookSecretPrefix + base64.StdEncoding.EncodeToString(key)
	sealed, err := r.sealer.Seal([]byte(secret), []byte(webhookID))
	if err != nil {
		return "", nil, internal("sealing a webhook secret", err)
	}
	return secret, sealed, nil
}

// webhookHost is what the audit names of a URL: its host, never its path
// or query (a receiver may have put a token there).
func webhookHost(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Host
	}
	return ""
}

// CreateWebhook configures a webhook at an account and returns it with
// its signing secret (shown only now). p needs ModifyAccount there, and
// to subscribe to endpoint events ViewEndpoint, to apikey.* events
// ViewApiKey: a webhook shows no more than its creator may see. Errors:
// KindInvalid, KindNotFound, KindPermission, KindQuota, KindUnavailable
// (no sealing key).
func (r *Registry) CreateWebhook(ctx context.Context, p *Principal, req WebhookRequest, remote netip.Addr) (*CreatedWebhook, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	events, err := checkWebhookEvents(req.Events)
	if err != nil {
		return nil, err
	}
	req.URL = strings.TrimSpace(req.URL)
	if err := r.checkWebhookURL(req.URL); err != nil {
		return nil, err
	}
	if err := checkText("a description", req.Description, 1024); err != nil {
		return nil, err
	}
	if req.AccountID == "" {
		req.AccountID = p.AccountID
	}
	now := r.now()
	w := Webhook{ID: newID(), AccountID: req.AccountID, URL: req.URL, Events: events, Description: req.Description,
		CreatedBy: p.Actor(), CreatedAt: now, UpdatedAt: now}
	secret, sealed, err := r.newWebhookSecret(w.ID)
	if err != nil {
		return nil, err
	}
	w.SealedSecret = sealed
	err = r.store.Update(ctx, func(tx Tx) error {
		chain, err := authorizedChain(tx, p, PermModifyAccount, w.AccountID)
		if err != nil {
			return err
		}
		for _, t := range events {
			perm := PermViewEndpoint
			if strings.HasPrefix(t, "apikey.") {
				perm = PermViewAPIKey
			}
			if err := p.check(chain, perm); err != nil {
				return E(KindPermission, "you cannot subscribe to "+t+": you lack the "+string(perm)+" permission for this account", nil)
			}
		}
		existing, err := tx.ListWebhooks(w.AccountID)
		if err != nil {
			return internal("listing webhooks", err)
		}
		if len(existing) >= maxWebhooks {
			return E(KindQuota, fmt.Sprintf("an account has at most %d webhooks; remove one first", maxWebhooks), nil)
		}
		all, err := tx.ListWebhooks("")
		if err != nil {
			return internal("listing webhooks", err)
		}
		if err := startWebhookCursor(tx, len(all) == 0); err != nil {
			return err
		}
		if err := tx.CreateWebhook(&w); err != nil {
			return internal("creating webhook", err)
		}
		return audit(tx, now, p.Actor(), "webhook.create", w.AccountID, "webhook:"+w.ID, OutcomeSuccess, remote,
			map[string]string{"host": webhookHost(w.URL), "events": strings.Join(events, ",")})
	})
	if err != nil {
		r.auditDenied(ctx, p, "webhook.create", "account:"+w.AccountID, remote, err)
		return nil, err
	}
	w.SealedSecret = nil
	return &CreatedWebhook{Webhook: w, Secret: secret}, nil
}

// webhookFor reads a webhook and checks p holds perm at its account; one p
// cannot see answers KindNotFound like one that does not exist.
func webhookFor(tx Tx, p *Principal, perm Permission, id string) (*Webhook, error) {
	w, err := tx.GetWebhook(id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, E(KindNotFound, "no webhook "+id, nil)
		}
		return nil, internal("reading webhook", err)
	}
	if err := authorize(tx, p, perm, w.AccountID); err != nil {
		if KindOf(err) == KindNotFound {
			return nil, E(KindNotFound, "no webhook "+id, nil)
		}
		return nil, err
	}
	w.SealedSecret = nil
	return w, nil
}

// ListWebhooks lists the webhooks of an account ("" = of every account
// where p holds ViewAccount), ordered by account, then creation. Secrets
// are never listed. Errors: KindNotFound, KindPermission.
func (r *Registry) ListWebhooks(ctx context.Context, p *Principal, accountID string) ([]Webhook, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	var out []Webhook
	err := r.store.View(ctx, func(tx Tx) error {
		out = nil
		var accounts []string
		if accountID != "" {
			if err := authorize(tx, p, PermViewAccount, accountID); err != nil {
				return err
			}
			accounts = []string{accountID}
		} else {
			as, err := visibleAccounts(tx, p, PermViewAccount)
			if err != nil {
				return err
			}
			for _, a := range as {
				accounts = append(accounts, a.ID)
			}
		}
		for _, id := range accounts {
			ws, err := tx.ListWebhooks(id)
			if err != nil {
				return internal("listing webhooks", err)
			}
			for i := range ws {
				ws[i].SealedSecret = nil
			}
			out = append(out, ws...)
		}
		return nil
	})
	return out, err
}

// GetWebhook returns one webhook (ViewAccount at its account), without
// its secret. Errors: KindNotFound, KindPermission.
func (r *Registry) GetWebhook(ctx context.Context, p *Principal, id string) (*Webhook, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	var out *Webhook
	err := r.store.View(ctx, func(tx Tx) error {
		var err error
		out, err = webhookFor(tx, p, PermViewAccount, id)
		return err
	})
	return out, err
}

// DeleteWebhook removes a webhook and its deliveries (ModifyAccount at its
// account); deliveries not yet made are dropped. Errors: KindNotFound,
// KindPermission.
func (r *Registry) DeleteWebhook(ctx context.Context, p *Principal, id string, remote netip.Addr) error {
	if p == nil {
		return E(KindUnauthenticated, "sign in first", nil)
	}
	now := r.now()
	err := r.store.Update(ctx, func(tx Tx) error {
		w, err := webhookFor(tx, p, PermModifyAccount, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteWebhook(id); err != nil {
			return internal("deleting webhook", err)
		}
		return audit(tx, now, p.Actor(), "webhook.delete", w.AccountID, "webhook:"+id, OutcomeSuccess, remote,
			map[string]string{"host": webhookHost(w.URL)})
	})
	if err != nil {
		r.auditDenied(ctx, p, "webhook.delete", "webhook:"+id, remote, err)
	}
	return err
}

// RotateWebhookSecret gives a webhook a new signing secret and returns it
// (shown only now); deliveries from now on are signed with it.
// ModifyAccount at its account. Errors: KindNotFound, KindPermission.
func (r *Registry) RotateWebhookSecret(ctx context.Context, p *Principal, id string, remote netip.Addr) (*CreatedWebhook, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	now := r.now()
	secret, sealed, err := r.newWebhookSecret(id)
	if err != nil {
		return nil, err
	}
	var out *CreatedWebhook
	err = r.store.Update(ctx, func(tx Tx) error {
		out = nil
		w, err := webhookFor(tx, p, PermModifyAccount, id)
		if err != nil {
			return err
		}
		w.SealedSecret, w.UpdatedAt = sealed, now
		if err := tx.UpdateWebhook(w); err != nil {
			return internal("updating webhook", err)
		}
		w.SealedSecret = nil
		out = &CreatedWebhook{Webhook: *w, Secret: secret}
		return audit(tx, now, p.Actor(), "webhook.rotate_secret", w.AccountID, "webhook:"+id, OutcomeSuccess, remote, nil)
	})
	if err != nil {
		r.auditDenied(ctx, p, "webhook.rotate_secret", "webhook:"+id, remote, err)
		return nil, err
	}
	return out, nil
}

// ListWebhookDeliveries returns a webhook's delivery log, newest first, at
// most limit (<= 0 or over 500: 100). ViewAccount at its account. Errors:
// KindNotFound, KindPermission.
func (r *Registry) ListWebhookDeliveries(ctx context.Context, p *Principal, webhookID string, limit int) ([]WebhookDelivery, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	var out []WebhookDelivery
	err := r.store.View(ctx, func(tx Tx) error {
		if _, err := webhookFor(tx, p, PermViewAccount, webhookID); err != nil {
			return err
		}
		var err error
		if out, err = tx.ListWebhookDeliveries(webhookID, limit); err != nil {
			return internal("listing webhook deliveries", err)
		}
		return nil
	})
	return out, err
}

// RedeliverWebhook queues a delivery of a webhook again, now, with the same id and
// body (a receiver that saw it drops it by its webhook-id) and a new day
// of retries. ModifyAccount at its webhook's account. Errors:
// KindNotFound, KindPermission, KindConflict (a worker is attempting it).
func (r *Registry) RedeliverWebhook(ctx context.Context, p *Principal, webhookID, deliveryID string, remote netip.Addr) (*WebhookDelivery, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	now := r.now()
	var out *WebhookDelivery
	err := r.store.Update(ctx, func(tx Tx) error {
		out = nil
		d, err := tx.GetWebhookDelivery(deliveryID)
		if err == nil && d.WebhookID != webhookID {
			err = ErrNotFound
		}
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return E(KindNotFound, "no webhook delivery "+deliveryID, nil)
			}
			return internal("reading webhook delivery", err)
		}
		if _, err := webhookFor(tx, p, PermModifyAccount, d.WebhookID); err != nil {
			if KindOf(err) == KindNotFound {
				return E(KindNotFound, "no webhook delivery "+deliveryID, nil)
			}
			return err
		}
		if d.LeaseOwner != "" && d.LeaseUntil.After(now) {
			return E(KindConflict, "this delivery is being attempted now; look at the log again in a minute", nil)
		}
		d.State, d.Attempts, d.NextAttemptAt, d.QueuedAt = DeliveryPending, 0, now, now
		d.LeaseOwner, d.LeaseUntil = "", time.Time{}
		if err := tx.SaveWebhookDelivery(d, ""); err != nil {
			return internal("queueing webhook delivery", err)
		}
		out = d
		return audit(tx, now, p.Actor(), "webhook.redeliver", d.AccountID, "webhook:"+d.WebhookID, OutcomeSuccess, remote,
			map[string]string{"delivery_id": d.ID, "type": d.EventType})
	})
	if err != nil {
		r.auditDenied(ctx, p, "webhook.redeliver", "webhook_delivery:"+deliveryID, remote, err)
		return nil, err
	}
	r.wakeWebhooks()
	return out, nil
}
