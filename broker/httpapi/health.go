package httpapi

import (
	"cmp"
	"net/http"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// health answers /healthz and /readyz: "ok" and the broker's version.
func (a *API) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, api.HealthResponse{Status: "ok", Version: cmp.Or(a.ver, "dev")})
}

func (a *API) getJWKS(w http.ResponseWriter, r *http.Request) {
	if len(a.jwks) == 0 {
		a.writeError(w, r, registry.E(registry.KindNotFound, "no signing keys are published", nil))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=300")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(a.jwks)
}
