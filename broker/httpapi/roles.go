package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

func (a *API) createRole(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.CreateRoleRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	perms := make([]registry.Permission, 0, len(req.Permissions))
	for i, s := range req.Permissions {
		if !slices.Contains(registry.AllPermissions, registry.Permission(s)) {
			a.writeError(w, r, invalid("permissions[%d] %q is not a permission (%s)", i, s, strings.Join(api.Permissions, ", ")))
			return
		}
		perms = append(perms, registry.Permission(s))
	}
	role, err := a.reg.CreateRole(r.Context(), p, registry.CreateRoleRequest{
		AccountID: req.AccountID, Name: req.Name, Permissions: perms, Remote: remote(r),
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, a.rolesOut(r, p, *role)[0])
}

func (a *API) listRoles(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	roles, err := a.reg.ListRoles(r.Context(), p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.rolesOut(r, p, roles...))
}

func (a *API) deleteRole(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	if err := a.reg.DeleteRole(r.Context(), p, r.PathValue("id"), remote(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// rolesOut converts roles for the API, with their accounts' names.
func (a *API) rolesOut(r *http.Request, p *registry.Principal, roles ...registry.Role) []api.Role {
	var q registry.NameQuery
	for _, ro := range roles {
		q.Accounts = append(q.Accounts, ro.AccountID)
	}
	n := a.names(r, p, q)
	out := make([]api.Role, 0, len(roles))
	for i := range roles {
		out = append(out, roleOut(&roles[i], n))
	}
	return out
}

func roleOut(ro *registry.Role, n *registry.Names) api.Role {
	perms := make([]string, 0, len(ro.Permissions))
	for _, p := range ro.Permissions {
		perms = append(perms, string(p))
	}
	return api.Role{ID: ro.ID, AccountID: ro.AccountID, AccountName: n.Account(ro.AccountID), Name: ro.Name, Permissions: perms, BuiltIn: ro.BuiltIn, CreatedAt: ro.CreatedAt.UTC()}
}

func (a *API) grant(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.GrantRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if strings.TrimSpace(req.Role) == "" {
		a.writeError(w, r, invalid("role is required: a role id or name (see GET /api/v1/roles)"))
		return
	}
	g, err := a.reg.Grant(r.Context(), p, r.PathValue("id"), req.Role, req.AccountID, remote(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, grantOut(g, a.names(r, p, registry.NameQuery{Accounts: []string{g.AccountID}, Roles: []string{g.RoleID}})))
}

func (a *API) ungrant(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	q := r.URL.Query()
	role := q.Get("role")
	if strings.TrimSpace(role) == "" {
		a.writeError(w, r, invalid("the query parameter role is required: a role id or name"))
		return
	}
	if err := a.reg.Ungrant(r.Context(), p, r.PathValue("id"), role, q.Get("account_id"), remote(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func grantOut(g *registry.Grant, n *registry.Names) api.Grant {
	return api.Grant{RoleID: g.RoleID, RoleName: n.Role(g.RoleID), AccountID: g.AccountID,
		AccountName: n.Account(g.AccountID), CreatedAt: g.CreatedAt.UTC()}
}
