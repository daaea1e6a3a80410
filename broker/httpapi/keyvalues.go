package httpapi

import (
	"net/http"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

func (a *API) addKeyValue(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.AddValueRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.UseLimit < 0 {
		a.writeError(w, r, invalid("use_limit must be 0 (unlimited) or more"))
		return
	}
	ar := registry.AddValueRequest{Description: req.Description, UseLimit: req.UseLimit, Remote: remote(r)}
	if req.ExpiresAt != nil {
		if req.ExpiresAt.IsZero() {
			a.writeError(w, r, invalid("expires_at must be a time in the future, or absent for a value that never expires"))
			return
		}
		ar.ExpiresAt = *req.ExpiresAt
	}
	cv, err := a.reg.AddKeyValue(r.Context(), p, r.PathValue("id"), ar)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, createdValueOut(cv))
}

func (a *API) regenerateKeyValue(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.RegenerateRequest
	if err := decodeOptional(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	cv, err := a.reg.RegenerateKeyValue(r.Context(), p, r.PathValue("id"), req.ValueID, remote(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, createdValueOut(cv))
}

func (a *API) revokeKeyValue(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	if err := a.reg.RevokeKeyValue(r.Context(), p, r.PathValue("id"), r.PathValue("value_id"), remote(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func createdValueOut(cv *registry.CreatedValue) api.CreatedValue {
	return api.CreatedValue{ID: cv.KeyID, ValueID: cv.ValueID, Value: cv.Value}
}
