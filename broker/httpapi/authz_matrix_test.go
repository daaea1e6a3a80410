package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// TestAuthorizationMatrix checks every admin route of /api/v1 for every kind
// of caller against every kind of target account, against a table written
// out by hand (issue 3, point 7).
//
// The tree: root -> P (vendor) -> A (customer) -> C (customer), and
// P -> S (customer). Every caller is a user of A whose one grant (or none)
// is at A, so it sees A and C and nothing else. Targets: own (A), child (C),
// parent (P), sibling (S), and an id that does not exist.
//
// Each cell runs on resources made for it, so the order of cells does not
// matter. Expected answers are an HTTP status; list routes without an
// account filter answer "200:listed" or "200:absent" (whether the target's
// object is in the list), and a bulk action by ids "200:<outcome>".
func TestAuthorizationMatrix(t *testing.T) {
	h := newHarness(t)
	m := newMatrixFixture(t, h)

	// Columns: own, child, parent, sibling, unknown.
	type row map[string]string // caller -> five answers
	const all404 = "404 404 404 404 404"
	const all400 = "400 400 400 400 400"
	routes := []struct {
		route string
		prep  func(tg target) (path string, body any)
		// result turns an answer into the table's word; nil = the status.
		result func(tg target, status int, body []byte) string
		want   row
	}{
		// --- accounts ---
		{"GET /api/v1/accounts", func(tg target) (string, any) { return "/api/v1/accounts", nil },
			m.listed(func(tg target, b []byte) bool { return hasID(b, tg.account) }),
			row{"none": "200:absent 200:absent 200:absent 200:absent 200:absent",
				"auditor":   "200:listed 200:listed 200:absent 200:absent 200:absent",
				"approver":  "200:absent 200:absent 200:absent 200:absent 200:absent",
				"admin":     "200:listed 200:listed 200:absent 200:absent 200:absent",
				"keyviewer": "200:absent 200:absent 200:absent 200:absent 200:absent"}},
		{"POST /api/v1/accounts", func(tg target) (string, any) {
			return "/api/v1/accounts", api.CreateAccountRequest{Name: m.name("acct"), ParentID: tg.account}
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "201 201 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"GET /api/v1/accounts/{id}", func(tg target) (string, any) { return "/api/v1/accounts/" + tg.account, nil }, nil,
			row{"none": all404, "auditor": "200 200 404 404 404", "approver": "403 403 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"PATCH /api/v1/accounts/{id}", func(tg target) (string, any) {
			return "/api/v1/accounts/" + tg.account, map[string]any{"trust_all_endpoints": false}
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},
		// Quotas (and disabled, token lifetimes) are the parent's controls:
		// an Administrator of A sets them on C, never on A itself (issue 10).
		{"PATCH /api/v1/accounts/{id} (quotas)", func(tg target) (string, any) {
			return "/api/v1/accounts/" + tg.account, map[string]any{"settings": map[string]any{"key_quota": 100000}}
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "403 200 404 404 404", "keyviewer": "403 403 404 404 404"}},

		// --- users ---
		{"POST /api/v1/users", func(tg target) (string, any) {
			return "/api/v1/users", api.CreateUserRequest{AccountID: tg.account, Username: m.name("user")}
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "201 201 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"GET /api/v1/users?account_id=", func(tg target) (string, any) { return "/api/v1/users?account_id=" + tg.account, nil }, nil,
			row{"none": all404, "auditor": "200 200 404 404 404", "approver": "403 403 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"GET /api/v1/users/{id}", func(tg target) (string, any) { return "/api/v1/users/" + m.user(tg), nil }, nil,
			row{"none": all404, "auditor": "200 200 404 404 404", "approver": "403 403 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"PATCH /api/v1/users/{id}", func(tg target) (string, any) {
			return "/api/v1/users/" + m.user(tg), map[string]any{"email": "e@example.com"}
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"DELETE /api/v1/users/{id}", func(tg target) (string, any) { return "/api/v1/users/" + m.user(tg), nil }, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "204 204 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"POST /api/v1/users/{id}/grants", func(tg target) (string, any) {
			return "/api/v1/users/" + m.user(tg) + "/grants", api.GrantRequest{Role: "Auditor", AccountID: tg.account}
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "201 201 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"DELETE /api/v1/users/{id}/grants", func(tg target) (string, any) {
			return "/api/v1/users/" + m.userWithGrant(tg) + "/grants?role=Auditor&account_id=" + tg.account, nil
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "204 204 404 404 404", "keyviewer": "403 403 404 404 404"}},

		// --- roles ---
		{"POST /api/v1/roles", func(tg target) (string, any) {
			return "/api/v1/roles", api.CreateRoleRequest{AccountID: tg.account, Name: m.name("role"), Permissions: []string{"ViewApiKey"}}
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "201 201 404 404 404", "keyviewer": "403 403 404 404 404"}},
		// Custom roles of the accounts above a caller's are listed too: they
		// may be granted below them.
		{"GET /api/v1/roles", func(tg target) (string, any) { return "/api/v1/roles", nil },
			m.listed(func(tg target, b []byte) bool { return hasID(b, m.roles[tg.name]) }),
			row{"none": "200:absent 200:absent 200:absent 200:absent 200:absent",
				"auditor":   "200:listed 200:listed 200:listed 200:absent 200:absent",
				"approver":  "200:absent 200:absent 200:absent 200:absent 200:absent",
				"admin":     "200:listed 200:listed 200:listed 200:absent 200:absent",
				"keyviewer": "200:absent 200:absent 200:absent 200:absent 200:absent"}},
		{"DELETE /api/v1/roles/{id}", func(tg target) (string, any) { return "/api/v1/roles/" + m.role(tg), nil }, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "204 204 404 404 404", "keyviewer": "403 403 404 404 404"}},

		// --- keys and values ---
		{"POST /api/v1/keys", func(tg target) (string, any) {
			return "/api/v1/keys", api.CreateKeyRequest{AccountID: tg.account, Name: m.name("key")}
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "201 201 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"GET /api/v1/keys?account_id=", func(tg target) (string, any) { return "/api/v1/keys?account_id=" + tg.account, nil }, nil,
			row{"none": all404, "auditor": "200 200 404 404 404", "approver": "403 403 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "200 200 404 404 404"}},
		{"GET /api/v1/keys/{id}", func(tg target) (string, any) { return "/api/v1/keys/" + m.keyID(tg), nil }, nil,
			row{"none": all404, "auditor": "200 200 404 404 404", "approver": "403 403 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "200 200 404 404 404"}},
		{"PATCH /api/v1/keys/{id}", func(tg target) (string, any) {
			return "/api/v1/keys/" + m.keyID(tg), map[string]any{"description": "changed"}
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"DELETE /api/v1/keys/{id}", func(tg target) (string, any) { return "/api/v1/keys/" + m.keyID(tg), nil }, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "204 204 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"POST /api/v1/keys/{id}/values", func(tg target) (string, any) {
			return "/api/v1/keys/" + m.keyID(tg) + "/values", api.AddValueRequest{Description: "more"}
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "201 201 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"POST /api/v1/keys/{id}/regenerate", func(tg target) (string, any) {
			return "/api/v1/keys/" + m.keyID(tg) + "/regenerate", map[string]any{}
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"DELETE /api/v1/keys/{id}/values/{value_id}", func(tg target) (string, any) {
			k, v := m.keyValue(tg)
			return "/api/v1/keys/" + k + "/values/" + v, nil
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "204 204 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"POST /api/v1/edge-devices", func(tg target) (string, any) {
			return "/api/v1/edge-devices", api.EdgeDeviceRequest{AccountID: tg.account, Name: m.name("edge")}
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "201 201 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"DELETE /api/v1/edge-devices/{value_id}", func(tg target) (string, any) {
			return "/api/v1/edge-devices/" + m.edgeDevice(tg) + "?account_id=" + tg.account, nil
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "204 204 404 404 404", "keyviewer": "403 403 404 404 404"}},

		// --- endpoints ---
		{"GET /api/v1/endpoints?account_id=", func(tg target) (string, any) { return "/api/v1/endpoints?account_id=" + tg.account, nil }, nil,
			row{"none": all404, "auditor": "200 200 404 404 404", "approver": "200 200 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},
		// Like every resource: a caller who sees the endpoint's account
		// without ViewEndpoint is told so (403); one who does not see it
		// gets 404.
		{"GET /api/v1/endpoints/{id}", func(tg target) (string, any) { return "/api/v1/endpoints/" + m.endpoint(tg, true), nil }, nil,
			row{"none": all404, "auditor": "200 200 404 404 404", "approver": "200 200 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"POST /api/v1/endpoints/{id}/approve", func(tg target) (string, any) {
			return "/api/v1/endpoints/" + m.endpoint(tg, false) + "/approve", nil
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "200 200 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},
		// --- key changes (SPEC E4): seen with ViewEndpoint, decided with ModifyEndpoint ---
		{"GET /api/v1/key-changes?account_id=", func(tg target) (string, any) { return "/api/v1/key-changes?account_id=" + tg.account, nil }, nil,
			row{"none": all404, "auditor": "200 200 404 404 404", "approver": "200 200 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"POST /api/v1/endpoints/{id}/approve-key-change", func(tg target) (string, any) {
			id, fp := m.keyChange(tg)
			return "/api/v1/endpoints/" + id + "/approve-key-change", api.KeyChangeDecision{Fingerprint: fp}
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "200 200 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},
		// Issue 10: approving names the fingerprint the admin saw; another
		// one (the change was swapped meanwhile) is a conflict, and none at
		// all is a bad request, whoever asks.
		{"POST /api/v1/endpoints/{id}/approve-key-change (another fingerprint)", func(tg target) (string, any) {
			id, _ := m.keyChange(tg)
			return "/api/v1/endpoints/" + id + "/approve-key-change", api.KeyChangeDecision{Fingerprint: "ed25519:" + uuid.NewString()}
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "409 409 404 404 404",
				"admin": "409 409 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"POST /api/v1/endpoints/{id}/approve-key-change (no fingerprint)", func(tg target) (string, any) {
			id, _ := m.keyChange(tg)
			return "/api/v1/endpoints/" + id + "/approve-key-change", nil
		}, nil,
			row{"none": all400, "auditor": all400, "approver": all400, "admin": all400, "keyviewer": all400}},
		{"POST /api/v1/endpoints/{id}/reject-key-change", func(tg target) (string, any) {
			id, _ := m.keyChange(tg)
			return "/api/v1/endpoints/" + id + "/reject-key-change", nil
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "200 200 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"POST /api/v1/endpoints/{id}/reject", func(tg target) (string, any) {
			return "/api/v1/endpoints/" + m.endpoint(tg, false) + "/reject", nil
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "200 200 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"POST /api/v1/endpoints/{id}/untrust", func(tg target) (string, any) {
			return "/api/v1/endpoints/" + m.endpoint(tg, true) + "/untrust", nil
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "200 200 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"DELETE /api/v1/endpoints/{id}", func(tg target) (string, any) { return "/api/v1/endpoints/" + m.endpoint(tg, false), nil }, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "204 204 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"POST /api/v1/endpoints/bulk (ids)", func(tg target) (string, any) {
			return "/api/v1/endpoints/bulk", api.BulkRequest{Action: "approve", IDs: []string{m.endpoint(tg, false)}}
		}, bulkOutcome,
			row{"none": "200:not_found 200:not_found 200:not_found 200:not_found 200:not_found",
				"auditor":   "200:forbidden 200:forbidden 200:not_found 200:not_found 200:not_found",
				"approver":  "200:ok 200:ok 200:not_found 200:not_found 200:not_found",
				"admin":     "200:ok 200:ok 200:not_found 200:not_found 200:not_found",
				"keyviewer": "200:forbidden 200:forbidden 200:not_found 200:not_found 200:not_found"}},
		{"POST /api/v1/endpoints/bulk (filter)", func(tg target) (string, any) {
			m.endpoint(tg, false)
			return "/api/v1/endpoints/bulk", api.BulkRequest{Action: "delete", Filter: &api.BulkFilter{AccountID: tg.account, State: "pending"}}
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},

		// --- sessions (SPEC S6): another user's need ViewUser to list, ModifyUser to end ---
		{"GET /api/v1/sessions?user_id=", func(tg target) (string, any) { return "/api/v1/sessions?user_id=" + m.user(tg), nil }, nil,
			row{"none": all404, "auditor": "200 200 404 404 404", "approver": "403 403 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"DELETE /api/v1/sessions/{id}", func(tg target) (string, any) { return "/api/v1/sessions/" + m.session(tg), nil }, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "204 204 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"DELETE /api/v1/sessions?user_id=", func(tg target) (string, any) {
			return "/api/v1/sessions?user_id=" + m.sessionUser(tg), nil
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},

		// --- webhooks (SPEC E7): ModifyAccount manages, ViewAccount reads ---
		{"POST /api/v1/webhooks", func(tg target) (string, any) {
			return "/api/v1/webhooks", api.WebhookRequest{AccountID: tg.account, URL: "https://hooks.example.com/m", Events: []string{"apikey.*"}}
		}, nil,
			row{"none": all404, "auditor": "403 403 404 404 404", "approver": "403 403 404 404 404",
				"admin": "201 201 404 404 404", "keyviewer": "403 403 404 404 404"}},
		{"GET /api/v1/webhooks?account_id=", func(tg target) (string, any) { return "/api/v1/webhooks?account_id=" + tg.account, nil }, nil,
			row{"none": all404, "auditor": "200 200 404 404 404", "approver": "403 403 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},
		// --- signing keys: administrators at the root account only ---
		{"POST /api/v1/signing-keys/rotate", func(tg target) (string, any) { return "/api/v1/signing-keys/rotate", struct{}{} }, nil,
			row{"none": "403 403 403 403 403", "auditor": "403 403 403 403 403", "approver": "403 403 403 403 403",
				"admin": "403 403 403 403 403", "keyviewer": "403 403 403 403 403"}},
		{"GET /api/v1/signing-keys", func(tg target) (string, any) { return "/api/v1/signing-keys", nil }, nil,
			row{"none": "403 403 403 403 403", "auditor": "403 403 403 403 403", "approver": "403 403 403 403 403",
				"admin": "403 403 403 403 403", "keyviewer": "403 403 403 403 403"}},

		// --- audit ---
		{"GET /api/v1/audit?account_id=", func(tg target) (string, any) { return "/api/v1/audit?account_id=" + tg.account, nil }, nil,
			row{"none": all404, "auditor": "200 200 404 404 404", "approver": "403 403 404 404 404",
				"admin": "200 200 404 404 404", "keyviewer": "403 403 404 404 404"}},
	}

	callers := []string{"none", "auditor", "approver", "admin", "keyviewer"}
	for _, rt := range routes {
		method, _, _ := strings.Cut(rt.route, " ")
		t.Run(rt.route, func(t *testing.T) {
			for _, caller := range callers {
				want := strings.Fields(rt.want[caller])
				if len(want) != len(m.targets) {
					t.Fatalf("the table has %d answers for %s, want %d", len(want), caller, len(m.targets))
				}
				var got []string
				for _, tg := range m.targets {
					path, body := rt.prep(tg)
					status, b := h.send(t, method, path, map[string]string{"Authorization": "Bearer " + m.tokens[caller]}, body)
					word := fmt.Sprint(status)
					if rt.result != nil && status == http.StatusOK {
						word = rt.result(tg, status, b)
					}
					if status >= 400 {
						checkErrorBody(t, status, b)
					}
					got = append(got, word)
				}
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("%s as %s (own child parent sibling unknown):\n  got  %s\n  want %s", rt.route, caller, strings.Join(got, " "), strings.Join(want, " "))
				}
			}
			// Without credentials every route answers 401.
			path, body := rt.prep(m.targets[0])
			status, b := h.send(t, method, path, nil, body)
			if status != http.StatusUnauthorized {
				t.Errorf("%s without credentials: %d %s, want 401", rt.route, status, b)
			}
		})
	}
}

// checkErrorBody checks that an error answer is our JSON error body with
// the code of its status.
func checkErrorBody(t *testing.T, status int, b []byte) {
	t.Helper()
	var er api.ErrorResponse
	if err := json.Unmarshal(b, &er); err != nil || er.Error == "" {
		t.Errorf("status %d with body %s: not an error body", status, b)
		return
	}
	want := map[int]string{400: api.CodeInvalidRequest, 403: api.CodeForbidden, 404: api.CodeNotFound, 409: api.CodeConflict}[status]
	if want != "" && er.Error != want {
		t.Errorf("status %d with code %q, want %q", status, er.Error, want)
	}
}

func bulkOutcome(tg target, status int, b []byte) string {
	var r api.BulkResponse
	if err := json.Unmarshal(b, &r); err != nil || len(r.Results) != 1 {
		return "200:?" + string(b)
	}
	return "200:" + r.Results[0].Outcome
}

// hasID reports whether the JSON list b holds an object whose "id" is v.
func hasID(b []byte, v string) bool {
	var list []map[string]any
	if json.Unmarshal(b, &list) != nil {
		return false
	}
	for _, o := range list {
		if s, _ := o["id"].(string); s == v && v != "" {
			return true
		}
	}
	return false
}

// target is a target account of the matrix.
type target struct {
	name    string // own, child, parent, sibling, unknown
	account string
	known   bool
}

// matrixFixture holds the tree, the callers' tokens and makes fresh
// resources in a target account as the bootstrap admin.
type matrixFixture struct {
	t       *testing.T
	h       *harness
	root    *registry.Principal
	targets []target
	tokens  map[string]string // caller -> access token
	roles   map[string]string // target name -> a custom role of that account
	keys    map[string]*registry.CreatedKey
	auto    map[string]*registry.CreatedKey // auto-trust keys
	n       int
}

func newMatrixFixture(t *testing.T, h *harness) *matrixFixture {
	t.Helper()
	ctx := context.Background()
	root, err := h.reg.Authenticate(ctx, h.tokens.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	m := &matrixFixture{t: t, h: h, root: root, tokens: map[string]string{}, roles: map[string]string{},
		keys: map[string]*registry.CreatedKey{}, auto: map[string]*registry.CreatedKey{}}
	mk := func(name, parent string, typ registry.AccountType) string {
		a, err := h.reg.CreateAccount(ctx, root, registry.CreateAccountRequest{Name: name, ParentID: parent, Type: typ})
		if err != nil {
			t.Fatalf("creating account %s: %v", name, err)
		}
		return a.ID
	}
	p := mk("P", root.AccountID, registry.AccountVendor)
	a := mk("A", p, registry.AccountCustomer)
	c := mk("C", a, registry.AccountCustomer)
	s := mk("S", p, registry.AccountCustomer)
	m.targets = []target{
		{"own", a, true}, {"child", c, true}, {"parent", p, true}, {"sibling", s, true},
		{"unknown", uuid.NewString(), false},
	}
	for _, tg := range m.targets[:4] {
		role, err := h.reg.CreateRole(ctx, root, registry.CreateRoleRequest{AccountID: tg.account, Name: "viewer-" + tg.name, Permissions: []registry.Permission{registry.PermViewAPIKey}})
		if err != nil {
			t.Fatalf("creating role: %v", err)
		}
		m.roles[tg.name] = role.ID
		for _, auto := range []bool{false, true} {
			k, err := h.reg.CreateAPIKey(ctx, root, registry.CreateAPIKeyRequest{AccountID: tg.account, Name: fmt.Sprintf("k-%s-%v", tg.name, auto), AutoTrust: auto})
			if err != nil {
				t.Fatalf("creating key: %v", err)
			}
			if auto {
				m.auto[tg.name] = k
			} else {
				m.keys[tg.name] = k
			}
		}
	}
	m.roles["unknown"] = uuid.NewString()
	// The callers: users of A, each with one grant at A (or none).
	for caller, role := range map[string]string{
		"none": "", "auditor": "Auditor", "approver": "Approver", "admin": "Administrator", "keyviewer": m.roles["own"],
	} {
		req := registry.CreateUserRequest{AccountID: a, Username: "caller-" + caller, Password: "matrix-password-" + caller}
		if role != "" {
			req.Roles = []string{role}
		}
		if _, err := h.reg.CreateUser(ctx, root, req); err != nil {
			t.Fatalf("creating caller %s: %v", caller, err)
		}
		tp, err := signInTokens(h.reg.SignIn(ctx, registry.SignInRequest{Username: req.Username, Password: req.Password}))
		if err != nil {
			t.Fatalf("signing in %s: %v", caller, err)
		}
		m.tokens[caller] = tp.AccessToken
	}
	return m
}

func (m *matrixFixture) name(prefix string) string {
	m.n++
	return fmt.Sprintf("%s-%d", prefix, m.n)
}

func (m *matrixFixture) must(err error, what string) {
	m.t.Helper()
	if err != nil {
		m.t.Fatalf("fixture: %s: %v", what, err)
	}
}

// user makes a user in the target account (or returns an unknown id).
func (m *matrixFixture) user(tg target) string {
	if !tg.known {
		return uuid.NewString()
	}
	u, err := m.h.reg.CreateUser(context.Background(), m.root, registry.CreateUserRequest{AccountID: tg.account, Username: m.name("u")})
	m.must(err, "creating user")
	return u.User.ID
}

// userWithGrant makes a user holding Auditor at the target account.
func (m *matrixFixture) userWithGrant(tg target) string {
	if !tg.known {
		return uuid.NewString()
	}
	u, err := m.h.reg.CreateUser(context.Background(), m.root, registry.CreateUserRequest{AccountID: tg.account, Username: m.name("u"), Roles: []string{"Auditor"}})
	m.must(err, "creating user")
	return u.User.ID
}

func (m *matrixFixture) role(tg target) string {
	if !tg.known {
		return uuid.NewString()
	}
	r, err := m.h.reg.CreateRole(context.Background(), m.root, registry.CreateRoleRequest{AccountID: tg.account, Name: m.name("r"), Permissions: []registry.Permission{registry.PermViewAPIKey}})
	m.must(err, "creating role")
	return r.ID
}

// keyID makes a key with one value in the target account.
func (m *matrixFixture) keyID(tg target) string {
	if !tg.known {
		return uuid.NewString()
	}
	k, err := m.h.reg.CreateAPIKey(context.Background(), m.root, registry.CreateAPIKeyRequest{AccountID: tg.account, Name: m.name("k")})
	m.must(err, "creating key")
	return k.Key.ID
}

// keyValue adds a value to the target account's key.
func (m *matrixFixture) keyValue(tg target) (keyID, valueID string) {
	if !tg.known {
		return uuid.NewString(), uuid.NewString()
	}
	k := m.keys[tg.name]
	cv, err := m.h.reg.AddKeyValue(context.Background(), m.root, k.Key.ID, registry.AddValueRequest{Description: m.name("v")})
	m.must(err, "adding value")
	return k.Key.ID, cv.ValueID
}

// edgeDevice adds an edge device to a customer target; the vendor P has no
// Edge key, so its id there is unknown (P is out of every caller's sight
// either way).
func (m *matrixFixture) edgeDevice(tg target) string {
	if !tg.known || tg.name == "parent" {
		return uuid.NewString()
	}
	cv, err := m.h.reg.AddEdgeDevice(context.Background(), m.root, tg.account, m.name("edge"), "", netip.Addr{})
	m.must(err, "adding edge device")
	return cv.ValueID
}

// endpoint registers an endpoint in the target account: trusted, or pending.
func (m *matrixFixture) endpoint(tg target, trusted bool) string {
	if !tg.known {
		return uuid.NewString()
	}
	k := m.keys[tg.name]
	if trusted {
		k = m.auto[tg.name]
	}
	pub, _, err := ed25519.GenerateKey(nil)
	m.must(err, "generating key")
	res, err := m.h.reg.Register(context.Background(), registry.RegisterRequest{
		APIKey: k.Value, ClientID: uuid.NewString(), ClientType: protocol.ClientDesktop, Hostname: m.name("host"),
		KeyType: registry.KeyTypeEd25519, PublicKey: pub, Remote: netip.MustParseAddr("10.1.2.3"),
	})
	m.must(err, "registering")
	return res.Endpoint.ID
}

// sessionUser makes a user of the target account with a live session (a
// password sign-in) and returns the user's id, or an unknown id.
// keyChange returns a trusted endpoint of the target's account with a
// pending key change (an unsigned registration of its client id with
// another public key, SPEC E4), and the change's fingerprint.
func (m *matrixFixture) keyChange(tg target) (id, fingerprint string) {
	id = m.endpoint(tg, true)
	if !tg.known {
		return id, "ed25519:" + uuid.NewString()
	}
	pub, _, err := ed25519.GenerateKey(nil)
	m.must(err, "generating key")
	res, err := m.h.reg.Register(context.Background(), registry.RegisterRequest{
		APIKey: m.auto[tg.name].Value, ClientID: id, ClientType: protocol.ClientDesktop,
		KeyType: registry.KeyTypeEd25519, PublicKey: pub, Remote: netip.MustParseAddr("10.1.2.3"),
	})
	m.must(err, "registering with another key")
	if !res.KeyChange {
		m.t.Fatalf("registering %s with another key made no key change: %+v", id, res)
	}
	jkt, err := protocol.Thumbprint(pub)
	m.must(err, "thumbprint")
	return id, jkt
}

func (m *matrixFixture) sessionUser(tg target) string {
	id, _ := m.signedIn(tg)
	return id
}

// session makes a user of the target account with a live session and
// returns the session's id, or an unknown id.
func (m *matrixFixture) session(tg target) string {
	_, sid := m.signedIn(tg)
	return sid
}

func (m *matrixFixture) signedIn(tg target) (userID, sessionID string) {
	if !tg.known {
		return uuid.NewString(), uuid.NewString()
	}
	ctx := context.Background()
	name := m.name("s")
	u, err := m.h.reg.CreateUser(ctx, m.root, registry.CreateUserRequest{AccountID: tg.account, Username: name, Password: "matrix-session-password"})
	m.must(err, "creating user")
	// Each sign-in from its own address: the per-address limit is not what is tested.
	tp, err := signInTokens(m.h.reg.SignIn(ctx, registry.SignInRequest{Username: name, Password: "matrix-session-password", AccountID: tg.account,
		Remote: netip.AddrFrom4([4]byte{127, 9, byte(m.n >> 8), byte(m.n)})}))
	m.must(err, "signing in")
	p, err := m.h.reg.Authenticate(ctx, tp.AccessToken)
	m.must(err, "authenticating")
	return u.User.ID, p.SessionID
}

// listed turns a list answer into "200:listed" or "200:absent".
func (m *matrixFixture) listed(has func(tg target, b []byte) bool) func(target, int, []byte) string {
	return func(tg target, status int, b []byte) string {
		if has(tg, b) {
			return "200:listed"
		}
		return "200:absent"
	}
}
