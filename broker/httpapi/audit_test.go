package httpapi_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/protocol/api"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
)

// TestAuditRoute checks GET /api/v1/audit: the event of an approval, the
// filters, paging and that no secret is recorded. It is one long test
// because its subtests read the events its first lines cause, on one
// broker.
func TestAuditRoute(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	acct := h.defaultAccount(t)
	start := time.Now().Add(-time.Second).UTC()
	k, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: acct, Name: "audited"})
	if err != nil {
		t.Fatal(err)
	}
	e := h.registerFrom(t, k.Value, "h", "10.1.2.3")
	if _, err := h.c.ApproveEndpoint(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	bad := api.New(h.srv.URL, h.srv.Client())
	_, _ = bad.SignIn(ctx, api.SignInRequest{Username: "admin", Password: "wrong-password"})

	actor := "user:" + h.tokens.User.ID
	t.Run("approve", func(t *testing.T) {
		evs, err := h.c.ListAudit(ctx, api.AuditFilter{Action: "endpoint.approve", Since: start})
		if err != nil {
			t.Fatalf("ListAudit: %v", err)
		}
		want := []api.AuditEvent{{Actor: actor, ActorName: "admin", Action: "endpoint.approve", AccountID: acct, Target: "endpoint:" + e.ID,
			Outcome: "success", Detail: map[string]string{"from": "pending", "to": "trusted"}}}
		if diff := cmp.Diff(want, evs, cmpopts.IgnoreFields(api.AuditEvent{}, "ID", "Time", "Remote")); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
	t.Run("filters", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			f    api.AuditFilter
			want []string // actions
		}{
			{"prefix", api.AuditFilter{Action: "apikey.", Actor: actor}, []string{"apikey.create"}},
			{"target", api.AuditFilter{Target: "apikey:" + k.ID}, []string{"apikey.create"}},
			{"failures", api.AuditFilter{Outcome: "failure", Action: "auth.signin"}, []string{"auth.signin"}},
			{"account", api.AuditFilter{AccountID: acct, Since: start, Action: "endpoint."}, []string{"endpoint.register", "endpoint.approve"}},
			{"until before everything", api.AuditFilter{Until: start.Add(-time.Hour)}, []string{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				evs, err := h.c.ListAudit(ctx, tc.f)
				if err != nil {
					t.Fatalf("ListAudit: %v", err)
				}
				got := []string{}
				for _, e := range evs {
					got = append(got, e.Action)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("actions (-want +got):\n%s", diff)
				}
			})
		}
	})
	t.Run("paging", func(t *testing.T) {
		all, err := h.c.ListAudit(ctx, api.AuditFilter{})
		if err != nil || len(all) < 4 {
			t.Fatalf("ListAudit = %d events, %v", len(all), err)
		}
		var paged []api.AuditEvent
		f := api.AuditFilter{Limit: 2}
		for {
			page, err := h.c.ListAudit(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > 2 {
				t.Fatalf("page of %d, limit 2", len(page))
			}
			paged = append(paged, page...)
			if len(page) < 2 {
				break
			}
			f.AfterID = page[len(page)-1].ID
		}
		if diff := cmp.Diff(all, paged); diff != "" {
			t.Errorf("paged events differ from the whole list (-want +got):\n%s", diff)
		}
	})
	t.Run("newest first", func(t *testing.T) {
		all, err := h.c.ListAudit(ctx, api.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var paged []api.AuditEvent
		f := api.AuditFilter{Limit: 2, Desc: true}
		for {
			page, err := h.c.ListAudit(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, page...)
			if len(page) < 2 {
				break
			}
			f.BeforeID = page[len(page)-1].ID
		}
		slices.Reverse(paged)
		if diff := cmp.Diff(all, paged); diff != "" {
			t.Errorf("order=desc paged by before_id, reversed, differs from the whole list (-want +got):\n%s", diff)
		}
	})
	t.Run("one endpoint's history", func(t *testing.T) {
		evs, err := h.c.ListAudit(ctx, api.AuditFilter{EndpointID: e.ID, Desc: true})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ev := range evs {
			got = append(got, ev.Action+" "+ev.Target)
		}
		want := []string{"endpoint.approve endpoint:" + e.ID, "endpoint.register endpoint:" + e.ID}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("history (-want +got):\n%s", diff)
		}
	})
	t.Run("no secrets", func(t *testing.T) {
		_, body := h.admin(t, "GET", "/api/v1/audit", nil)
		for _, s := range []string{k.Value, adminPassword, "wrong-password", h.tokens.AccessToken} {
			if strings.Contains(string(body), s) {
				t.Errorf("the audit log holds a secret")
			}
		}
	})
	for _, tc := range []struct{ name, query, inDesc string }{
		{"bad since", "since=yesterday", "since"},
		{"bad limit", "limit=0", "limit"},
		{"limit too large", fmt.Sprintf("limit=%d", 100000), "limit"},
		{"bad after_id", "after_id=x", "after_id"},
		{"bad outcome", "outcome=maybe", "outcome"},
		{"bad order", "order=sideways", "order"},
		{"bad before_id", "before_id=-1", "before_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := h.admin(t, "GET", "/api/v1/audit?"+tc.query, nil)
			wantError(t, status, body, 400, "invalid_request", tc.inDesc)
		})
	}
	status, body := h.admin(t, "GET", "/api/v1/audit?account_id="+uuid.NewString(), nil)
	wantError(t, status, body, 404, "not_found", "")
}
