package api

import (
	"context"
	"net/http"
	"time"
)

// KeyValue is one value of an API key (SPEC K2), without its secret.
// Times not set are null; UseLimit 0 means unlimited.
type KeyValue struct {
	ID           string     `json:"id"`
	KeyID        string     `json:"key_id"`
	Description  string     `json:"description"`
	CreatedAt    time.Time  `json:"created_at"`
	ExpiresAt    *time.Time `json:"expires_at"`
	RevokedAt    *time.Time `json:"revoked_at"`
	Revoked      bool       `json:"revoked"`
	LastUsedAt   *time.Time `json:"last_used_at"`
	LastUsedFrom string     `json:"last_used_from"`
	UseCount     int64      `json:"use_count"`
	UseLimit     int64      `json:"use_limit"`
	// EdgeDevice names the edge device whose credential this value is
	// (SPEC K7); "" for other values.
	EdgeDevice string `json:"edge_device"`
}

// AddValueRequest adds a generated value to a key (SPEC K2). UseLimit 0 is
// unlimited; nil ExpiresAt never expires.
type AddValueRequest struct {
	Description string     `json:"description"`
	UseLimit    int64      `json:"use_limit,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
}

// RegenerateRequest names the value to regenerate; "" is allowed only for
// a key with one value.
type RegenerateRequest struct {
	ValueID string `json:"value_id,omitempty"`
}

// CreatedValue is a value shown once (SPEC K3): the answer of add-value,
// regenerate and adding an edge device. ID is the key's id.
type CreatedValue struct {
	ID      string `json:"id"`
	ValueID string `json:"value_id"`
	Value   string `json:"value"` // "etk_..."
}

// AddKeyValue generates a new value of a key; the answer is the only time
// it is shown.
func (c *Client) AddKeyValue(ctx context.Context, keyID string, req AddValueRequest) (*CreatedValue, error) {
	var out CreatedValue
	if err := c.do(ctx, http.MethodPost, route("keys", keyID, "values"), nil, req, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// RegenerateKeyValue replaces a value's secret under the same ids (SPEC K4);
// valueID "" is allowed only for a key with one value.
func (c *Client) RegenerateKeyValue(ctx context.Context, keyID, valueID string) (*CreatedValue, error) {
	var out CreatedValue
	if err := c.do(ctx, http.MethodPost, route("keys", keyID, "regenerate"), nil, RegenerateRequest{ValueID: valueID}, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeKeyValue revokes one value of a key; revoking twice is a no-op.
func (c *Client) RevokeKeyValue(ctx context.Context, keyID, valueID string) error {
	return c.do(ctx, http.MethodDelete, route("keys", keyID, "values", valueID), nil, nil, nil, true)
}
