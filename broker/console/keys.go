package console

import (
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// API keys (SPEC K1–K12): the list, create (the value shown once), edit,
// values with their usage, regenerate, and edge devices (issue 13, point 5).

type keyRow struct {
	registry.APIKey
	AccountName string
	Inherited   bool // a key of an account above the one looked at (SPEC K5)
}

type edgeDevice struct {
	AccountName string
	Value       registry.KeyValue
}

type keysData struct {
	Keys     []keyRow
	Edge     []edgeDevice
	Account  string // the account new keys and edge devices go to ("" = the user's own)
	HasPre   bool   // some key is predefined: show the advice
	CanEdge  bool
	Accounts map[string]string
}

func (c *Console) keysPage(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	if !p.Holds(registry.PermViewAPIKey) {
		c.forbidden(w, r, sess, p, registry.PermViewAPIKey)
		return
	}
	ctx := r.Context()
	pg := c.base(sess, p, "API keys", "keys")
	names, parents := map[string]string{}, map[string]string{}
	for _, a := range c.accountsOf(r, pg, p) {
		names[a.ID], parents[a.ID] = a.Name, a.ParentID
	}
	d := &keysData{Account: pg.Account, Accounts: names}
	add := func(keys []registry.APIKey, inherited bool) {
		for _, k := range keys {
			d.Keys = append(d.Keys, keyRow{APIKey: k, AccountName: names[k.AccountID], Inherited: inherited})
			d.HasPre = d.HasPre || k.Predefined
		}
	}
	if pg.Account == "" {
		keys, err := c.reg.ListAPIKeys(ctx, p, "")
		if err != nil {
			c.fail(w, r, sess, p, err)
			return
		}
		add(keys, false)
	} else {
		keys, err := c.reg.ListAPIKeys(ctx, p, pg.Account)
		if err != nil {
			c.fail(w, r, sess, p, err)
			return
		}
		add(keys, false)
		// The keys of the accounts above, which this one inherits (K5),
		// where the user may view them.
		for id := parents[pg.Account]; id != ""; id = parents[id] {
			if keys, err := c.reg.ListAPIKeys(ctx, p, id); err == nil {
				add(keys, true)
			}
		}
	}
	// Edge devices (K7): the values of the predefined Edge keys.
	for _, k := range d.Keys {
		if !k.Predefined || k.Type != registry.KeyEdge || k.Inherited {
			continue
		}
		d.CanEdge = true
		kv, err := c.reg.GetAPIKey(ctx, p, k.ID)
		if err != nil {
			continue
		}
		for _, v := range kv.Values {
			if v.EdgeDevice != "" && v.RevokedAt.IsZero() {
				d.Edge = append(d.Edge, edgeDevice{AccountName: k.AccountName, Value: v})
			}
		}
	}
	pg.Data = d
	c.render(w, r, http.StatusOK, "keys", pg)
}

// formTime reads a date field ("2006-01-02", the day's start in UTC);
// "" is the zero time (never).
func formTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, registry.E(registry.KindInvalid, "expiry "+strconv.Quote(s)+": give a date as YYYY-MM-DD", nil)
}

// formPrefixes reads allowed addresses: prefixes or addresses separated by
// commas or spaces.
func formPrefixes(s string) ([]netip.Prefix, error) {
	out := []netip.Prefix{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' }) {
		p, err := parsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func checked(r *http.Request, name string) bool { return r.PostFormValue(name) != "" }

func (c *Console) createKey(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	req := registry.CreateAPIKeyRequest{AccountID: r.PostFormValue("account"), Name: strings.TrimSpace(r.PostFormValue("name")),
		Description: r.PostFormValue("description"), Type: registry.KeyType(r.PostFormValue("type")),
		AutoTrust: checked(r, "auto_trust"), AllowUntrustedEndpoints: checked(r, "allow_untrusted"),
		AllowUnauthenticated: checked(r, "allow_unauthenticated"), FullAPIAccess: checked(r, "full_api_access"),
		Remote: remote(r)}
	var err error
	if req.ExpiresAt, err = formTime(r.PostFormValue("expires")); err == nil {
		req.AllowedIPs, err = formPrefixes(r.PostFormValue("allowed_ips"))
	}
	if err != nil {
		c.done(w, r, sess, p, err, "", "/keys")
		return
	}
	ck, err := c.reg.CreateAPIKey(r.Context(), p, req)
	if err != nil {
		c.done(w, r, sess, p, err, "", "/keys")
		return
	}
	c.showOnce(sess, ck.Key.ID, ck.ValueID, ck.Value)
	c.done(w, r, sess, p, nil, "Key "+ck.Key.Name+" created.", "/keys/"+url.PathEscape(ck.Key.ID))
}

// showOnce keeps a new value for the next page of its key, which shows it
// and forgets it: a reload no longer shows it (SPEC K3).
func (c *Console) showOnce(sess *session, keyID, valueID, value string) {
	sess.mu.Lock()
	sess.secret = &shownSecret{keyID: keyID, valueID: valueID, value: value}
	sess.mu.Unlock()
}

type keyData struct {
	Key         registry.APIKey
	Values      []registry.KeyValue
	AccountName string
	Secret      *shownSecret
	Expires     string // the expiry as a date field value
	AllowedIPs  string
}

// Secret exposes a value shown once to the template.
func (s *shownSecret) Value() string   { return s.value }
func (s *shownSecret) ValueID() string { return s.valueID }

func (c *Console) keyPage(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	id := r.PathValue("id")
	kv, err := c.reg.GetAPIKey(r.Context(), p, id)
	if err != nil {
		c.fail(w, r, sess, p, err)
		return
	}
	pg := c.base(sess, p, "API key "+kv.Key.Name, "keys")
	d := &keyData{Key: kv.Key, Values: kv.Values, AccountName: kv.Key.AccountID}
	if a, err := c.reg.GetAccount(r.Context(), p, kv.Key.AccountID); err == nil {
		d.AccountName = a.Name
	}
	sess.mu.Lock()
	if sess.secret != nil && sess.secret.keyID == id {
		d.Secret, sess.secret = sess.secret, nil
	}
	sess.mu.Unlock()
	if !kv.Key.ExpiresAt.IsZero() {
		d.Expires = kv.Key.ExpiresAt.UTC().Format("2006-01-02")
	}
	d.AllowedIPs = funcs["prefixes"].(func([]netip.Prefix) string)(kv.Key.AllowedIPs)
	slices.SortStableFunc(d.Values, func(a, b registry.KeyValue) int { return a.CreatedAt.Compare(b.CreatedAt) })
	pg.Data = d
	c.render(w, r, http.StatusOK, "key", pg)
}

func (c *Console) updateKey(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	id := r.PathValue("id")
	back := "/keys/" + url.PathEscape(id)
	name, desc, group := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("description"), r.PostFormValue("group")
	active, auto, untrusted := checked(r, "active"), checked(r, "auto_trust"), checked(r, "allow_untrusted")
	unauth, full := checked(r, "allow_unauthenticated"), checked(r, "full_api_access")
	u := registry.APIKeyUpdate{Name: &name, Description: &desc, Group: &group, Active: &active, AutoTrust: &auto,
		AllowUntrustedEndpoints: &untrusted, AllowUnauthenticated: &unauth, FullAPIAccess: &full, Remote: remote(r)}
	exp, err := formTime(r.PostFormValue("expires"))
	if err != nil {
		c.done(w, r, sess, p, err, "", back)
		return
	}
	ips, err := formPrefixes(r.PostFormValue("allowed_ips"))
	if err != nil {
		c.done(w, r, sess, p, err, "", back)
		return
	}
	u.ExpiresAt, u.AllowedIPs = &exp, &ips
	_, err = c.reg.UpdateAPIKey(r.Context(), p, id, u)
	c.done(w, r, sess, p, err, "Key saved.", back)
}

// confirmPage answers the first POST of a destructive key action with a
// confirmation form that posts again with confirm=yes.
func (c *Console) confirmPage(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal, title, question, button, back string) {
	pg := c.base(sess, p, title, "keys")
	pg.Data = map[string]string{"Question": question, "Action": r.URL.Path, "Back": back, "Button": button,
		"Value": r.PostFormValue("value"), "Account": r.PostFormValue("account")}
	c.render(w, r, http.StatusOK, "confirm", pg)
}

func (c *Console) regenerate(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	id := r.PathValue("id")
	back := "/keys/" + url.PathEscape(id)
	if r.PostFormValue("confirm") != "yes" {
		c.confirmPage(w, r, sess, p, "Confirm: regenerate", "Regenerate this value? The old value stops working at once; "+
			"every device that uses it needs the new one.", "Regenerate", back)
		return
	}
	cv, err := c.reg.RegenerateKeyValue(r.Context(), p, id, r.PostFormValue("value"), remote(r))
	if err == nil {
		c.showOnce(sess, id, cv.ValueID, cv.Value)
	}
	c.done(w, r, sess, p, err, "Value regenerated.", back)
}

func (c *Console) addValue(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	id := r.PathValue("id")
	back := "/keys/" + url.PathEscape(id)
	req := registry.AddValueRequest{Description: r.PostFormValue("description"), Remote: remote(r)}
	var err error
	if s := strings.TrimSpace(r.PostFormValue("use_limit")); s != "" {
		if req.UseLimit, err = strconv.ParseInt(s, 10, 64); err != nil {
			err = registry.E(registry.KindInvalid, "use limit: give a whole number (0 = unlimited)", nil)
		}
	}
	if err == nil {
		req.ExpiresAt, err = formTime(r.PostFormValue("expires"))
	}
	if err != nil {
		c.done(w, r, sess, p, err, "", back)
		return
	}
	cv, err := c.reg.AddKeyValue(r.Context(), p, id, req)
	if err == nil {
		c.showOnce(sess, id, cv.ValueID, cv.Value)
	}
	c.done(w, r, sess, p, err, "Value added.", back)
}

func (c *Console) revokeValue(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	id := r.PathValue("id")
	back := "/keys/" + url.PathEscape(id)
	if r.PostFormValue("confirm") != "yes" {
		c.confirmPage(w, r, sess, p, "Confirm: revoke", "Revoke this value? It stops working at once.", "Revoke", back)
		return
	}
	err := c.reg.RevokeKeyValue(r.Context(), p, id, r.PathValue("value"), remote(r))
	c.done(w, r, sess, p, err, "Value revoked.", back)
}

func (c *Console) addEdgeDevice(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	cv, err := c.reg.AddEdgeDevice(r.Context(), p, r.PostFormValue("account"), strings.TrimSpace(r.PostFormValue("name")),
		r.PostFormValue("description"), remote(r))
	if err != nil {
		c.done(w, r, sess, p, err, "", "/keys")
		return
	}
	c.showOnce(sess, cv.KeyID, cv.ValueID, cv.Value)
	c.done(w, r, sess, p, nil, "Edge device added: its value is below, shown once.", "/keys/"+url.PathEscape(cv.KeyID))
}

func (c *Console) removeEdgeDevice(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	if r.PostFormValue("confirm") != "yes" {
		c.confirmPage(w, r, sess, p, "Confirm: remove edge device", "Remove this edge device? Its value stops working at once.", "Remove", "/keys")
		return
	}
	err := c.reg.RemoveEdgeDevice(r.Context(), p, r.PostFormValue("account"), r.PathValue("value"), remote(r))
	c.done(w, r, sess, p, err, "Edge device removed.", "/keys")
}
