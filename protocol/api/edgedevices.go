package api

import (
	"context"
	"net/http"
	"net/url"
)

// EdgeDeviceRequest adds an edge device: a new value of the account's Edge
// key (SPEC K7). AccountID "" = the caller's own account.
type EdgeDeviceRequest struct {
	AccountID   string `json:"account_id,omitempty"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// AddEdgeDevice adds an edge device: a new value of the account's Edge key
// (SPEC K7), shown once.
func (c *Client) AddEdgeDevice(ctx context.Context, req EdgeDeviceRequest) (*CreatedValue, error) {
	var out CreatedValue
	if err := c.do(ctx, http.MethodPost, route("edge-devices"), nil, req, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveEdgeDevice revokes an edge device's value (accountID "" = the
// caller's own account).
func (c *Client) RemoveEdgeDevice(ctx context.Context, accountID, valueID string) error {
	q := url.Values{}
	setNonEmpty(q, "account_id", accountID)
	return c.do(ctx, http.MethodDelete, route("edge-devices", valueID), q, nil, nil, true)
}
