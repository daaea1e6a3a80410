package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Endpoint is a registered device as the API shows it (SPEC E6). Times that
// are not set are null.
type Endpoint struct {
	ID string `json:"id"`
	// ClientID is the same as ID: the device's client_id (SPEC E6).
	ClientID       string     `json:"client_id"`
	State          string     `json:"state"`
	Type           string     `json:"type"`
	Description    string     `json:"description"`
	Hostname       string     `json:"hostname"`
	OS             string     `json:"os"`
	Version        string     `json:"version"`
	AccountID      string     `json:"account_id"`
	KeyID          string     `json:"key_id"`
	KeyValueID     string     `json:"key_value_id"`
	RegisteredAt   *time.Time `json:"registered_at"`
	RegisteredFrom string     `json:"registered_from"`
	// ApprovedBy/At say who approved the endpoint and when (an admin, or
	// automatic trust: "key:<id>"); an untrust or reject leaves them.
	ApprovedBy string     `json:"approved_by"`
	ApprovedAt *time.Time `json:"approved_at"`
	// LastDecision is the last trust decision: "approve", "reject",
	// "untrust", or "" for none yet; LastDecisionBy and LastDecisionAt say
	// by whom and when. DecidedBy/At carry the same values as
	// LastDecisionBy/At, under their older names.
	LastDecision   string     `json:"last_decision"`
	LastDecisionBy string     `json:"last_decision_by"`
	LastDecisionAt *time.Time `json:"last_decision_at"`
	DecidedBy      string     `json:"decided_by"`
	DecidedAt      *time.Time `json:"decided_at"`
	// KeyName is the name of the API key the endpoint registered with
	// (KeyID); "" when the key was deleted or the caller may not view it.
	KeyName      string     `json:"key_name"`
	LastSeenAt   *time.Time `json:"last_seen_at"`
	LastSeenFrom string     `json:"last_seen_from"`
	// KeyType is the type of the endpoint's public key ("ed25519"), "" when
	// it registered without one.
	KeyType string `json:"key_type"`
	// KeyFingerprint is the RFC 7638 SHA-256 thumbprint of the endpoint's
	// public key (the cnf.jkt of its tokens).
	KeyFingerprint string `json:"key_fingerprint"`
	// KeyThumbprint is the same as KeyFingerprint, under its RFC 7638 name.
	KeyThumbprint string `json:"key_thumbprint"`
	// Bound reports that the endpoint has a public key, so its tokens are
	// bound to it (SPEC T1).
	Bound bool `json:"bound"`
	// CloneSuspectedAt is when two copies of the endpoint's identity were
	// seen refreshing from one token (SPEC R24, docs/clones.md); null for
	// never, or since an administrator cleared the mark (ClearCloneMark).
	CloneSuspectedAt *time.Time `json:"clone_suspected_at"`
}

// Admin actions on an endpoint (SPEC E5).
const (
	ActionApprove = "approve"
	ActionReject  = "reject"
	ActionUntrust = "untrust"
	ActionDelete  = "delete" // bulk only; one endpoint is deleted with DELETE
)

// EndpointFilter selects endpoints in ListEndpoints; empty fields match
// anything. Text matches a substring of id, hostname or description. From
// is a CIDR prefix of the registering address. The Seen times select by
// last seen, the Registered times by registration (Before exclusive,
// After inclusive is the broker's choice; see the route's documentation).
type EndpointFilter struct {
	State            string
	AccountID        string
	Type             string
	KeyID            string
	Text             string
	From             string
	SeenBefore       time.Time
	SeenAfter        time.Time
	RegisteredBefore time.Time
	RegisteredAfter  time.Time
	// Limit is the most endpoints to return (0 = all); After the id of the
	// last endpoint of the previous page: the list (ordered by registration
	// time, then id) goes on after it. An unknown After answers 400.
	Limit int
	After string
}

// ListEndpoints lists the endpoints matching f that the caller may see.
func (c *Client) ListEndpoints(ctx context.Context, f EndpointFilter) ([]Endpoint, error) {
	q := url.Values{}
	setNonEmpty(q, "state", f.State)
	setNonEmpty(q, "account_id", f.AccountID)
	setNonEmpty(q, "type", f.Type)
	setNonEmpty(q, "key_id", f.KeyID)
	setNonEmpty(q, "text", f.Text)
	setNonEmpty(q, "from", f.From)
	setTime(q, "seen_before", f.SeenBefore)
	setTime(q, "seen_after", f.SeenAfter)
	setTime(q, "registered_before", f.RegisteredBefore)
	setTime(q, "registered_after", f.RegisteredAfter)
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	setNonEmpty(q, "after", f.After)
	return getList[Endpoint](ctx, c, "/api/v1/endpoints", q)
}

// GetEndpoint returns one endpoint.
func (c *Client) GetEndpoint(ctx context.Context, id string) (*Endpoint, error) {
	var out Endpoint
	if err := c.do(ctx, http.MethodGet, "/api/v1/endpoints/"+url.PathEscape(id), nil, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// Decide applies an admin action (ActionApprove, ActionReject,
// ActionUntrust) to an endpoint and returns it after the change.
func (c *Client) Decide(ctx context.Context, id, action string) (*Endpoint, error) {
	switch action {
	case ActionApprove, ActionReject, ActionUntrust:
	default:
		return nil, fmt.Errorf("api: unknown action %q", action)
	}
	var out Endpoint
	if err := c.do(ctx, http.MethodPost, "/api/v1/endpoints/"+url.PathEscape(id)+"/"+action, nil, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// ApproveEndpoint approves an endpoint; approving a trusted one is a no-op.
func (c *Client) ApproveEndpoint(ctx context.Context, id string) (*Endpoint, error) {
	return c.Decide(ctx, id, ActionApprove)
}

// RejectEndpoint rejects a pending endpoint.
func (c *Client) RejectEndpoint(ctx context.Context, id string) (*Endpoint, error) {
	return c.Decide(ctx, id, ActionReject)
}

// UntrustEndpoint untrusts a trusted endpoint.
func (c *Client) UntrustEndpoint(ctx context.Context, id string) (*Endpoint, error) {
	return c.Decide(ctx, id, ActionUntrust)
}

// ClearCloneMark clears an endpoint's clone mark (CloneSuspectedAt) once
// the copies are dealt with; it changes no trust (docs/clones.md).
func (c *Client) ClearCloneMark(ctx context.Context, id string) (*Endpoint, error) {
	var out Endpoint
	if err := c.do(ctx, http.MethodPost, "/api/v1/endpoints/"+url.PathEscape(id)+"/clear-clone", nil, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteEndpoint deletes an endpoint in any state.
func (c *Client) DeleteEndpoint(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/endpoints/"+url.PathEscape(id), nil, nil, nil, true)
}
