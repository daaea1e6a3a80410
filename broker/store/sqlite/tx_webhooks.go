package sqlite

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
	return t.insert("webhook", w.ID, `INSERT INTO webhooks (`+webhookCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		w.ID, w.AccountID, w.URL, jsonText{V: w.Events}, w.Description, w.SealedSecret, w.CreatedBy,
		nanos(w.CreatedAt), nanos(w.UpdatedAt))
}

func (t *tx) GetWebhook(id string) (*registry.Webhook, error) {
	return getOne(t, "webhook", id, scanWebhook, `SELECT `+webhookCols+` FROM webhooks WHERE id = ?`, id)
}

func (t *tx) ListWebhooks(accountID string) ([]registry.Webhook, error) {
	if accountID == "" {
		return list(t, "webhooks", scanWebhook, `SELECT `+webhookCols+` FROM webhooks ORDER BY created_at, id`)
	}
	return list(t, "webhooks", scanWebhook,
		`SELECT `+webhookCols+` FROM webhooks WHERE account_id = ? ORDER BY created_at, id`, accountID)
}

func (t *tx) UpdateWebhook(w *registry.Webhook) error {
	return t.execOne("updating webhook", w.ID, `UPDATE webhooks SET url = ?, events = ?, description = ?,
		sealed_secret = ?, updated_at = ? WHERE id = ?`,
		w.URL, jsonText{V: w.Events}, w.Description, w.SealedSecret, nanos(w.UpdatedAt), w.ID)
}

func (t *tx) DeleteWebhook(id string) error {
	if _, err := t.exec(`DELETE FROM webhook_deliveries WHERE webhook_id = ?`, id); err != nil {
		return fmt.Errorf("deleting deliveries of webhook %s: %w", id, err)
	}
	return t.execOne("deleting webhook", id, `DELETE FROM webhooks WHERE id = ?`, id)
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
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.WebhookID, d.AccountID, d.EventType, blob(d.Payload), nanos(d.CreatedAt), nanos(d.QueuedAt), d.State,
		d.Attempts, nanos(d.NextAttemptAt), d.LeaseOwner, nanos(d.LeaseUntil), nanos(d.LastAttemptAt), d.LastStatus,
		d.LastError, nanos(d.DeliveredAt))
}

func (t *tx) GetWebhookDelivery(id string) (*registry.WebhookDelivery, error) {
	return getOne(t, "webhook delivery", id, scanDelivery, `SELECT `+deliveryCols+` FROM webhook_deliveries WHERE id = ?`, id)
}

func (t *tx) ListWebhookDeliveries(webhookID string, limit int) ([]registry.WebhookDelivery, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	return list(t, "webhook deliveries", scanDelivery, `SELECT `+deliveryCols+` FROM webhook_deliveries
		WHERE webhook_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`, webhookID, limit)
}

// ClaimWebhookDeliveries claims in one UPDATE: Updates are serialised, so
// no other worker reads the rows between the choice and the lease.
func (t *tx) ClaimWebhookDeliveries(owner string, now, until time.Time, limit int) ([]registry.WebhookDelivery, error) {
	ds, err := list(t, "claimed webhook deliveries", scanDelivery, `UPDATE webhook_deliveries
		SET lease_owner = ?, lease_until = ?
		WHERE id IN (SELECT id FROM webhook_deliveries
			WHERE state = ? AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
			ORDER BY next_attempt_at, id LIMIT ?)
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
	q := `UPDATE webhook_deliveries SET state = ?, attempts = ?, next_attempt_at = ?, queued_at = ?, lease_owner = ?,
		lease_until = ?, last_attempt_at = ?, last_status = ?, last_error = ?, delivered_at = ? WHERE id = ?`
	args := []any{d.State, d.Attempts, nanos(d.NextAttemptAt), nanos(d.QueuedAt), d.LeaseOwner, nanos(d.LeaseUntil),
		nanos(d.LastAttemptAt), d.LastStatus, d.LastError, nanos(d.DeliveredAt), d.ID}
	if owner == "" {
		return t.execOne("saving webhook delivery", d.ID, q, args...)
	}
	res, err := t.exec(q+` AND lease_owner = ?`, append(args, owner)...)
	if err != nil {
		return fmt.Errorf("saving webhook delivery %s: %w", d.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("saving webhook delivery %s: %w", d.ID, err)
	} else if n == 0 {
		if _, err := t.GetWebhookDelivery(d.ID); err != nil {
			return err
		}
		return fmt.Errorf("saving webhook delivery %s: lease not held by this worker: %w", d.ID, registry.ErrConflict)
	}
	return nil
}

func (t *tx) PurgeWebhookDeliveries(before time.Time) (int, error) {
	res, err := t.exec(`DELETE FROM webhook_deliveries WHERE state <> 'pending' AND queued_at < ?`, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("purging webhook deliveries: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (t *tx) AnyWebhookDeliveryDue(now time.Time) (bool, error) {
	ok, err := t.exists(`SELECT 1 FROM webhook_deliveries
		WHERE state = ? AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?) LIMIT 1`,
		registry.DeliveryPending, nanos(now), nanos(now))
	if err != nil {
		return false, fmt.Errorf("looking for due webhook deliveries: %w", err)
	}
	return ok, nil
}
