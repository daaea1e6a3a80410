package httpapi

import (
	"net/http"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

func (a *API) createUser(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.CreateUserRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	u, err := a.reg.CreateUser(r.Context(), p, registry.CreateUserRequest{
		AccountID: req.AccountID, Username: req.Username, Domain: req.Domain, UPN: req.UPN, Email: req.Email,
		Password: req.Password, CardID: req.CardID, ShortID: req.ShortID, Roles: req.Roles, Remote: remote(r),
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, a.usersOut(r, p, *u)[0])
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	users, err := a.reg.ListUsers(r.Context(), p, r.URL.Query().Get("account_id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.usersOut(r, p, users...))
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	u, err := a.reg.GetUser(r.Context(), p, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.usersOut(r, p, *u)[0])
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.UpdateUserRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	u, err := a.reg.UpdateUser(r.Context(), p, r.PathValue("id"), registry.UserUpdate{
		Domain: req.Domain, UPN: req.UPN, Email: req.Email, Password: req.Password,
		CardID: req.CardID, ShortID: req.ShortID, Disabled: req.Disabled, Remote: remote(r),
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.usersOut(r, p, *u)[0])
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	if err := a.reg.DeleteUser(r.Context(), p, r.PathValue("id"), remote(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// usersOut converts users for the API, with the names of their accounts
// and of the roles and accounts of their grants.
func (a *API) usersOut(r *http.Request, p *registry.Principal, users ...registry.UserWithGrants) []api.UserDetail {
	var q registry.NameQuery
	for _, u := range users {
		q.Accounts = append(q.Accounts, u.User.AccountID)
		for _, g := range u.Grants {
			q.Accounts, q.Roles = append(q.Accounts, g.AccountID), append(q.Roles, g.RoleID)
		}
	}
	n := a.names(r, p, q)
	out := make([]api.UserDetail, 0, len(users))
	for i := range users {
		out = append(out, userOut(&users[i], n))
	}
	return out
}

func userOut(u *registry.UserWithGrants, n *registry.Names) api.UserDetail {
	grants := make([]api.Grant, 0, len(u.Grants))
	for i := range u.Grants {
		grants = append(grants, grantOut(&u.Grants[i], n))
	}
	x := u.User
	return api.UserDetail{
		User:        api.User{ID: x.ID, Username: x.Username, AccountID: x.AccountID},
		AccountName: n.Account(x.AccountID),
		Domain:      x.Domain, UPN: x.UPN, Email: x.Email, CardID: x.CardID, ShortID: x.ShortID,
		Source: x.Source, Disabled: x.Disabled, Grants: grants,
		CreatedAt: x.CreatedAt.UTC(), UpdatedAt: x.UpdatedAt.UTC(),
	}
}
