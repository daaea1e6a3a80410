package console

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// The pending queue: the approver's home page (issue 13, point 3).

// queuePageSize is how many pending endpoints one page shows; countCap how
// many the count reads at most ("10000+" beyond).
const (
	queuePageSize = 200
	countCap      = 10000
)

// queueFilter narrows the queue: by API key, endpoint type and registering
// address range.
type queueFilter struct {
	Key, Type, From string
}

func queueFilterOf(r *http.Request) queueFilter {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		q = r.PostForm
	}
	return queueFilter{Key: strings.TrimSpace(q.Get("key")), Type: strings.TrimSpace(q.Get("type")), From: strings.TrimSpace(q.Get("from"))}
}

func (f queueFilter) query() string {
	v := url.Values{}
	for k, s := range map[string]string{"key": f.Key, "type": f.Type, "from": f.From} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v.Encode()
}

// endpointFilter is the registry filter of the pending endpoints that f
// selects among the accounts looked at.
func (f queueFilter) endpointFilter(sess *session) (registry.EndpointFilter, error) {
	ef := registry.EndpointFilter{AccountIDs: accountIDs(sess), State: registry.StatePending, KeyID: f.Key, Type: f.Type}
	if f.From != "" {
		p, err := parsePrefix(f.From)
		if err != nil {
			return ef, err
		}
		ef.From = p
	}
	return ef, nil
}

// parsePrefix reads an address range: a CIDR prefix or one address.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, registry.E(registry.KindInvalid, fmt.Sprintf("address range %q: give a CIDR prefix such as 10.0.0.0/8, or one address", s), nil)
}

// queueRow is a pending endpoint with the names an approver reads.
type queueRow struct {
	registry.Endpoint
	Value string // the public id of the key value it registered with, where the user may view keys
}

type queueData struct {
	Filter    queueFilter
	Query     string
	Rows      []queueRow
	Changes   []registry.PendingKeyChange
	Count     string // "12", or "10000+"
	Next      string // cursor of the next page; "" = last page
	After     string
	Keys      []registry.APIKey // the key filter's choices
	EventsURL string
	Title     string
}

// queueData reads one page of the queue, its count and the pending key
// changes.
func (c *Console) queueData(r *http.Request, sess *session, p *registry.Principal) (*queueData, error) {
	ctx := r.Context()
	f := queueFilterOf(r)
	ef, err := f.endpointFilter(sess)
	if err != nil {
		return nil, err
	}
	d := &queueData{Filter: f, Query: f.query(), After: r.URL.Query().Get("after"), EventsURL: c.events}
	ef.Limit = countCap + 1
	all, err := c.reg.ListEndpoints(ctx, p, ef)
	if err != nil {
		return nil, err
	}
	d.Count = strconv.Itoa(len(all))
	if len(all) > countCap {
		d.Count = strconv.Itoa(countCap) + "+"
	}
	page := all
	if d.After != "" {
		ef.After, ef.Limit = d.After, queuePageSize+1
		if page, err = c.reg.ListEndpoints(ctx, p, ef); err != nil {
			return nil, err
		}
	}
	if len(page) > queuePageSize {
		page = page[:queuePageSize]
		d.Next = page[len(page)-1].ID
	}
	values := c.valueNames(r, p, page)
	for _, ep := range page {
		d.Rows = append(d.Rows, queueRow{Endpoint: ep, Value: values[ep.KeyValueID]})
	}
	if f.Key == "" && f.Type == "" && f.From == "" {
		acct := ""
		if ids := accountIDs(sess); len(ids) == 1 {
			acct = ids[0]
		}
		if d.Changes, err = c.reg.ListKeyChanges(ctx, p, acct); err != nil {
			return nil, err
		}
	}
	n := len(all) + len(d.Changes)
	d.Title = fmt.Sprintf("(%d) Pending", n)
	if len(all) > countCap {
		d.Title = fmt.Sprintf("(%d+) Pending", countCap)
	}
	return d, nil
}

// valueNames maps the key value ids of eps to their public ids, reading
// each key once, for a user who may view keys (others see none).
func (c *Console) valueNames(r *http.Request, p *registry.Principal, eps []registry.Endpoint) map[string]string {
	out := map[string]string{}
	if !p.Holds(registry.PermViewAPIKey) {
		return out
	}
	read := map[string]bool{}
	for _, ep := range eps {
		if ep.KeyID == "" || read[ep.KeyID] {
			continue
		}
		read[ep.KeyID] = true
		k, err := c.reg.GetAPIKey(r.Context(), p, ep.KeyID)
		if err != nil {
			continue // a key deleted, or of an account the user may not view
		}
		for _, v := range k.Values {
			out[v.ID] = v.PublicID
		}
	}
	return out
}

func (c *Console) queuePage(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	if !p.Holds(registry.PermViewEndpoint) {
		if p.Holds(registry.PermViewAPIKey) {
			http.Redirect(w, r, "/keys", http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, "/sessions", http.StatusSeeOther)
		return
	}
	pg := c.base(sess, p, "Pending", "queue")
	d, err := c.queueData(r, sess, p)
	if err != nil {
		c.fail(w, r, sess, p, err)
		return
	}
	if pg.Can.ViewKeys {
		d.Keys, _ = c.reg.ListAPIKeys(r.Context(), p, "")
	}
	pg.Title, pg.Data = d.Title, d
	c.withAccounts(r, pg, p)
	c.render(w, r, http.StatusOK, "queue", pg)
}

// queueRows answers the live part of the queue page, which the page's
// script fetches again when the event stream reports a change.
func (c *Console) queueRows(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	pg := c.base(sess, p, "Pending", "queue")
	d, err := c.queueData(r, sess, p)
	if err != nil {
		c.fail(w, r, sess, p, err)
		return
	}
	pg.Data = d
	var buf strings.Builder
	if err := c.pages["queue"].ExecuteTemplate(&buf, "live", pg); err != nil {
		c.fail(w, r, sess, p, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(buf.String()))
}

// queueDecide applies one row's button: "approve:<id>", "reject:<id>",
// or "approve-key:<id>:<fingerprint>", "reject-key:<id>:<fingerprint>"
// for a key change (SPEC E4).
func (c *Console) queueDecide(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	back := "/queue"
	if q := r.PostFormValue("query"); q != "" {
		back += "?" + q
	}
	parts := strings.SplitN(r.PostFormValue("one"), ":", 3)
	var err error
	var msg string
	switch {
	case len(parts) == 2 && (parts[0] == "approve" || parts[0] == "reject"):
		var ep *registry.Endpoint
		ep, err = c.reg.Decide(r.Context(), p, parts[1], registry.Action(parts[0]), remote(r))
		if err == nil {
			msg = fmt.Sprintf("%s is now %s.", label(ep), ep.State)
		}
	case len(parts) == 3 && parts[0] == "approve-key":
		_, err = c.reg.ApproveKeyChange(r.Context(), p, parts[1], parts[2], remote(r))
		msg = "Key change approved."
	case len(parts) == 3 && parts[0] == "reject-key":
		_, err = c.reg.RejectKeyChange(r.Context(), p, parts[1], parts[2], remote(r))
		msg = "Key change rejected."
	default:
		err = registry.E(registry.KindInvalid, "no decision named", nil)
	}
	c.done(w, r, sess, p, err, msg, back)
}

// queueBulk decides many: the selected rows (ids), or with "match" every
// pending endpoint the filter selects (DecideMany with a filter).
func (c *Console) queueBulk(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	f := queueFilterOf(r)
	back := "/queue"
	if q := f.query(); q != "" {
		back += "?" + q
	}
	action := registry.Action(r.PostFormValue("action"))
	if action != registry.ActionApprove && action != registry.ActionReject {
		c.done(w, r, sess, p, registry.E(registry.KindInvalid, "choose approve or reject", nil), "", back)
		return
	}
	req := registry.BulkRequest{Action: action, Remote: remote(r)}
	if r.PostFormValue("match") != "" {
		ef, err := f.endpointFilter(sess)
		if err != nil {
			c.done(w, r, sess, p, err, "", back)
			return
		}
		req.Filter = &ef
	} else {
		req.IDs = r.PostForm["id"]
		if len(req.IDs) == 0 {
			c.done(w, r, sess, p, registry.E(registry.KindInvalid, "select at least one endpoint", nil), "", back)
			return
		}
	}
	res, err := c.reg.DecideMany(r.Context(), p, req)
	if err != nil {
		c.done(w, r, sess, p, err, "", back)
		return
	}
	counts := map[string]int{}
	for _, x := range res {
		counts[x.Outcome]++
	}
	msg := fmt.Sprintf("%s: %d done", action, counts[registry.BulkOK])
	for _, o := range []string{registry.BulkNoop, registry.BulkConflict, registry.BulkNotFound, registry.BulkForbidden} {
		if counts[o] > 0 {
			msg += fmt.Sprintf(", %d %s", counts[o], strings.ReplaceAll(o, "_", " "))
		}
	}
	c.done(w, r, sess, p, nil, msg+".", back)
}

// label names an endpoint for a message: its hostname, or its id.
func label(ep *registry.Endpoint) string {
	if ep.Hostname != "" {
		return ep.Hostname
	}
	return ep.ID
}
