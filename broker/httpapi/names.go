package httpapi

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/internal/logfield"
)

// names resolves, for an answer about to be written, the names to show
// beside ids (account, role, user and key names the caller may see). A
// failure costs only the names: it is logged and the answer goes out with
// the ids alone.
func (a *API) names(r *http.Request, p *registry.Principal, q registry.NameQuery) *registry.Names {
	n, err := a.reg.ResolveNames(r.Context(), p, q)
	if err != nil {
		a.log.Warn("httpapi: could not resolve names; answering with ids only",
			zap.String(logfield.Method, r.Method), zap.String(logfield.Path, r.URL.Path), zap.Error(err))
		return nil
	}
	return n
}
