package console

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// The endpoints list (SPEC E6), paged by cursor, and one endpoint's page
// with its history (issue 13, point 4).

const endpointsPageSize = 50

type endpointsData struct {
	State, Type, Key, From, Text string
	States                       []registry.State
	Rows                         []registry.Endpoint
	Query                        string // the filter, without the cursor
	Next                         string
}

func (c *Console) endpointsPage(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	if !p.Holds(registry.PermViewEndpoint) {
		c.forbidden(w, r, sess, p, registry.PermViewEndpoint)
		return
	}
	pg := c.base(sess, p, "Endpoints", "endpoints")
	q := r.URL.Query()
	d := &endpointsData{State: q.Get("state"), Type: strings.TrimSpace(q.Get("type")), Key: strings.TrimSpace(q.Get("key")),
		From: strings.TrimSpace(q.Get("from")), Text: strings.TrimSpace(q.Get("q")),
		States: []registry.State{registry.StatePending, registry.StateTrusted, registry.StateRejected, registry.StateUntrusted}}
	f := registry.EndpointFilter{AccountIDs: accountIDs(sess), State: registry.State(d.State), Type: d.Type, KeyID: d.Key,
		Text: d.Text, Limit: endpointsPageSize + 1, After: q.Get("after")}
	var err error
	if d.From != "" {
		if f.From, err = parsePrefix(d.From); err != nil {
			c.fail(w, r, sess, p, err)
			return
		}
	}
	v := url.Values{}
	for k, s := range map[string]string{"state": d.State, "type": d.Type, "key": d.Key, "from": d.From, "q": d.Text} {
		if s != "" {
			v.Set(k, s)
		}
	}
	d.Query = v.Encode()
	if d.Rows, err = c.reg.ListEndpoints(r.Context(), p, f); err != nil {
		c.fail(w, r, sess, p, err)
		return
	}
	if len(d.Rows) > endpointsPageSize {
		d.Rows = d.Rows[:endpointsPageSize]
		d.Next = d.Rows[len(d.Rows)-1].ID
	}
	pg.Data = d
	c.withAccounts(r, pg, p)
	c.render(w, r, http.StatusOK, "endpoints", pg)
}

type endpointData struct {
	Endpoint *registry.Endpoint
	History  []registry.AuditEvent
	Untrust  bool // the actions the endpoint's state allows
	Approve  bool
	Reject   bool
}

func (c *Console) endpointPage(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	ep, err := c.reg.GetEndpoint(r.Context(), p, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, sess, p, err)
		return
	}
	pg := c.base(sess, p, label(ep), "endpoints")
	d := &endpointData{Endpoint: ep, Untrust: ep.State == registry.StateTrusted, Reject: ep.State == registry.StatePending,
		Approve: ep.State != registry.StateTrusted}
	if pg.Can.ViewAudit {
		// The history is what the user may read of the audit log; without
		// the permission the page shows none.
		d.History, _ = c.reg.ListAudit(r.Context(), p, registry.AuditFilter{Endpoint: ep.ID, Desc: true, Limit: 100})
	}
	pg.Data = d
	c.render(w, r, http.StatusOK, "endpoint", pg)
}

// endpointAction approves, rejects, untrusts or deletes one endpoint.
// Untrust and delete take effect only once confirmed: the first POST
// answers a confirmation form.
func (c *Console) endpointAction(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	id, action := r.PathValue("id"), registry.Action(r.PathValue("action"))
	back := "/endpoints/" + url.PathEscape(id)
	switch action {
	case registry.ActionApprove, registry.ActionReject, registry.ActionUntrust, registry.ActionDelete:
	case "clear-clone": // docs/clones.md: the mark goes, trust stays
		ep, err := c.reg.ClearCloneMark(r.Context(), p, id, remote(r))
		msg := ""
		if err == nil {
			msg = fmt.Sprintf("The clone mark of %s is cleared; it is %s.", label(ep), ep.State)
		}
		c.done(w, r, sess, p, err, msg, back)
		return
	default:
		c.fail(w, r, sess, p, registry.E(registry.KindNotFound, "no such endpoint action", nil))
		return
	}
	if (action == registry.ActionUntrust || action == registry.ActionDelete) && r.PostFormValue("confirm") != "yes" {
		ep, err := c.reg.GetEndpoint(r.Context(), p, id)
		if err != nil {
			c.fail(w, r, sess, p, err)
			return
		}
		q := fmt.Sprintf("Untrust %s? Its tokens stop working at once, and it waits for a new approval.", label(ep))
		if action == registry.ActionDelete {
			q = fmt.Sprintf("Delete %s? It is told so, and must register again to come back.", label(ep))
		}
		pg := c.base(sess, p, "Confirm: "+string(action)+" "+label(ep), "endpoints")
		pg.Data = map[string]string{"Question": q, "Action": r.URL.Path, "Back": back,
			"Button": strings.ToUpper(string(action[:1])) + string(action[1:])}
		c.render(w, r, http.StatusOK, "confirm", pg)
		return
	}
	if action == registry.ActionDelete {
		err := c.reg.DeleteEndpoint(r.Context(), p, id, remote(r))
		c.done(w, r, sess, p, err, "Endpoint deleted.", "/endpoints")
		return
	}
	ep, err := c.reg.Decide(r.Context(), p, id, action, remote(r))
	msg := ""
	if err == nil {
		msg = fmt.Sprintf("%s is now %s.", label(ep), ep.State)
	}
	c.done(w, r, sess, p, err, msg, back)
}
