package api

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// AuditFilter selects audit events; zero fields match anything. Action is
// exact, or a prefix ending in "." ("endpoint."). EndpointID selects one
// endpoint's whole history (its target, in either spelling, or its actor).
// Since is inclusive, Until exclusive. Events come oldest first, paged with
// AfterID (pass the last id seen); with Desc newest first, paged with
// BeforeID. Limit 0 is the broker's default.
type AuditFilter struct {
	Since      time.Time
	Until      time.Time
	Action     string
	Actor      string
	Target     string
	EndpointID string
	Outcome    string
	AccountID  string
	AfterID    int64
	BeforeID   int64
	Desc       bool
	Limit      int
}

// AuditEvent is one record of the audit log. Actor is "user:<id>",
// "key:<id>", "endpoint:<id>", "system" or "anonymous"; Action is dotted
// and stable ("endpoint.approve"); Outcome is "success" or "failure".
// Detail never holds secrets.
type AuditEvent struct {
	ID        int64             `json:"id"`
	Time      time.Time         `json:"time"`
	Actor     string            `json:"actor"`
	Action    string            `json:"action"`
	AccountID string            `json:"account_id"`
	Target    string            `json:"target"`
	Outcome   string            `json:"outcome"`
	Remote    string            `json:"remote"`
	Detail    map[string]string `json:"detail"`
	// ActorName is the username of a "user:<id>" actor, "" for other
	// actors or a user since deleted.
	ActorName string `json:"actor_name"`
}

// ListAudit lists audit events, oldest first (newest first with f.Desc).
func (c *Client) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	q := url.Values{}
	setTime(q, "since", f.Since)
	setTime(q, "until", f.Until)
	setNonEmpty(q, "action", f.Action)
	setNonEmpty(q, "actor", f.Actor)
	setNonEmpty(q, "target", f.Target)
	setNonEmpty(q, "endpoint_id", f.EndpointID)
	setNonEmpty(q, "outcome", f.Outcome)
	setNonEmpty(q, "account_id", f.AccountID)
	if f.AfterID > 0 {
		q.Set("after_id", strconv.FormatInt(f.AfterID, 10))
	}
	if f.BeforeID > 0 {
		q.Set("before_id", strconv.FormatInt(f.BeforeID, 10))
	}
	if f.Desc {
		q.Set("order", "desc")
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	out, err := getList[AuditEvent](ctx, c, route("audit"), q)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Detail == nil {
			out[i].Detail = map[string]string{}
		}
	}
	return out, nil
}
