package httpapi

import (
	"net/http"
	"strconv"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// Audit list bounds: an answer holds at most maxAuditLimit events; a caller
// pages with after_id.
const (
	defaultAuditLimit = 1000
	maxAuditLimit     = 5000
)

// listAudit lists audit events, oldest first (order=asc, the default) or
// newest first (order=desc), filtered by since (inclusive) and until
// (exclusive), action (exact, or a prefix ending in "."), actor, target,
// endpoint_id (one endpoint's whole history), outcome and account_id;
// after_id, before_id and limit page through them.
func (a *API) listAudit(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	q := r.URL.Query()
	f := registry.AuditFilter{
		Action: q.Get("action"), Actor: q.Get("actor"), Target: q.Get("target"), Outcome: q.Get("outcome"),
		Endpoint: q.Get("endpoint_id"), Limit: defaultAuditLimit,
	}
	switch o := q.Get("order"); o {
	case "", "asc":
	case "desc":
		f.Desc = true
	default:
		a.writeError(w, r, invalid("order %q is not asc or desc", o))
		return
	}
	if id := q.Get("account_id"); id != "" {
		f.AccountIDs = []string{id}
	}
	if f.Outcome != "" && f.Outcome != registry.OutcomeSuccess && f.Outcome != registry.OutcomeFailure {
		a.writeError(w, r, invalid("outcome %q is not success or failure", f.Outcome))
		return
	}
	var err error
	if f.Since, err = timeParam(q, "since"); err != nil {
		a.writeError(w, r, err)
		return
	}
	if f.Until, err = timeParam(q, "until"); err != nil {
		a.writeError(w, r, err)
		return
	}
	if s := q.Get("after_id"); s != "" {
		if f.AfterID, err = strconv.ParseInt(s, 10, 64); err != nil || f.AfterID < 0 {
			a.writeError(w, r, invalid("after_id %q is not an event id", s))
			return
		}
	}
	if s := q.Get("before_id"); s != "" {
		if f.BeforeID, err = strconv.ParseInt(s, 10, 64); err != nil || f.BeforeID < 0 {
			a.writeError(w, r, invalid("before_id %q is not an event id", s))
			return
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxAuditLimit {
			a.writeError(w, r, invalid("limit %q must be a number from 1 to %d", s, maxAuditLimit))
			return
		}
		f.Limit = n
	}
	events, err := a.reg.ListAudit(r.Context(), p, f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]api.AuditEvent, 0, len(events))
	for _, e := range events {
		detail := e.Detail
		if detail == nil {
			detail = map[string]string{}
		}
		out = append(out, api.AuditEvent{
			ID: e.ID, Time: e.Time.UTC(), Actor: e.Actor, Action: e.Action, AccountID: e.AccountID,
			Target: e.Target, Outcome: e.Outcome, Remote: e.Remote, Detail: detail, ActorName: e.ActorName,
		})
	}
	writeJSON(w, http.StatusOK, out)
}
