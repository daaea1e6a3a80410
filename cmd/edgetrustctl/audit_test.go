package main

import (
	"strings"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/protocol/api"
)

func TestAuditUsage(t *testing.T) {
	runUsageCases(t, []usageCase{
		{"audit bad since", []string{"audit", "--since", "monday"}, 2, "", "--since"},
		{"audit bad outcome", []string{"audit", "--outcome", "maybe"}, 2, "", "--outcome"},
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
		limited := decodeJSON[[]api.AuditEvent](t, w.mustRun(t, "", "audit", "--limit", "3", "-o", "json").stdout)
		if len(limited) != 3 {
			t.Errorf("--limit 3 gave %d events", len(limited))
		}
		table := w.mustRun(t, "", "audit", "--action", "endpoint.approve", "--since", "1h").stdout
		if !strings.HasPrefix(table, "TIME") || strings.Count(table, "endpoint.approve") != 2 {
			t.Errorf("audit table %q", table)
		}
	})
}
