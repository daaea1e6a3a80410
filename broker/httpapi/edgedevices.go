package httpapi

import (
	"net/http"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

func (a *API) addEdgeDevice(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.EdgeDeviceRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	cv, err := a.reg.AddEdgeDevice(r.Context(), p, req.AccountID, req.Name, req.Description, remote(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, createdValueOut(cv))
}

func (a *API) removeEdgeDevice(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	err := a.reg.RemoveEdgeDevice(r.Context(), p, r.URL.Query().Get("account_id"), r.PathValue("value_id"), remote(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
