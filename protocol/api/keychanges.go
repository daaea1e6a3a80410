package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// KeyChange is a pending change of an endpoint's public key (SPEC E4): a
// registration for a known client id with another key, or without a key for
// an endpoint that has none. The old key stays in force until an admin
// approves it at POST /api/v1/endpoints/{id}/approve-key-change, naming its
// KeyFingerprint (or drops it at .../reject-key-change). An endpoint has at
// most one; a later registration with another key is refused until it is
// decided.
type KeyChange struct {
	EndpointID  string `json:"endpoint_id"`
	AccountID   string `json:"account_id"`
	State       string `json:"state"` // the endpoint's state, which the change keeps
	Hostname    string `json:"hostname"`
	Description string `json:"description"`
	KeyType     string `json:"key_type"` // of the new key; "" for a registration without a key
	// KeyFingerprint is the new key's (RFC 7638), or for a registration
	// without a key a "keyless-…" marker naming that registration: what
	// approving names.
	KeyFingerprint    string `json:"key_fingerprint"`
	OldKeyType        string `json:"old_key_type"`
	OldKeyFingerprint string `json:"old_key_fingerprint"`
	KeyID             string `json:"key_id"` // the API key of the registration that asked
	// What the registration said about the device; approval applies it.
	RequestedDescription string    `json:"requested_description"`
	RequestedHostname    string    `json:"requested_hostname"`
	RequestedOS          string    `json:"requested_os"`
	RequestedVersion     string    `json:"requested_version"`
	RequestedAt          time.Time `json:"requested_at"`
	RequestedFrom        string    `json:"requested_from"`
}

// KeyChangeDecision is the body of approve-key-change (Fingerprint
// required: the KeyFingerprint of the change the admin saw; a pending
// change with another answers 409) and of reject-key-change (Fingerprint
// optional).
type KeyChangeDecision struct {
	Fingerprint string `json:"fingerprint,omitempty"`
}

// ListKeyChanges lists pending key changes ("" = every account the caller sees).
func (c *Client) ListKeyChanges(ctx context.Context, accountID string) ([]KeyChange, error) {
	q := url.Values{}
	setNonEmpty(q, "account_id", accountID)
	var out []KeyChange
	if err := c.do(ctx, http.MethodGet, "/api/v1/key-changes", q, nil, &out, true); err != nil {
		return nil, err
	}
	return out, nil
}

// ApproveKeyChange puts an endpoint's pending key change in force, if its
// fingerprint is fingerprint (the KeyFingerprint ListKeyChanges showed).
func (c *Client) ApproveKeyChange(ctx context.Context, endpointID, fingerprint string) (*Endpoint, error) {
	var out Endpoint
	if err := c.do(ctx, http.MethodPost, "/api/v1/endpoints/"+url.PathEscape(endpointID)+"/approve-key-change", nil,
		KeyChangeDecision{Fingerprint: fingerprint}, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// RejectKeyChange drops an endpoint's pending key change: whichever is
// pending when fingerprint is "", else only the one with this fingerprint.
func (c *Client) RejectKeyChange(ctx context.Context, endpointID, fingerprint string) (*Endpoint, error) {
	var out Endpoint
	if err := c.do(ctx, http.MethodPost, "/api/v1/endpoints/"+url.PathEscape(endpointID)+"/reject-key-change", nil,
		KeyChangeDecision{Fingerprint: fingerprint}, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}
