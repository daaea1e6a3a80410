package console

import (
	"net/http"
	"slices"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// Accounts, users and roles, sessions (issue 13, point 6).

type accountRow struct {
	registry.Account
	ParentName string
}

func (c *Console) accountsPage(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	if !p.Holds(registry.PermViewAccount) {
		c.forbidden(w, r, sess, p, registry.PermViewAccount)
		return
	}
	accts, err := c.reg.ListAccounts(r.Context(), p)
	if err != nil {
		c.fail(w, r, sess, p, err)
		return
	}
	names := map[string]string{}
	for _, a := range accts {
		names[a.ID] = a.Name
	}
	rows := make([]accountRow, 0, len(accts))
	for _, a := range accts {
		rows = append(rows, accountRow{Account: a, ParentName: names[a.ParentID]})
	}
	pg := c.base(sess, p, "Accounts", "accounts")
	withSwitcher(pg, accts)
	pg.Data = rows
	c.render(w, r, http.StatusOK, "accounts", pg)
}

type usersData struct {
	Users     []registry.UserWithGrants
	Roles     []registry.Role
	RoleNames map[string]string
}

func (c *Console) usersPage(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	if !p.Holds(registry.PermViewUser) {
		c.forbidden(w, r, sess, p, registry.PermViewUser)
		return
	}
	pg := c.base(sess, p, "Users and roles", "users")
	c.withAccounts(r, pg, p)
	users, err := c.reg.ListUsers(r.Context(), p, pg.Account)
	if err != nil {
		c.fail(w, r, sess, p, err)
		return
	}
	roles, err := c.reg.ListRoles(r.Context(), p)
	if err != nil {
		c.fail(w, r, sess, p, err)
		return
	}
	d := &usersData{Users: users, Roles: roles, RoleNames: map[string]string{}}
	for _, role := range roles {
		d.RoleNames[role.ID] = role.Name
	}
	pg.Data = d
	c.render(w, r, http.StatusOK, "users", pg)
}

type sessionsData struct {
	User     string // "" = the user's own
	Sessions []registry.Session
}

// sessionsPage lists the user's own sessions (SPEC S6), or with ?user= and
// ViewUser another user's.
func (c *Console) sessionsPage(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	user := r.URL.Query().Get("user")
	list, err := c.reg.ListSessions(r.Context(), p, user)
	if err != nil {
		c.fail(w, r, sess, p, err)
		return
	}
	slices.SortStableFunc(list, func(a, b registry.Session) int { return b.StartedAt.Compare(a.StartedAt) })
	pg := c.base(sess, p, "Sessions", "sessions")
	pg.Data = &sessionsData{User: user, Sessions: list}
	c.render(w, r, http.StatusOK, "sessions", pg)
}

// endSession ends one session; ending the console's own signs out.
func (c *Console) endSession(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	id := r.PathValue("id")
	if id == p.SessionID {
		c.signOut(w, r, sess, p)
		return
	}
	err := c.reg.EndSession(r.Context(), p, id, remote(r))
	back := "/sessions"
	if u := r.PostFormValue("user"); u != "" {
		back += "?user=" + u
	}
	c.done(w, r, sess, p, err, "Session ended.", back)
}
