package httpapi

import (
	"net/http"
	"strings"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// listKeyChanges lists pending key changes (SPEC E4), optionally of one account.
func (a *API) listKeyChanges(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	pks, err := a.reg.ListKeyChanges(r.Context(), p, r.URL.Query().Get("account_id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]api.KeyChange, 0, len(pks))
	for _, pk := range pks {
		out = append(out, api.KeyChange{
			EndpointID: pk.Endpoint.ID, AccountID: pk.Endpoint.AccountID, State: string(pk.Endpoint.State),
			Hostname: pk.Endpoint.Hostname, Description: pk.Endpoint.Description,
			KeyType: pk.Change.KeyType, KeyFingerprint: pk.Change.KeyThumbprint,
			OldKeyType: pk.Endpoint.KeyType, OldKeyFingerprint: pk.Endpoint.KeyThumbprint,
			KeyID:                pk.Change.KeyID,
			RequestedDescription: pk.Change.Description, RequestedHostname: pk.Change.Hostname,
			RequestedOS: pk.Change.OS, RequestedVersion: pk.Change.Version,
			RequestedAt: pk.Change.RequestedAt.UTC(), RequestedFrom: pk.Change.RequestedFrom,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// decideKeyChange approves or rejects an endpoint's pending key change,
// naming the fingerprint of the change the admin saw (required to approve).
func (a *API) decideKeyChange(approve bool) principalHandler {
	return func(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
		var req api.KeyChangeDecision
		if err := decodeOptional(r, &req); err != nil {
			a.writeError(w, r, err)
			return
		}
		if approve && strings.TrimSpace(req.Fingerprint) == "" {
			a.writeError(w, r, invalid(`fingerprint is required: the key_fingerprint of the change as "edgetrustctl endpoints key-changes" (GET /api/v1/key-changes) shows it`))
			return
		}
		decide := a.reg.RejectKeyChange
		if approve {
			decide = a.reg.ApproveKeyChange
		}
		ep, err := decide(r.Context(), p, r.PathValue("id"), req.Fingerprint, remote(r))
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, endpointOut(ep))
	}
}
