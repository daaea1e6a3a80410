package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Webhooks (SPEC E7). A delivery is an HTTPS POST of a JSON body
// ({"type", "timestamp", "data"}) signed as Standard Webhooks signs: the
// headers below, and HMAC-SHA256 with the secret's key over
// "<webhook-id>.<webhook-timestamp>.<body>". SignWebhook and VerifyWebhook
// are that computation; a receiver without Go checks it with any HMAC
// tool (README: "Webhooks").

// Headers of a delivery.
const (
	HeaderWebhookID        = "webhook-id"        // the delivery's id, the same on every retry: drop repeats by it
	HeaderWebhookTimestamp = "webhook-timestamp" // Unix seconds of this attempt
	HeaderWebhookSignature = "webhook-signature" // "v1,<base64 HMAC-SHA256>", space-separated when several
)

// WebhookSecretPrefix starts a signing secret: whsec_ and the base64 of
// the HMAC key.
const WebhookSecretPrefix = "whsec_"

// ErrWebhookSignature is VerifyWebhook's answer to a delivery whose
// signature does not hold.
var ErrWebhookSignature = errors.New("the webhook signature does not match: check the secret and that the body is unchanged")

// webhookKey decodes a secret's HMAC key.
func webhookKey(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(secret), WebhookSecretPrefix)
	if !ok {
		return nil, errors.New("a webhook secret starts with " + WebhookSecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) == 0 {
		return nil, errors.New("a webhook secret is " + WebhookSecretPrefix + " and base64")
	}
	return key, nil
}

// SignWebhook returns the webhook-signature header of a delivery.
func SignWebhook(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := webhookKey(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(webhookMAC(key, id, timestamp, body)), nil
}

func webhookMAC(key []byte, id string, timestamp int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhook checks a delivery's signature header (any of its
// space-separated v1 signatures) against the secret, in constant time,
// and, when maxAge > 0, that its timestamp is within maxAge of now (a
// replayed delivery is refused). It returns ErrWebhookSignature when no
// signature holds.
func VerifyWebhook(secret, id, timestamp, signature string, body []byte, now time.Time, maxAge time.Duration) error {
	key, err := webhookKey(secret)
	if err != nil {
		return err
	}
	ts, err := strconv.ParseInt(strings.TrimSpace(timestamp), 10, 64)
	if err != nil {
		return errors.New("the webhook-timestamp is not Unix seconds")
	}
	if maxAge > 0 {
		if d := now.Sub(time.Unix(ts, 0)); d > maxAge || d < -maxAge {
			return errors.New("the webhook-timestamp is more than " + maxAge.String() + " from now: a replay, or a clock that is off")
		}
	}
	want := webhookMAC(key, id, ts, body)
	for _, s := range strings.Fields(signature) {
		v, sig, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrWebhookSignature
}

// WebhookRequest configures a webhook. AccountID "" = the caller's own.
type WebhookRequest struct {
	AccountID   string   `json:"account_id,omitempty"`
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description,omitempty"`
}

// Webhook is a configured webhook; its secret is never shown again.
type Webhook struct {
	ID          string    `json:"id"`
	AccountID   string    `json:"account_id"`
	AccountName string    `json:"account_name,omitempty"`
	URL         string    `json:"url"`
	Events      []string  `json:"events"`
	Description string    `json:"description,omitempty"`
	CreatedBy   string    `json:"created_by,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// CreatedWebhook is a webhook with its signing secret, shown only in the
// answer to its creation and to a rotation.
type CreatedWebhook struct {
	Webhook Webhook `json:"webhook"`
	Secret  string  `json:"secret"`
}

// WebhookDelivery is an entry of a webhook's delivery log.
type WebhookDelivery struct {
	ID            string          `json:"id"` // the webhook-id header
	WebhookID     string          `json:"webhook_id"`
	EventType     string          `json:"type"`
	State         string          `json:"state"` // pending, delivered, failed
	Attempts      int             `json:"attempts"`
	CreatedAt     time.Time       `json:"created_at"`
	NextAttemptAt *time.Time      `json:"next_attempt_at,omitempty"`
	LastAttemptAt *time.Time      `json:"last_attempt_at,omitempty"`
	LastStatus    int             `json:"last_status,omitempty"`
	LastError     string          `json:"last_error,omitempty"`
	DeliveredAt   *time.Time      `json:"delivered_at,omitempty"`
	Payload       json.RawMessage `json:"payload"`
}

// CreateWebhook configures a webhook; the answer holds its secret.
func (c *Client) CreateWebhook(ctx context.Context, req WebhookRequest) (*CreatedWebhook, error) {
	var out CreatedWebhook
	if err := c.do(ctx, http.MethodPost, route("webhooks"), nil, req, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListWebhooks lists the webhooks of an account ("" = every account the
// caller may view).
func (c *Client) ListWebhooks(ctx context.Context, accountID string) ([]Webhook, error) {
	q := url.Values{}
	setNonEmpty(q, "account_id", accountID)
	return getList[Webhook](ctx, c, route("webhooks"), q)
}

// GetWebhook returns one webhook.
func (c *Client) GetWebhook(ctx context.Context, id string) (*Webhook, error) {
	var out Webhook
	if err := c.do(ctx, http.MethodGet, route("webhooks", id), nil, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteWebhook removes a webhook and its delivery log.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, route("webhooks", id), nil, nil, nil, true)
}

// RotateWebhookSecret gives a webhook a new secret, returned once.
func (c *Client) RotateWebhookSecret(ctx context.Context, id string) (*CreatedWebhook, error) {
	var out CreatedWebhook
	if err := c.do(ctx, http.MethodPost, route("webhooks", id, "rotate-secret"), nil, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListWebhookDeliveries returns a webhook's delivery log, newest first
// (limit 0 = the broker's default, 100).
func (c *Client) ListWebhookDeliveries(ctx context.Context, webhookID string, limit int) ([]WebhookDelivery, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return getList[WebhookDelivery](ctx, c, route("webhooks", webhookID, "deliveries"), q)
}

// RedeliverWebhook queues a delivery again (same id and body).
func (c *Client) RedeliverWebhook(ctx context.Context, webhookID, deliveryID string) (*WebhookDelivery, error) {
	var out WebhookDelivery
	if err := c.do(ctx, http.MethodPost, route("webhooks", webhookID, "deliveries", deliveryID, "redeliver"), nil, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}
