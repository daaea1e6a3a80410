package httpapi

import (
	"net/http"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// rotateSigningKey makes a new token-signing key (SPEC T5): an
// administrator at the root account only. The body is ignored.
func (a *API) rotateSigningKey(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	rot, err := a.reg.RotateSigningKey(r.Context(), p, remote(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.SigningKeyRotation{KeyID: rot.KeyID, PublishedAt: rot.PublishedAt.UTC(),
		ActivatesAt: rot.ActivatesAt.UTC(), Replaces: rot.Replaces, ReplacedUnpublishedAt: rot.ReplacedUnpublishedAt.UTC()})
}

// listSigningKeys lists the token-signing keys and their times: an
// administrator at the root account only.
func (a *API) listSigningKeys(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	keys, err := a.reg.ListSigningKeys(r.Context(), p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]api.SigningKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, api.SigningKey{KeyID: k.KeyID, State: k.State, CreatedAt: k.CreatedAt.UTC(),
			ActivatesAt: k.ActivatesAt.UTC(), UnpublishedAt: k.UnpublishedAt.UTC()})
	}
	writeJSON(w, http.StatusOK, out)
}
