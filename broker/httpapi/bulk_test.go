package httpapi_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/protocol/api"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
)

// TestBulkRoute checks POST /api/v1/endpoints/bulk (SPEC E5): each action
// by ids and by filter, the raw answer, the refusals, and a large id list.
// Its steps share one broker and run in order on the endpoints the first
// lines register, hence the length.
func TestBulkRoute(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	acct := h.defaultAccount(t)
	manual, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: acct, Name: "manual"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: acct, Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	a1 := h.registerFrom(t, manual.Value, "a1", "10.1.0.5")
	a2 := h.registerFrom(t, manual.Value, "a2", "10.1.7.9")
	b1 := h.registerFrom(t, manual.Value, "b1", "10.2.0.1")
	o1 := h.registerFrom(t, other.Value, "o1", "10.1.0.6")
	missing := uuid.NewString()

	type res struct{ ID, Outcome, State string }
	short := func(r *api.BulkResponse) []res {
		out := []res{}
		for _, x := range r.Results {
			out = append(out, res{x.ID, x.Outcome, x.State})
		}
		return out
	}
	bySorted := cmpopts.SortSlices(func(a, b res) bool { return a.ID < b.ID })
	steps := []struct {
		name       string
		req        api.BulkRequest
		want       []res
		ok, failed int
	}{
		{"approve by filter: pending of key from 10.1.0.0/16",
			api.BulkRequest{Action: "approve", Filter: &api.BulkFilter{State: "pending", KeyID: manual.ID, From: "10.1.0.0/16"}},
			[]res{{a1.ID, "ok", "trusted"}, {a2.ID, "ok", "trusted"}}, 2, 0},
		{"by ids, mixed outcomes",
			api.BulkRequest{Action: "approve", IDs: []string{a1.ID, b1.ID, missing}},
			[]res{{a1.ID, "noop", "trusted"}, {b1.ID, "ok", "trusted"}, {missing, "not_found", ""}}, 2, 1},
		{"reject conflicts on trusted",
			api.BulkRequest{Action: "reject", IDs: []string{a2.ID, o1.ID}},
			[]res{{a2.ID, "conflict", "trusted"}, {o1.ID, "ok", "rejected"}}, 1, 1},
		{"untrust every trusted of the account",
			api.BulkRequest{Action: "untrust", Filter: &api.BulkFilter{State: "trusted", AccountID: acct}},
			[]res{{a1.ID, "ok", "untrusted"}, {a2.ID, "ok", "untrusted"}, {b1.ID, "ok", "untrusted"}}, 3, 0},
		{"filter matching nothing",
			api.BulkRequest{Action: "approve", Filter: &api.BulkFilter{State: "pending"}},
			[]res{}, 0, 0},
		{"delete by filter registered after",
			api.BulkRequest{Action: "delete", Filter: &api.BulkFilter{State: "rejected", RegisteredAfter: &time.Time{}}},
			[]res{{o1.ID, "ok", "deleted"}}, 1, 0},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			got, err := h.c.BulkEndpoints(ctx, s.req)
			if err != nil {
				t.Fatalf("BulkEndpoints: %v", err)
			}
			if diff := cmp.Diff(s.want, short(got), bySorted); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if got.OK != s.ok || got.Failed != s.failed {
				t.Errorf("ok %d failed %d, want %d and %d", got.OK, got.Failed, s.ok, s.failed)
			}
			for _, r := range got.Results {
				if r.OK != (r.Outcome == "ok" || r.Outcome == "noop") || (r.OK == (r.Error != "")) {
					t.Errorf("result %+v: ok and error disagree with the outcome", r)
				}
			}
		})
	}

	t.Run("raw shape", func(t *testing.T) {
		status, body := h.admin(t, "POST", "/api/v1/endpoints/bulk", `{"action":"approve","ids":["`+a1.ID+`"]}`)
		var m map[string]any
		if err := json.Unmarshal(body, &m); status != 200 || err != nil {
			t.Fatalf("status %d body %s", status, body)
		}
		results, _ := m["results"].([]any)
		if len(results) != 1 || m["ok"] != 1.0 || m["failed"] != 0.0 {
			t.Fatalf("answer %s", body)
		}
		r := results[0].(map[string]any)
		for _, f := range []string{"id", "outcome", "state", "error"} {
			if _, ok := r[f]; !ok {
				t.Errorf("result lacks %q: %s", f, body)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name, body string
			status     int
			inDesc     string
		}{
			{"unknown action", `{"action":"bless","ids":["x"]}`, 400, "bless"},
			{"neither", `{"action":"approve"}`, 400, "either"},
			{"both", `{"action":"approve","ids":["x"],"filter":{}}`, 400, "either"},
			{"bad state", `{"action":"approve","filter":{"state":"asleep"}}`, 400, "asleep"},
			{"bad type", `{"action":"approve","filter":{"type":"toaster"}}`, 400, "toaster"},
			{"bad from", `{"action":"approve","filter":{"from":"10.0.0.0/40"}}`, 400, "CIDR"},
			{"bad time", `{"action":"approve","filter":{"registered_before":"yesterday"}}`, 400, `field "filter.registered_before" must be an RFC 3339 time`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, body := h.admin(t, "POST", "/api/v1/endpoints/bulk", tc.body)
				wantError(t, status, body, tc.status, "invalid_request", tc.inDesc)
			})
		}
		status, body := h.admin(t, "POST", "/api/v1/endpoints/bulk", api.BulkRequest{Action: "approve", Filter: &api.BulkFilter{AccountID: uuid.NewString()}})
		wantError(t, status, body, 404, "not_found", "")
	})

	t.Run("a large id list fits", func(t *testing.T) {
		ids := make([]string, 5000) // 5000 ids are ~200 KB: over the 64 KiB of other routes
		for i := range ids {
			ids[i] = uuid.NewString()
		}
		got, err := h.c.BulkEndpoints(ctx, api.BulkRequest{Action: "approve", IDs: ids})
		if err != nil {
			t.Fatalf("BulkEndpoints with %d ids: %v", len(ids), err)
		}
		if got.Failed != len(ids) {
			t.Errorf("failed %d, want %d not found", got.Failed, len(ids))
		}
	})
}
