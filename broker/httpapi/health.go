package httpapi

import (
	"cmp"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// health answers /healthz (liveness): "ok" and the broker's version, as
// long as the process serves.
func (a *API) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, api.HealthResponse{Status: "ok", Version: cmp.Or(a.ver, "dev")})
}

// ready answers /readyz (readiness, for a load balancer's health check):
// 200 "ok" while the broker reads fresh state, 503 "unavailable" with the
// reason while it refuses registrations and logins (registry.Fresh).
func (a *API) ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := a.reg.Fresh(); err != nil {
		reason := registry.PublicMessage(err)
		if cause := errors.Unwrap(err); cause != nil {
			reason += ": " + cause.Error()
		}
		writeJSON(w, http.StatusServiceUnavailable, api.HealthResponse{Status: "unavailable", Version: cmp.Or(a.ver, "dev"), Reason: reason})
		return
	}
	writeJSON(w, http.StatusOK, api.HealthResponse{Status: "ok", Version: cmp.Or(a.ver, "dev")})
}

func (a *API) getJWKS(w http.ResponseWriter, r *http.Request) {
	jwks := a.jwks
	if a.jwksFunc != nil {
		jwks = a.jwksFunc()
	}
	if len(jwks) == 0 {
		a.writeError(w, r, registry.E(registry.KindNotFound, "no signing keys are published", nil))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age="+strconv.Itoa(int(a.jwksAge/time.Second)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(jwks)
}
