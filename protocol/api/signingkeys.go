package api

import (
	"context"
	"net/http"
	"time"
)

// PathRotateSigningKey rotates the token-signing key (SPEC T5): POST, an
// administrator at the root account.
const PathRotateSigningKey = "/api/v1/signing-keys/rotate"

// SigningKeyRotation answers POST /api/v1/signing-keys/rotate: the new key
// is published now and signs from ActivatesAt; the key it replaces leaves
// the JWKS at ReplacedUnpublishedAt.
type SigningKeyRotation struct {
	KeyID                 string    `json:"key_id"`
	PublishedAt           time.Time `json:"published_at"`
	ActivatesAt           time.Time `json:"activates_at"`
	Replaces              string    `json:"replaces_key_id,omitempty"`
	ReplacedUnpublishedAt time.Time `json:"replaced_unpublished_at,omitzero"`
}

// RotateSigningKey makes a new token-signing key.
func (c *Client) RotateSigningKey(ctx context.Context) (*SigningKeyRotation, error) {
	var out SigningKeyRotation
	if err := c.do(ctx, http.MethodPost, PathRotateSigningKey, nil, struct{}{}, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// PathSigningKeys lists the token-signing keys: GET, an administrator at
// the root account.
const PathSigningKeys = "/api/v1/signing-keys"

// SigningKey is one token-signing key: State "next" (published, signs
// from ActivatesAt), "active" (signs now), "retiring" (signs no more,
// published until UnpublishedAt) or "verify_only" (a key of before
// rotation, published until UnpublishedAt).
type SigningKey struct {
	KeyID         string    `json:"key_id"`
	State         string    `json:"state"`
	CreatedAt     time.Time `json:"created_at"`
	ActivatesAt   time.Time `json:"activates_at,omitzero"`
	UnpublishedAt time.Time `json:"unpublished_at,omitzero"`
}

// ListSigningKeys lists the token-signing keys published now.
func (c *Client) ListSigningKeys(ctx context.Context) ([]SigningKey, error) {
	var out []SigningKey
	if err := c.do(ctx, http.MethodGet, PathSigningKeys, nil, nil, &out, true); err != nil {
		return nil, err
	}
	return out, nil
}
