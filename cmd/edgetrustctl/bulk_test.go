package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/protocol/api"
)

func TestBulkUsage(t *testing.T) {
	runUsageCases(t, []usageCase{
		{"all and ids", []string{"endpoints", "approve", "--all", "--state", "pending", "e1"}, 2, "", "not both"},
		{"all without state", []string{"endpoints", "delete", "--all"}, 2, "", "--state"},
		{"all bad state", []string{"endpoints", "approve", "--all", "--state", "asleep"}, 2, "", "asleep"},
		{"all bad from", []string{"endpoints", "approve", "--all", "--state", "pending", "--from", "10.0.0.0/99"}, 2, "", "--from"},
		{"filter without all", []string{"endpoints", "approve", "--state", "pending", "e1"}, 2, "", "only with --all"},
	})
}

// walkBulk approves, untrusts, rejects and deletes the two printers in bulk.
func walkBulk(t *testing.T, w *walk) {
	t.Run("bulk by filter", func(t *testing.T) {
		r := w.mustRun(t, "", "endpoints", "approve", "--all", "--state", "pending", "--key", w.manual.ID, "--from", "10.9.0.0/16", "-o", "json")
		got := decodeJSON[[]api.EndpointResult](t, r.stdout)
		want := []api.EndpointResult{{ID: w.e1, OK: true, Outcome: "ok", State: "trusted"}, {ID: w.e2, OK: true, Outcome: "ok", State: "trusted"}}
		if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b api.EndpointResult) bool { return a.ID < b.ID })); diff != "" {
			t.Errorf("results (-want +got):\n%s", diff)
		}
		r = w.mustRun(t, "", "endpoints", "untrust", "--all", "--state", "trusted", "--account", w.acmeID, "--type", "printer")
		if strings.Count(r.stdout, "untrusted") != 2 {
			t.Errorf("untrust table %q", r.stdout)
		}
		r = w.mustRun(t, "", "endpoints", "approve", "--all", "--state", "pending", "--key", w.manual.ID)
		if strings.TrimSpace(r.stdout) != "ID  RESULT  STATE" {
			t.Errorf("nothing matched, table %q", r.stdout)
		}
	})
	t.Run("bulk by ids with a failure", func(t *testing.T) {
		missing := uuid.NewString()
		r := runCLI(t, w.env, "", "endpoints", "reject", w.e1, missing, "-o", "json")
		if r.code != 1 || !strings.Contains(r.stderr, "2 of 2") {
			t.Errorf("exit %d, stderr %q: want 1, two failures", r.code, r.stderr)
		}
		got := decodeJSON[[]api.EndpointResult](t, r.stdout)
		if len(got) != 2 || got[0].Outcome != "conflict" || got[1].Outcome != "not_found" {
			t.Errorf("results %+v", got)
		}
		r = w.mustRun(t, "", "endpoints", "delete", w.e1, w.e2)
		if strings.Count(r.stdout, "deleted") != 2 {
			t.Errorf("delete table %q", r.stdout)
		}
	})
}
