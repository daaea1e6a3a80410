package httpapi

import (
	"net/http"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
)

var bulkActions = map[string]registry.Action{
	api.ActionApprove: registry.ActionApprove, api.ActionReject: registry.ActionReject,
	api.ActionUntrust: registry.ActionUntrust, api.ActionDelete: registry.ActionDelete,
}

// bulkEndpoints applies one action to the endpoints named by ids or matched
// by a filter (SPEC E5) and reports per endpoint; the answer is 200 even
// when some failed.
func (a *API) bulkEndpoints(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.BulkRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	action, ok := bulkActions[req.Action]
	if !ok {
		a.writeError(w, r, invalid("unknown action %q (approve, reject, untrust, delete)", req.Action))
		return
	}
	if (len(req.IDs) > 0) == (req.Filter != nil) {
		a.writeError(w, r, invalid("give either ids or filter, not both and not neither"))
		return
	}
	br := registry.BulkRequest{Action: action, IDs: req.IDs, Remote: remote(r)}
	if req.Filter != nil {
		f, err := bulkFilter(req.Filter)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		br.Filter = &f
	}
	results, err := a.reg.DecideMany(r.Context(), p, br)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := api.BulkResponse{Results: make([]api.EndpointResult, 0, len(results))}
	for _, res := range results {
		er := api.EndpointResult{ID: res.ID, Outcome: res.Outcome, State: string(res.State), Error: res.Error}
		er.OK = res.Outcome == registry.BulkOK || res.Outcome == registry.BulkNoop
		if er.OK {
			out.OK++
		} else {
			out.Failed++
		}
		out.Results = append(out.Results, er)
	}
	writeJSON(w, http.StatusOK, out)
}

func bulkFilter(in *api.BulkFilter) (registry.EndpointFilter, error) {
	var f registry.EndpointFilter
	if in.State != "" {
		st, ok := listStates[in.State]
		if !ok {
			return f, invalid("filter.state %q is not a state (pending, trusted, rejected, untrusted)", in.State)
		}
		f.State = st
	}
	if in.Type != "" {
		if !protocol.ValidClientType(in.Type) {
			return f, invalid("filter.type %q is not an endpoint type", in.Type)
		}
		f.Type = in.Type
	}
	f.KeyID = in.KeyID
	if in.AccountID != "" {
		f.AccountIDs = []string{in.AccountID}
	}
	if in.From != "" {
		pfx, err := parsePrefix(in.From)
		if err != nil {
			return f, invalid("filter.from %q is not a CIDR prefix like 10.1.0.0/16", in.From)
		}
		f.From = pfx
	}
	if in.RegisteredBefore != nil {
		f.RegisteredBefore = *in.RegisteredBefore
	}
	if in.RegisteredAfter != nil {
		f.RegisteredAfter = *in.RegisteredAfter
	}
	return f, nil
}
