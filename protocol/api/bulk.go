package api

import (
	"context"
	"net/http"
	"time"
)

// EndpointResult is the outcome of an action on one endpoint of a bulk
// request (SPEC E5). Outcome is one of the Outcome constants; OK is true for
// OutcomeOK and OutcomeNoop. State is the endpoint's state after the action
// ("deleted" after a delete), "" when it was not found; Error is "" when it
// succeeded.
type EndpointResult struct {
	ID      string `json:"id"`
	OK      bool   `json:"ok"`
	Outcome string `json:"outcome"`
	State   string `json:"state"`
	Error   string `json:"error"`
}

// Outcomes of EndpointResult.
const (
	OutcomeOK       = "ok"        // the action was applied
	OutcomeNoop     = "noop"      // nothing to do (approving a trusted endpoint)
	OutcomeConflict = "conflict"  // the endpoint's state does not allow the action
	OutcomeNotFound = "not_found" // no such endpoint the caller may see
	// OutcomeForbidden: the caller sees the endpoint's account but lacks the
	// permission the action needs there.
	OutcomeForbidden = "forbidden"
)

// BulkFilter selects endpoints for a bulk action; empty fields match
// anything. From is a CIDR prefix of the registering address.
type BulkFilter struct {
	State            string     `json:"state,omitempty"`
	Type             string     `json:"type,omitempty"`
	KeyID            string     `json:"key_id,omitempty"`
	AccountID        string     `json:"account_id,omitempty"`
	From             string     `json:"from,omitempty"`
	RegisteredBefore *time.Time `json:"registered_before,omitempty"`
	RegisteredAfter  *time.Time `json:"registered_after,omitempty"`
}

// BulkRequest applies one action (approve, reject, untrust, delete) to the
// endpoints named by IDs or to every endpoint matching Filter (exactly one
// of the two) (SPEC E5).
type BulkRequest struct {
	Action string      `json:"action"`
	IDs    []string    `json:"ids,omitempty"`
	Filter *BulkFilter `json:"filter,omitempty"`
}

// BulkResponse reports per endpoint. OK counts the results that succeeded
// (ok and noop), Failed the others.
type BulkResponse struct {
	Results []EndpointResult `json:"results"`
	OK      int              `json:"ok"`
	Failed  int              `json:"failed"`
}

// BulkEndpoints applies one action to many endpoints and reports per id
// (SPEC E5). An answer with failed results is not an error.
func (c *Client) BulkEndpoints(ctx context.Context, req BulkRequest) (*BulkResponse, error) {
	var out BulkResponse
	if err := c.do(ctx, http.MethodPost, route("endpoints", "bulk"), nil, req, &out, true); err != nil {
		return nil, err
	}
	if out.Results == nil {
		out.Results = []EndpointResult{}
	}
	return &out, nil
}
