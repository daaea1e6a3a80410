package postgres

import (
	"fmt"
	"slices"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// --- Webhooks (SPEC E7) ---

const webhookCols = `id, account_id, url, events, description, sealed_secret, created_by, created_at, updated_at`

func scanWebhook(r rowScanner) (registry.Webhook, error) {
	var w registry.Webhook
	err := r.Scan(&w.ID, &w.AccountID, &w.URL, scanJSON{P: &w.Events}, &w.Description, scanBlob{P: &w.SealedSecret},
		&w.CreatedBy, scanTime{P: &w.CreatedAt}, scanTime{P: &w.UpdatedAt})
	return w, err
}

func (t *tx) CreateWebhook(w *registry.Webhook) error {
	return t.insert("webhook", w.ID, `INSERT INTO webhooks (`+webhookCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		w.ID, w.AccountID, w.URL, jsonText{V: w.Events}, w.Description, w.SealedSecret, w.CreatedBy,
		nanos(w.CreatedAt), nanos(w.UpdatedAt))
}

func (t *tx) GetWebhook(id string) (*registry.Webhook, error) {
	return getOne(t, "webhook", id, scanWebhook, `SELECT `+webhookCols+` FROM webhooks WHERE id = $1`, id)
}

func (t *tx) ListWebhooks(accountID string) ([]registry.Webhook, error) {
	if accountID == "" {
		return list(t, "webhooks", scanWebhook, `SELECT `+webhookCols+` FROM webhooks ORDER BY created_at NULLS FIRST, id`)
	}
	return list(t, "webhooks", scanWebhook,
		`SELECT `+webhookCols+` FROM webhooks WHERE account_id = $1 ORDER BY created_at NULLS FIRST, id`, accountID)
}

func (t *tx) UpdateWebhook(w *registry.Webhook) error {
	return t.execOne("updating webhook", w.ID, `UPDATE webhooks SET url = $1, events = $2, description = $3,
		sealed_secret = $4, updated_at = $5 WHERE id = $6`,
		w.URL, jsonText{V: w.Events}, w.Description, w.SealedSecret, nanos(w.UpdatedAt), w.ID)
}

func (t *tx) DeleteWebhook(id string) error {
	if _, err := t.exec(`DELETE FROM webhook_deliveries WHERE webhook_id = $1`, id); err != nil {
		return fmt.Errorf("deleting deliveries of webhook %s: %w", id, err)
	}
	return t.execOne("deleting webhook", id, `DELETE FROM webhooks WHERE id = $1`, id)
}

const deliveryCols = `id, webhook_id, account_id, event_type, payload, created_at, queued_at, state, attempts,
	next_attempt_at, lease_owner, lease_until, last_attempt_at, last_status, last_error, delivered_at`

func scanDelivery(r rowScanner) (registry.WebhookDelivery, error) {
	var d registry.WebhookDelivery
	err := r.Scan(&d.ID, &d.WebhookID, &d.AccountID, &d.EventType, scanBlob{P: &d.Payload}, scanTime{P: &d.CreatedAt},
		scanTime{P: &d.QueuedAt}, &d.State, &d.Attempts, scanTime{P: &d.NextAttemptAt}, &d.LeaseOwner,
		scanTime{P: &d.LeaseUntil}, scanTime{P: &d.LastAttemptAt}, &d.LastStatus, &d.LastError, scanTime{P: &d.DeliveredAt})
	return d, err
}

func (t *tx) CreateWebhookDelivery(d *registry.WebhookDelivery) error {
	return t.insert("webhook delivery", d.ID, `INSERT INTO webhook_deliveries (`+deliveryCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		d.ID, d.WebhookID, d.AccountID, d.EventType, blob(d.Payload), nanos(d.CreatedAt), nanos(d.QueuedAt), d.State,
		d.Attempts, nanos(d.NextAttemptAt), d.LeaseOwner, nanos(d.LeaseUntil), nanos(d.LastAttemptAt), d.LastStatus,
		d.LastError, nanos(d.DeliveredAt))
}

func (t *tx) GetWebhookDelivery(id string) (*registry.WebhookDelivery, error) {
	return getOne(t, "webhook delivery", id, scanDelivery, `SELECT `+deliveryCols+` FROM webhook_deliveries WHERE id = $1`, id)
}

func (t *tx) ListWebhookDeliveries(webhookID string, limit int) ([]registry.WebhookDelivery, error) {
	var lim any // NULL: no limit
	if limit > 0 {
		lim = limit
	}
	return list(t, "webhook deliveries", scanDelivery, `SELECT `+deliveryCols+` FROM webhook_deliveries
		WHERE webhook_id = $1 ORDER BY created_at DESC NULLS LAST, id DESC LIMIT $2`, webhookID, lim)
}

// ClaimWebhookDeliveries claims in one UPDATE; FOR UPDATE SKIP LOCKED
// passes over rows another transaction holds, so brokers sharing the
// database never wait on, or take, each other's deliveries.
func (t *tx) ClaimWebhookDeliveries(owner string, now, until time.Time, limit int) ([]registry.WebhookDelivery, error) {
	ds, err := list(t, "claimed webhook deliveries", scanDelivery, `UPDATE webhook_deliveries
		SET lease_owner = $1, lease_until = $2
		WHERE id IN (SELECT id FROM webhook_deliveries
			WHERE state = $3 AND next_attempt_at <= $4 AND (lease_until IS NULL OR lease_until <= $5)
			ORDER BY next_attempt_at, id LIMIT $6 FOR UPDATE SKIP LOCKED)
		RETURNING `+deliveryCols, owner, nanos(until), registry.DeliveryPending, nanos(now), nanos(now), limit)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ds, compareDue)
	return ds, nil
}

// compareDue orders deliveries by NextAttemptAt, then ID (RETURNING
// keeps no order).
func compareDue(a, b registry.WebhookDelivery) int {
	if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
		return c
	}
	switch {
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}

func (t *tx) SaveWebhookDelivery(d *registry.WebhookDelivery, owner string) error {
	q := `UPDATE webhook_deliveries SET state = $1, attempts = $2, next_attempt_at = $3, queued_at = $4, lease_owner = $5,
		lease_until = $6, last_attempt_at = $7, last_status = $8, last_error = $9, delivered_at = $10 WHERE id = $11`
	args := []any{d.State, d.Attempts, nanos(d.NextAttemptAt), nanos(d.QueuedAt), d.LeaseOwner, nanos(d.LeaseUntil),
		nanos(d.LastAttemptAt), d.LastStatus, d.LastError, nanos(d.DeliveredAt), d.ID}
	if owner == "" {
		return t.execOne("saving webhook delivery", d.ID, q, args...)
	}
	res, err := t.exec(q+` AND lease_owner = $12`, append(args, owner)...)
	if err != nil {
		return fmt.Errorf("saving webhook delivery %s: %w", d.ID, err)
	}
	if res.RowsAffected() == 0 {
		if _, err := t.GetWebhookDelivery(d.ID); err != nil {
			return err
		}
		return fmt.Errorf("saving webhook delivery %s: lease not held by this worker: %w", d.ID, registry.ErrConflict)
	}
	return nil
}

func (t *tx) PurgeWebhookDeliveries(before time.Time) (int, error) {
	res, err := t.exec(`DELETE FROM webhook_deliveries WHERE state <> 'pending' AND queued_at < $1`, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("purging webhook deliveries: %w", err)
	}
	return int(res.RowsAffected()), nil
}

func (t *tx) AnyWebhookDeliveryDue(now time.Time) (bool, error) {
	ok, err := t.exists(`SELECT 1 FROM webhook_deliveries
		WHERE state = $1 AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until <= $3) LIMIT 1`,
		registry.DeliveryPending, nanos(now), nanos(now))
	if err != nil {
		return false, fmt.Errorf("looking for due webhook deliveries: %w", err)
	}
	return ok, nil
}
