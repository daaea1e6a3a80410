package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
)

// TestEndpointsLifecycle walks endpoints through listing, filters, their
// JSON shape, the trust decisions and deletion. The steps run in order on
// one broker, each on the states the previous left, hence the length.
func TestEndpointsLifecycle(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	acct := h.defaultAccount(t)
	manual, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: acct, Name: "manual"})
	if err != nil {
		t.Fatal(err)
	}
	auto, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: acct, Name: "auto", AutoTrust: true})
	if err != nil {
		t.Fatal(err)
	}
	e1 := h.register(t, manual.Value, "alpha-host")
	e2 := h.register(t, manual.Value, "beta-host")
	e3 := h.register(t, auto.Value, "gamma-host")

	ids := func(eps []api.Endpoint) []string {
		out := []string{}
		for _, e := range eps {
			out = append(out, e.ID)
		}
		return out
	}
	sorted := cmpopts.SortSlices(func(a, b string) bool { return a < b })
	t.Run("filters", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			f    api.EndpointFilter
			want []string
		}{
			{"all", api.EndpointFilter{}, []string{e1.ID, e2.ID, e3.ID}},
			{"pending", api.EndpointFilter{State: "pending"}, []string{e1.ID, e2.ID}},
			{"trusted", api.EndpointFilter{State: "trusted"}, []string{e3.ID}},
			{"by key", api.EndpointFilter{KeyID: auto.ID}, []string{e3.ID}},
			{"by text", api.EndpointFilter{Text: "BETA"}, []string{e2.ID}},
			{"by account", api.EndpointFilter{AccountID: acct, Type: protocol.ClientDesktop}, []string{e1.ID, e2.ID, e3.ID}},
			{"none", api.EndpointFilter{State: "rejected"}, []string{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := h.c.ListEndpoints(ctx, tc.f)
				if err != nil {
					t.Fatalf("ListEndpoints: %v", err)
				}
				if diff := cmp.Diff(tc.want, ids(got), sorted); diff != "" {
					t.Errorf("ids (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("pages", func(t *testing.T) {
		all, err := h.c.ListEndpoints(ctx, api.EndpointFilter{})
		if err != nil {
			t.Fatal(err)
		}
		first, err := h.c.ListEndpoints(ctx, api.EndpointFilter{Limit: 2})
		if err != nil || len(first) != 2 {
			t.Fatalf("limit=2: %d endpoints, %v", len(first), err)
		}
		rest, err := h.c.ListEndpoints(ctx, api.EndpointFilter{After: first[1].ID})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(ids(all), append(ids(first), ids(rest)...)); diff != "" {
			t.Errorf("limit then after (-all +pages):\n%s", diff)
		}
		gone := uuid.NewString()
		status, body := h.admin(t, "GET", "/api/v1/endpoints?after="+gone, nil)
		wantError(t, status, body, 400, "invalid_request", gone)
		status, body = h.admin(t, "GET", "/api/v1/endpoints?limit=0", nil)
		wantError(t, status, body, 400, "invalid_request", "limit")
	})

	t.Run("shape", func(t *testing.T) {
		got, err := h.c.GetEndpoint(ctx, e1.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := api.Endpoint{
			ID: e1.ID, ClientID: e1.ID, State: "pending", Type: protocol.ClientDesktop, Hostname: "alpha-host", OS: "linux",
			Version: "1.0.0", AccountID: acct, KeyID: manual.ID, KeyName: manual.Name, KeyValueID: manual.ValueID,
			RegisteredFrom: "10.1.2.3", LastSeenFrom: "10.1.2.3", KeyType: "ed25519",
			KeyFingerprint: e1.KeyThumbprint, KeyThumbprint: e1.KeyThumbprint, Bound: true,
		}
		if diff := cmp.Diff(want, *got, cmpopts.IgnoreFields(api.Endpoint{}, "RegisteredAt", "LastSeenAt")); diff != "" {
			t.Errorf("endpoint (-want +got):\n%s", diff)
		}
		if got.RegisteredAt == nil || got.LastSeenAt == nil || got.ApprovedAt != nil || got.DecidedAt != nil {
			t.Errorf("times: registered %v, last seen %v, approved %v, decided %v; want set, set, nil, nil",
				got.RegisteredAt, got.LastSeenAt, got.ApprovedAt, got.DecidedAt)
		}
	})

	// Steps run in order: each acts on the state the previous one left. The
	// approval stays what the last approve made it; the last decision
	// follows every decision (issue 12, point 1).
	approved := map[string]*time.Time{}
	steps := []struct {
		name      string
		id        string
		action    string
		wantState string
		wantCode  string // "" = success
	}{
		{"approve pending", e1.ID, api.ActionApprove, "trusted", ""},
		{"approve trusted is a no-op", e1.ID, api.ActionApprove, "trusted", ""},
		{"reject trusted conflicts", e1.ID, api.ActionReject, "", api.CodeConflict},
		{"untrust trusted", e1.ID, api.ActionUntrust, "untrusted", ""},
		{"untrust untrusted conflicts", e1.ID, api.ActionUntrust, "", api.CodeConflict},
		{"re-approve untrusted", e1.ID, api.ActionApprove, "trusted", ""},
		{"reject pending", e2.ID, api.ActionReject, "rejected", ""},
		{"approve rejected", e2.ID, api.ActionApprove, "trusted", ""},
		{"unknown endpoint", uuid.NewString(), api.ActionApprove, "", api.CodeNotFound},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			ep, err := h.c.Decide(ctx, s.id, s.action)
			if s.wantCode != "" {
				var ae *api.Error
				if !errors.As(err, &ae) || ae.Code != s.wantCode {
					t.Fatalf("Decide = %v, want error code %q", err, s.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if ep.State != s.wantState || ep.LastDecision != s.action || ep.LastDecisionBy == "" || ep.LastDecisionAt == nil ||
				ep.DecidedBy != ep.LastDecisionBy || !ep.DecidedAt.Equal(*ep.LastDecisionAt) {
				t.Errorf("after %s: state %q, last decision %q by %q at %v (decided by %q at %v); want %q, that decision, with a decider",
					s.action, ep.State, ep.LastDecision, ep.LastDecisionBy, ep.LastDecisionAt, ep.DecidedBy, ep.DecidedAt, s.wantState)
			}
			if s.action == api.ActionApprove {
				approved[s.id] = ep.LastDecisionAt
			}
			if want := approved[s.id]; (want == nil) != (ep.ApprovedAt == nil) || (want != nil && !want.Equal(*ep.ApprovedAt)) ||
				(want != nil && ep.ApprovedBy == "") {
				t.Errorf("after %s: approved by %q at %v, want the last approval's time %v", s.action, ep.ApprovedBy, ep.ApprovedAt, want)
			}
			listed, err := h.c.ListEndpoints(ctx, api.EndpointFilter{Text: s.id})
			if err != nil || len(listed) != 1 || listed[0].ApprovedAt == nil != (ep.ApprovedAt == nil) ||
				listed[0].LastDecision != ep.LastDecision || listed[0].KeyName == "" {
				t.Errorf("listed after %s: %+v, %v; want it as Decide answered, with its key's name", s.action, listed, err)
			}
		})
	}

	t.Run("delete", func(t *testing.T) {
		if err := h.c.DeleteEndpoint(ctx, e3.ID); err != nil {
			t.Fatalf("DeleteEndpoint: %v", err)
		}
		if _, err := h.c.GetEndpoint(ctx, e3.ID); !api.IsStatus(err, http.StatusNotFound) {
			t.Errorf("GetEndpoint after delete = %v, want 404", err)
		}
		if err := h.c.DeleteEndpoint(ctx, e3.ID); !api.IsStatus(err, http.StatusNotFound) {
			t.Errorf("second DeleteEndpoint = %v, want 404", err)
		}
	})
}

func TestEndpointListFilters(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	acct := h.defaultAccount(t)
	k, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: acct, Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	e1 := h.registerFrom(t, k.Value, "north-1", "10.1.0.5")
	mid := time.Now().UTC()
	// Registration times are the registry clock's: wait until it has moved on.
	waitUntil(t, func() bool { return time.Now().After(mid.Add(10 * time.Millisecond)) })
	e2 := h.registerFrom(t, k.Value, "south-1", "192.168.3.4")
	ts := mid.Add(5 * time.Millisecond).Format(time.RFC3339Nano)

	for _, tc := range []struct {
		name  string
		query string
		want  []string
	}{
		{"from", "from=10.0.0.0/8", []string{e1.ID}},
		{"from single address", "from=192.168.3.4", []string{e2.ID}},
		{"text", "text=SOUTH", []string{e2.ID}},
		{"q alias", "q=north", []string{e1.ID}},
		{"registered before", "registered_before=" + ts, []string{e1.ID}},
		{"registered after", "registered_after=" + ts, []string{e2.ID}},
		{"seen after", "seen_after=" + ts, []string{e2.ID}},
		{"seen before", "seen_before=" + ts, []string{e1.ID}},
		{"everything", "state=pending&type=desktop_client&key_id=" + k.ID + "&account_id=" + acct, []string{e1.ID, e2.ID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := h.admin(t, "GET", "/api/v1/endpoints?"+strings.ReplaceAll(tc.query, "+", "%2B"), nil)
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			var eps []api.Endpoint
			if err := json.Unmarshal(body, &eps); err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, e := range eps {
				got = append(got, e.ID)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("client filter", func(t *testing.T) {
		eps, err := h.c.ListEndpoints(ctx, api.EndpointFilter{From: "192.168.0.0/16", SeenAfter: mid, Text: "south"})
		if err != nil || len(eps) != 1 || eps[0].ID != e2.ID {
			t.Errorf("ListEndpoints = %+v, %v; want %s", eps, err, e2.ID)
		}
	})
	status, body := h.admin(t, "GET", "/api/v1/endpoints?seen_before=monday", nil)
	wantError(t, status, body, 400, "invalid_request", "seen_before")
}
