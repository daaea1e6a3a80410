package httpapi

import (
	"net/http"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// listSessions lists the caller's live sessions, or (user_id, ViewUser)
// another user's.
func (a *API) listSessions(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	ss, err := a.reg.ListSessions(r.Context(), p, r.URL.Query().Get("user_id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]api.Session, 0, len(ss))
	for i := range ss {
		out = append(out, sessionOut(&ss[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

// endSession ends one session: the caller's own, or (ModifyUser) another
// user's.
func (a *API) endSession(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	if err := a.reg.EndSession(r.Context(), p, r.PathValue("id"), remote(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// endSessions ends every session of the caller, or (user_id, ModifyUser)
// of another user.
func (a *API) endSessions(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	n, err := a.reg.EndSessions(r.Context(), p, r.URL.Query().Get("user_id"), remote(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.SessionsEnded{Ended: n})
}

func sessionOut(s *registry.Session) api.Session {
	return api.Session{
		ID: s.ID, UserID: s.UserID, AccountID: s.AccountID, EndpointID: s.EndpointID,
		StartedAt: s.StartedAt.UTC(), RefreshedAt: s.RefreshedAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(), Current: s.Current,
	}
}
