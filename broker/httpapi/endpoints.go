package httpapi

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
)

var listStates = map[string]registry.State{
	protocol.StatePending: registry.StatePending, protocol.StateTrusted: registry.StateTrusted,
	protocol.StateRejected: registry.StateRejected, protocol.StateUntrusted: registry.StateUntrusted,
}

// listEndpoints lists the endpoints matching the filters of endpointFilter.
func (a *API) listEndpoints(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	f, err := endpointFilter(r.URL.Query())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	eps, err := a.reg.ListEndpoints(r.Context(), p, f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]api.Endpoint, 0, len(eps))
	for i := range eps {
		out = append(out, endpointOut(&eps[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getEndpoint(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	ep, err := a.reg.GetEndpoint(r.Context(), p, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, endpointOut(ep))
}

func (a *API) decide(action registry.Action) principalHandler {
	return func(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
		ep, err := a.reg.Decide(r.Context(), p, r.PathValue("id"), action, remote(r))
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, endpointOut(ep))
	}
}

// clearCloneMark is POST /api/v1/endpoints/{id}/clear-clone: an
// administrator has dealt with a suspected clone (docs/clones.md).
func (a *API) clearCloneMark(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	ep, err := a.reg.ClearCloneMark(r.Context(), p, r.PathValue("id"), remote(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, endpointOut(ep))
}

func (a *API) deleteEndpoint(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	if err := a.reg.DeleteEndpoint(r.Context(), p, r.PathValue("id"), remote(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// endpointFilter reads the filters of GET /api/v1/endpoints: state, type,
// key_id, account_id, from (CIDR of the registering address), text (or q:
// text in id, host name or description), seen_before, seen_after,
// registered_before and registered_after (RFC 3339); and pages: limit (at
// most that many, 1 to maxEndpointLimit; none = all) and after (the id of
// the last endpoint of the previous page).
func endpointFilter(q url.Values) (registry.EndpointFilter, error) {
	var f registry.EndpointFilter
	if s := q.Get("state"); s != "" {
		st, ok := listStates[s]
		if !ok {
			return f, invalid("unknown state %q (pending, trusted, rejected, untrusted)", s)
		}
		f.State = st
	}
	if id := q.Get("account_id"); id != "" {
		f.AccountIDs = []string{id}
	}
	if t := q.Get("type"); t != "" {
		if !protocol.ValidClientType(t) {
			return f, invalid("unknown endpoint type %q", t)
		}
		f.Type = t
	}
	f.KeyID = q.Get("key_id")
	f.Text = q.Get("text")
	if f.Text == "" {
		f.Text = q.Get("q")
	}
	if len(f.Text) > 256 {
		return f, invalid("text is longer than 256 bytes")
	}
	if from := q.Get("from"); from != "" {
		pfx, err := parsePrefix(from)
		if err != nil {
			return f, invalid("from %q is not a CIDR prefix like 10.1.0.0/16", from)
		}
		f.From = pfx
	}
	for name, dst := range map[string]*time.Time{
		"seen_before": &f.SeenBefore, "seen_after": &f.SeenAfter,
		"registered_before": &f.RegisteredBefore, "registered_after": &f.RegisteredAfter,
	} {
		t, err := timeParam(q, name)
		if err != nil {
			return f, err
		}
		*dst = t
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxEndpointLimit {
			return f, invalid("limit %q must be a number from 1 to %d", s, maxEndpointLimit)
		}
		f.Limit = n
	}
	f.After = q.Get("after")
	if len(f.After) > 256 {
		return f, invalid("after is longer than 256 bytes")
	}
	return f, nil
}

// maxEndpointLimit bounds one page of the endpoint list.
const maxEndpointLimit = 5000

// parsePrefix parses a CIDR prefix (or a plain address, a one-address
// prefix), masked and with IPv4-mapped IPv6 turned into IPv4.
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		ad, aerr := netip.ParseAddr(s)
		if aerr != nil || ad.Zone() != "" {
			return netip.Prefix{}, err
		}
		ad = ad.Unmap()
		return netip.PrefixFrom(ad, ad.BitLen()), nil
	}
	if pfx.Addr().Is4In6() && pfx.Bits() >= 96 {
		pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
	}
	return pfx.Masked(), nil
}

func endpointOut(e *registry.Endpoint) api.Endpoint {
	return api.Endpoint{
		ID: e.ID, ClientID: e.ID, State: string(e.State), Type: e.Type, Description: e.Description,
		Hostname: e.Hostname, OS: e.OS, Version: e.Version, AccountID: e.AccountID,
		KeyID: e.KeyID, KeyName: e.KeyName, KeyValueID: e.KeyValueID,
		RegisteredAt: timePtr(e.RegisteredAt), RegisteredFrom: e.RegisteredFrom,
		ApprovedBy: e.ApprovedBy, ApprovedAt: timePtr(e.ApprovedAt),
		LastDecision: e.LastDecision, LastDecisionBy: e.LastDecisionBy, LastDecisionAt: timePtr(e.LastDecisionAt),
		DecidedBy: e.LastDecisionBy, DecidedAt: timePtr(e.LastDecisionAt),
		LastSeenAt: timePtr(e.LastSeenAt), LastSeenFrom: e.LastSeenFrom,
		KeyType: e.KeyType, KeyFingerprint: e.KeyThumbprint, KeyThumbprint: e.KeyThumbprint, Bound: len(e.PublicKey) > 0,
		CloneSuspectedAt: timePtr(e.CloneSuspectedAt),
	}
}
