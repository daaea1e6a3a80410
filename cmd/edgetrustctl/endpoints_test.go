package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// walkEndpoints registers two printers (w.e1, w.e2) with the manual key in Acme and lists them.
func walkEndpoints(t *testing.T, w *walk) {
	w.manual = decodeJSON[api.CreatedKey](t, w.mustRun(t, "", "keys", "create", "--account", w.acmeID, "--name", "manual", "-o", "json").stdout)
	w.e1 = w.b.register(t, w.manual.Value, "p1")
	w.e2 = w.b.register(t, w.manual.Value, "p2")
	t.Run("endpoints list by address and last seen", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want int
		}{
			{[]string{"--from", "10.9.0.0/16", "--seen-after", "1h"}, 2},
			{[]string{"--from", "192.168.0.0/16"}, 0},
			{[]string{"--seen-before", "1h"}, 0},
		} {
			eps := decodeJSON[[]api.Endpoint](t, w.mustRun(t, "", append([]string{"endpoints", "list", "-o", "json"}, tc.args...)...).stdout)
			if len(eps) != tc.want {
				t.Errorf("endpoints list %v: %d endpoints, want %d", tc.args, len(eps), tc.want)
			}
		}
	})
}

// walkEndpointRecords drives what issue 12 changed about one endpoint's
// record: pages of the list (--limit, --after), approval kept apart from
// the last decision, endpoints show, the key's name in the table and the
// endpoint's whole history in the audit, newest first.
func walkEndpointRecords(t *testing.T, w *walk) {
	e3 := w.b.register(t, w.manual.Value, "p3")
	t.Run("endpoints list pages", func(t *testing.T) {
		all := decodeJSON[[]api.Endpoint](t, w.mustRun(t, "", "endpoints", "list", "-o", "json").stdout)
		if len(all) < 3 {
			t.Fatalf("%d endpoints listed, want at least 3", len(all))
		}
		var paged []api.Endpoint
		after := []string{}
		for range len(all) + 1 {
			page := decodeJSON[[]api.Endpoint](t, w.mustRun(t, "", append([]string{"endpoints", "list", "--limit", "2", "-o", "json"}, after...)...).stdout)
			if len(page) > 2 {
				t.Fatalf("--limit 2 gave %d endpoints", len(page))
			}
			if len(page) == 0 {
				break
			}
			paged = append(paged, page...)
			after = []string{"--after", page[len(page)-1].ID}
		}
		if diff := cmp.Diff(ids(all), ids(paged)); diff != "" {
			t.Errorf("pages of 2 (-all +paged):\n%s", diff)
		}
		gone := uuid.NewString()
		r := runCLI(t, w.env, "", "endpoints", "list", "--after", gone, "-o", "json")
		if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, gone) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("unknown cursor: exit %d, stdout %q, stderr %q; want 2 and one line naming it", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("approval outlives an untrust", func(t *testing.T) {
		w.mustRun(t, "", "endpoints", "approve", e3)
		approved := decodeJSON[api.Endpoint](t, w.mustRun(t, "", "endpoints", "show", e3, "-o", "json").stdout)
		w.mustRun(t, "", "endpoints", "untrust", e3)
		var got api.Endpoint
		for _, e := range decodeJSON[[]api.Endpoint](t, w.mustRun(t, "", "endpoints", "list", "-o", "json").stdout) {
			if e.ID == e3 {
				got = e
			}
		}
		if got.ApprovedAt == nil || approved.ApprovedAt == nil || !got.ApprovedAt.Equal(*approved.ApprovedAt) || got.ApprovedBy != approved.ApprovedBy {
			t.Errorf("after untrust approved by %q at %v, want %q at %v", got.ApprovedBy, got.ApprovedAt, approved.ApprovedBy, approved.ApprovedAt)
		}
		if got.LastDecision != "untrust" || got.LastDecisionBy == "" || got.LastDecisionAt == nil || !got.LastDecisionAt.After(*got.ApprovedAt) {
			t.Errorf("last decision %q by %q at %v, want untrust after the approval", got.LastDecision, got.LastDecisionBy, got.LastDecisionAt)
		}
		if got.KeyName != "manual" {
			t.Errorf("key name %q, want manual", got.KeyName)
		}
		table := w.mustRun(t, "", "endpoints", "list").stdout
		if !strings.Contains(table, "KEY-NAME") || !strings.Contains(table, "manual") {
			t.Errorf("endpoints table without the key's name: %q", table)
		}
		show := w.mustRun(t, "", "endpoints", "show", e3).stdout
		for _, s := range []string{"last decision", "untrust by user:", "approved", "(manual)"} {
			if !strings.Contains(show, s) {
				t.Errorf("endpoints show lacks %q: %q", s, show)
			}
		}
	})
	t.Run("audit --endpoint", func(t *testing.T) {
		evs := decodeJSON[[]api.AuditEvent](t, w.mustRun(t, "", "audit", "--endpoint", e3, "-o", "json").stdout)
		var actions []string
		for i, e := range evs {
			actions = append(actions, e.Action)
			if e.Target != "endpoint:"+e3 && e.Actor != "endpoint:"+e3 {
				t.Errorf("event %+v is not about %s", e, e3)
			}
			if i > 0 && e.ID >= evs[i-1].ID {
				t.Errorf("events not newest first: %d after %d", e.ID, evs[i-1].ID)
			}
		}
		if diff := cmp.Diff([]string{"endpoint.untrust", "endpoint.approve", "endpoint.register"}, actions); diff != "" {
			t.Errorf("history of %s (-want +got):\n%s", e3, diff)
		}
	})
}

func ids(eps []api.Endpoint) []string {
	var out []string
	for _, e := range eps {
		out = append(out, e.ID)
	}
	return out
}

func TestEndpointsHelp(t *testing.T) {
	runUsageCases(t, []usageCase{
		{"help show", []string{"help", "endpoints", "show"}, 0, "audit --endpoint", ""},
		{"show without id", []string{"endpoints", "show"}, 2, "", "one endpoint id"},
		{"bad limit", []string{"endpoints", "list", "--limit", "-1"}, 2, "", "--limit"},
		{"untrust example", []string{"help", "endpoints", "untrust"}, 0, "--all --state trusted", ""},
	})
	for _, action := range []string{"reject", "untrust", "delete"} {
		r := runCLI(t, map[string]string{"EDGETRUST_CONFIG_DIR": t.TempDir()}, "", "help", "endpoints", action)
		if strings.Contains(r.stdout, "noop") || strings.Contains(r.stdout, "approving") {
			t.Errorf("help of endpoints %s speaks of approving again:\n%s", action, r.stdout)
		}
	}
}
