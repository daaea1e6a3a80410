package registry

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The webhook outbox. Deliveries are rows of the store, made from the
// change feed (changes.go) in the transaction that advances the outbox's
// cursor (Meta webhookCursorKey): a change is turned into its deliveries
// exactly once, whichever broker does it, and a broker that stops between
// enqueue and delivery loses nothing: the next worker claims the row.
// Workers (broker/webhook) claim due deliveries under a lease, send them
// outside any transaction, and record each attempt; a delivery is made at
// least once, and its id (the webhook-id header) lets a receiver drop the
// repeats.

// webhookCursorKey is the Meta key of the outbox's change cursor.
const webhookCursorKey = "webhook.cursor"

// enqueueChanges bounds the events one EnqueueWebhookDeliveries turns into
// deliveries.
const enqueueChanges = 500

// startWebhookCursor sets the outbox's cursor to the end of the change
// feed if it has none, or if no webhook exists (fresh: the cursor is not
// advanced while there is none): webhooks see the changes that commit
// after the first of them is configured, not the whole history.
func startWebhookCursor(tx Tx, fresh bool) error {
	if _, err := tx.GetMeta(webhookCursorKey); err == nil && !fresh {
		return nil
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return internal("reading the webhook cursor", err)
	}
	c, err := tx.LastChangeCursor()
	if err != nil {
		return internal("reading the end of the change feed", err)
	}
	if err := tx.SetMeta(webhookCursorKey, strconv.FormatInt(int64(c), 10)); err != nil {
		return internal("setting the webhook cursor", err)
	}
	return nil
}

// WebhookPayload is the JSON body of a delivery (the Standard Webhooks
// shape: type, timestamp, data).
type WebhookPayload struct {
	Type      string      `json:"type"`
	Timestamp string      `json:"timestamp"` // RFC 3339, UTC
	Data      WebhookData `json:"data"`
}

// WebhookData is what a delivery tells of its event. It holds no secret.
type WebhookData struct {
	AccountID  string `json:"account_id"`
	EndpointID string `json:"endpoint_id,omitempty"`
	State      string `json:"state,omitempty"`
	KeyID      string `json:"key_id,omitempty"`
	// ValueID and ExpiresAt: for apikey.expiring, the value about to
	// expire (none: the key itself) and when (RFC 3339).
	ValueID   string `json:"value_id,omitempty"`
	ExpiresAt string `json:"expires_at,omitempty"`
}

// newDeliveryID returns a delivery's id, the webhook-id header.
func newDeliveryID() string { return "msg_" + strings.ReplaceAll(newID(), "-", "") }

// EnqueueWebhookDeliveries turns the changes committed since the outbox's
// cursor into deliveries, one per webhook that subscribed to the event's
// type at its account or above (and existed when it happened), and
// advances the cursor in the same transaction. It returns how many it
// queued, and whether it read a full batch (call again at once).
func (r *Registry) EnqueueWebhookDeliveries(ctx context.Context) (queued int, more bool, err error) {
	now := r.now()
	// No webhook anywhere (most brokers): no write at all. The cursor
	// stays behind; CreateWebhook moves it to the end when it configures
	// the first webhook.
	var none bool
	if err := r.store.View(ctx, func(tx Tx) error {
		hooks, err := tx.ListWebhooks("")
		none = len(hooks) == 0
		return err
	}); err != nil {
		return 0, false, internal("listing webhooks", err)
	}
	if none {
		return 0, false, nil
	}
	err = r.store.Update(ctx, func(tx Tx) error {
		queued, more = 0, false
		raw, err := tx.GetMeta(webhookCursorKey)
		if errors.Is(err, ErrNotFound) {
			return startWebhookCursor(tx, false)
		}
		if err != nil {
			return internal("reading the webhook cursor", err)
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return internal("reading the webhook cursor", err)
		}
		after := ChangeCursor(n)
		hooks, err := tx.ListWebhooks("")
		if err != nil {
			return internal("listing webhooks", err)
		}
		changes, next, err := readChanges(tx, after, enqueueChanges, func(Event) (bool, error) { return true, nil })
		if err != nil {
			return err
		}
		more = len(changes) == enqueueChanges
		if len(changes) > 0 && len(hooks) > 0 {
			chains := map[string][]string{}
			if err := forEachAccount(tx, func(a *Account, chain []string) { chains[a.ID] = chain }); err != nil {
				return err
			}
			for _, c := range changes {
				for i := range hooks {
					w := &hooks[i]
					if !webhookKeeps(w, c.Event.Type) || c.Event.At.Before(w.CreatedAt) ||
						!slices.Contains(chains[c.Event.AccountID], w.AccountID) {
						continue
					}
					data := WebhookData{AccountID: c.Event.AccountID, EndpointID: c.Event.EndpointID, State: string(c.Event.State),
						KeyID: c.KeyID, ValueID: c.ValueID}
					if !c.ExpiresAt.IsZero() {
						data.ExpiresAt = c.ExpiresAt.UTC().Format(time.RFC3339)
					}
					body, err := json.Marshal(WebhookPayload{Type: c.Event.Type, Timestamp: c.Event.At.UTC().Format(time.RFC3339Nano), Data: data})
					if err != nil {
						return internal("encoding a webhook payload", err)
					}
					d := WebhookDelivery{ID: newDeliveryID(), WebhookID: w.ID, AccountID: w.AccountID, EventType: c.Event.Type,
						Payload: body, CreatedAt: now, QueuedAt: now, State: DeliveryPending, NextAttemptAt: now}
					if err := tx.CreateWebhookDelivery(&d); err != nil {
						return internal("queueing a webhook delivery", err)
					}
					queued++
				}
			}
		}
		if next == after {
			return nil
		}
		if err := tx.SetMeta(webhookCursorKey, strconv.FormatInt(int64(next), 10)); err != nil {
			return internal("advancing the webhook cursor", err)
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return queued, more, nil
}

// unopenableSecret is the delivery log's error for a webhook whose secret
// this broker's key cannot open.
const unopenableSecret = "the webhook's secret cannot be opened with this broker's key (restored without DATA_DIR/keys, or another cluster key): rotate the secret, then redeliver"

// DueDelivery is a claimed delivery with what sending it takes.
type DueDelivery struct {
	Delivery WebhookDelivery
	URL      string
	// Secret is the webhook's signing secret (whsec_…), opened for the
	// worker. It never goes into a log or an error.
	Secret string
}

// ClaimWebhookDeliveries leases up to limit due deliveries to owner for
// lease, and returns them with their URLs and secrets. A worker that
// dies with a lease leaves the delivery to another once the lease ends.
func (r *Registry) ClaimWebhookDeliveries(ctx context.Context, owner string, lease time.Duration, limit int) ([]DueDelivery, error) {
	if r.sealer == nil {
		return nil, nil
	}
	now := r.now()
	var due bool
	if err := r.store.View(ctx, func(tx Tx) error {
		var err error
		due, err = tx.AnyWebhookDeliveryDue(now)
		return err
	}); err != nil {
		return nil, internal("looking for due webhook deliveries", err)
	}
	if !due {
		return nil, nil
	}
	var out []DueDelivery
	err := r.store.Update(ctx, func(tx Tx) error {
		out = nil
		ds, err := tx.ClaimWebhookDeliveries(owner, now, now.Add(lease), limit)
		if err != nil {
			return internal("claiming webhook deliveries", err)
		}
		hooks := map[string]*Webhook{}
		for _, d := range ds {
			w, ok := hooks[d.WebhookID]
			if !ok {
				if w, err = tx.GetWebhook(d.WebhookID); err != nil {
					return internal("reading webhook", err)
				}
				hooks[d.WebhookID] = w
			}
			secret, err := r.sealer.Open(w.SealedSecret, []byte(w.ID))
			if err != nil {
				// Sealed with another key (a data directory restored
				// without its keys/): no attempt can succeed until the
				// secret is rotated. The delivery fails now, saying so,
				// rather than holding up every other one.
				d.State, d.LastError, d.LastAttemptAt = DeliveryFailed, unopenableSecret, now
				d.LeaseOwner, d.LeaseUntil, d.NextAttemptAt = "", time.Time{}, time.Time{}
				if err := tx.SaveWebhookDelivery(&d, owner); err != nil {
					return internal("failing a webhook delivery", err)
				}
				continue
			}
			out = append(out, DueDelivery{Delivery: d, URL: w.URL, Secret: string(secret)})
		}
		return nil
	})
	return out, err
}

// WebhookAttempt is the outcome of one attempt at a delivery.
type WebhookAttempt struct {
	Status    int    // the HTTP status answered (0 = none)
	Error     string // why it failed ("" when delivered); no secret
	Delivered bool
	// RetryAt is when to try again; zero gives up (DeliveryFailed).
	RetryAt time.Time
}

// maxDeliveryError bounds the error kept in the delivery log.
const maxDeliveryError = 300

// RecordWebhookAttempt records an attempt at a delivery owner claimed and
// releases its lease. It returns a KindConflict error when the lease was
// lost (the delivery is another worker's now; nothing is recorded).
func (r *Registry) RecordWebhookAttempt(ctx context.Context, owner string, d WebhookDelivery, a WebhookAttempt) error {
	now := r.now()
	d.Attempts++
	d.LastAttemptAt, d.LastStatus, d.LastError = now, a.Status, a.Error
	if len(d.LastError) > maxDeliveryError {
		d.LastError = d.LastError[:maxDeliveryError]
	}
	d.LeaseOwner, d.LeaseUntil = "", time.Time{}
	switch {
	case a.Delivered:
		d.State, d.DeliveredAt, d.NextAttemptAt, d.LastError = DeliveryDelivered, now, time.Time{}, ""
	case a.RetryAt.IsZero():
		d.State, d.NextAttemptAt = DeliveryFailed, time.Time{}
	default:
		d.State, d.NextAttemptAt = DeliveryPending, a.RetryAt
	}
	err := r.store.Update(ctx, func(tx Tx) error {
		err := tx.SaveWebhookDelivery(&d, owner)
		switch {
		case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
			return E(KindConflict, "the delivery's lease was lost", err)
		case err != nil:
			return internal("recording a webhook attempt", err)
		}
		return nil
	})
	return err
}

// WebhookWake is signalled when a delivery was queued by hand
// (redelivery): the worker need not wait for its next poll.
func (r *Registry) WebhookWake() <-chan struct{} { return r.webhookWake }

func (r *Registry) wakeWebhooks() {
	select {
	case r.webhookWake <- struct{}{}:
	default:
	}
}
