package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/protocol/api"
)

func TestAuditUsage(t *testing.T) {
	runUsageCases(t, []usageCase{
		{"audit bad since", []string{"audit", "--since", "monday"}, 2, "", "--since"},
		{"audit bad outcome", []string{"audit", "--outcome", "maybe"}, 2, "", "--outcome"},
		{"audit bad limit", []string{"audit", "--limit", "-2"}, 2, "", "--limit"},
		{"help audit says newest first", []string{"help", "audit"}, 0, "newest first", ""},
		{"help audit", []string{"help", "audit"}, 0, "Example:", ""},
	})
}

// walkAudit reads the events of the steps before it.
func walkAudit(t *testing.T, w *walk) {
	t.Run("audit", func(t *testing.T) {
		since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		r := w.mustRun(t, "", "audit", "--since", since, "--action", "apikey.", "-o", "json")
		evs := decodeJSON[[]map[string]any](t, r.stdout)
		actions := map[string]bool{}
		for _, e := range evs {
			for _, f := range []string{"time", "actor", "action", "account_id", "target", "outcome"} {
				if _, ok := e[f]; !ok {
					t.Errorf("event lacks %q: %v", f, e)
				}
			}
			a, _ := e["action"].(string)
			if !strings.HasPrefix(a, "apikey.") {
				t.Errorf("action %q outside the filter", a)
			}
			actions[a] = true
		}
		for _, a := range []string{"apikey.create", "apikey.update", "apikey.delete", "apikey.value.add", "apikey.value.regenerate", "apikey.value.revoke"} {
			if !actions[a] {
				t.Errorf("no %s event in %v", a, actions)
			}
		}
		if strings.Contains(r.stdout, w.key.Value) || strings.Contains(r.stdout, w.manual.Value) {
			t.Error("the audit shows a key value")
		}
		// Newest first (issue 12, point 9): --limit N is the N newest.
		all := decodeJSON[[]api.AuditEvent](t, w.mustRun(t, "", "audit", "-o", "json").stdout)
		for i := 1; i < len(all); i++ {
			if all[i].ID >= all[i-1].ID {
				t.Fatalf("audit not newest first: id %d after %d", all[i].ID, all[i-1].ID)
			}
		}
		if len(all) <= 3 {
			t.Fatalf("only %d events", len(all))
		}
		limited := decodeJSON[[]api.AuditEvent](t, w.mustRun(t, "", "audit", "--limit", "3", "-o", "json").stdout)
		if diff := cmp.Diff(all[:3], limited); diff != "" {
			t.Errorf("--limit 3 is not the 3 newest (-want +got):\n%s", diff)
		}
		oldest := decodeJSON[[]api.AuditEvent](t, w.mustRun(t, "", "audit", "--limit", "2", "--oldest-first", "-o", "json").stdout)
		if len(oldest) != 2 || oldest[0].ID != all[len(all)-1].ID || oldest[1].ID <= oldest[0].ID {
			t.Errorf("--oldest-first --limit 2 = %+v", oldest)
		}
		table := w.mustRun(t, "", "audit", "--action", "endpoint.approve", "--since", "1h").stdout
		if !strings.HasPrefix(table, "TIME") || strings.Count(table, "endpoint.approve") != 3 || !strings.Contains(table, "admin (user:") {
			t.Errorf("audit table (three approvals by admin, named) %q", table)
		}
	})
}
