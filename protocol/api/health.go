package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// HealthResponse is the body of /healthz and /readyz. Status is "ok", or
// (from /readyz, with HTTP 503) "unavailable" and the Reason.
type HealthResponse struct {
	Status  string `json:"status"`
	Version string `json:"version,omitempty"` // the broker's version ("dev" when built without one)
	Reason  string `json:"reason,omitempty"`
}

// JWKS returns the broker's JSON Web Key Set as published.
func (c *Client) JWKS(ctx context.Context) ([]byte, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/.well-known/jwks.json", nil, nil, &raw, false); err != nil {
		return nil, err
	}
	return raw, nil
}

// Healthz checks that the broker answers; nil means it reported "ok".
func (c *Client) Healthz(ctx context.Context) error {
	var out HealthResponse
	if err := c.do(ctx, http.MethodGet, "/healthz", nil, nil, &out, false); err != nil {
		return err
	}
	if out.Status != "ok" {
		return fmt.Errorf("api: broker reports status %q", out.Status)
	}
	return nil
}
