package api

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// AuditFilter selects audit events; zero fields match anything. Action is
// exact, or a prefix ending in "." ("endpoint."). Since is inclusive, Until
// exclusive. AfterID pages: pass the last id seen. Limit 0 is the broker's
// default.
type AuditFilter struct {
	Since     time.Time
	Until     time.Time
	Action    string
	Actor     string
	Target    string
	Outcome   string
	AccountID string
	AfterID   int64
	Limit     int
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
}

// ListAudit lists audit events, oldest first.
func (c *Client) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	q := url.Values{}
	setTime(q, "since", f.Since)
	setTime(q, "until", f.Until)
	setNonEmpty(q, "action", f.Action)
	setNonEmpty(q, "actor", f.Actor)
	setNonEmpty(q, "target", f.Target)
	setNonEmpty(q, "outcome", f.Outcome)
	setNonEmpty(q, "account_id", f.AccountID)
	if f.AfterID > 0 {
		q.Set("after_id", strconv.FormatInt(f.AfterID, 10))
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
