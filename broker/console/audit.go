package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// The audit log with its filters, newest first (issue 13, point 6).

const auditPageSize = 100

type auditData struct {
	Action, Actor, Target, Outcome, Endpoint, Since, Until string
	Events                                                 []registry.AuditEvent
	Query                                                  string
	Next                                                   int64 // BeforeID of the next (older) page; 0 = none
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	if !p.Holds(registry.PermViewAuditLog) {
		c.forbidden(w, r, sess, p, registry.PermViewAuditLog)
		return
	}
	q := r.URL.Query()
	d := &auditData{Action: strings.TrimSpace(q.Get("action")), Actor: strings.TrimSpace(q.Get("actor")),
		Target: strings.TrimSpace(q.Get("target")), Outcome: q.Get("outcome"), Endpoint: strings.TrimSpace(q.Get("endpoint")),
		Since: q.Get("since"), Until: q.Get("until")}
	f := registry.AuditFilter{AccountIDs: accountIDs(sess), Action: d.Action, Actor: d.Actor, Target: d.Target,
		Outcome: d.Outcome, Endpoint: d.Endpoint, Desc: true, Limit: auditPageSize + 1}
	var err error
	if f.Since, err = formTime(d.Since); err == nil {
		f.Until, err = formTime(d.Until)
	}
	if err == nil && q.Get("before") != "" {
		if f.BeforeID, err = strconv.ParseInt(q.Get("before"), 10, 64); err != nil {
			err = registry.E(registry.KindInvalid, "before: not an event id", nil)
		}
	}
	if err != nil {
		c.fail(w, r, sess, p, err)
		return
	}
	if d.Events, err = c.reg.ListAudit(r.Context(), p, f); err != nil {
		c.fail(w, r, sess, p, err)
		return
	}
	if len(d.Events) > auditPageSize {
		d.Events = d.Events[:auditPageSize]
		d.Next = d.Events[len(d.Events)-1].ID
	}
	v := url.Values{}
	for k, s := range map[string]string{"action": d.Action, "actor": d.Actor, "target": d.Target, "outcome": d.Outcome,
		"endpoint": d.Endpoint, "since": d.Since, "until": d.Until} {
		if s != "" {
			v.Set(k, s)
		}
	}
	d.Query = v.Encode()
	pg := c.base(sess, p, "Audit log", "audit")
	c.withAccounts(r, pg, p)
	pg.Data = d
	c.render(w, r, http.StatusOK, "audit", pg)
}
