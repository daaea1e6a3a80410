package httpapi_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/edgetrust/edgetrust/protocol/api"
	"github.com/google/go-cmp/cmp"
)

// TestSessionsHTTP: a user lists and ends their sessions; an admin ends
// another user's (SPEC S6).
func TestSessionsHTTP(t *testing.T) {
	h := newOAuthHarness(t, false)
	ctx := context.Background()
	auto := h.key(t, api.CreateKeyRequest{AutoTrust: true})
	d := newEd25519Device(t, false)
	tok := h.trusted(t, d, auto).AccessToken
	login := func() api.TokenResponse {
		t.Helper()
		sig := base64.StdEncoding.EncodeToString(d.sign([]byte(sessionBody)))
		return userToken(t, h.loginCall(t, sessionBody, "X-API-Key", auto, "Authorization", "Bearer "+tok, api.SignatureHeader, sig))
	}
	first, second := login(), login()
	user := api.New(h.srv.URL, h.srv.Client())
	user.SetToken(first.AccessToken)
	user.SetAPIKey(auto) // a device's key beside the user token, as the seeds' clients send it: no full access needed here

	ss, err := user.ListSessions(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || !ss[0].Current || ss[1].Current || ss[0].EndpointID != d.id || ss[0].UserID != first.User.ID {
		t.Fatalf("sessions %+v", ss)
	}
	// The user's token is no admin's: other users' sessions are out of sight.
	if _, err := user.ListSessions(ctx, h.env.Admin(t).UserID); !api.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("another user's sessions: %v, want 404", err)
	}
	// Ending the second session ends its token at once, not the first.
	if err := user.EndSession(ctx, ss[1].ID); err != nil {
		t.Fatal(err)
	}
	other := api.New(h.srv.URL, h.srv.Client())
	other.SetToken(second.AccessToken)
	if _, err := other.ListSessions(ctx, ""); !api.IsStatus(err, http.StatusUnauthorized) {
		t.Fatalf("the ended session's token: %v, want 401", err)
	}
	if err := user.EndSession(ctx, ss[1].ID); !api.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("ending it again: %v, want 404", err)
	}
	// The admin sees and ends the user's sessions.
	got, err := h.admin.ListSessions(ctx, first.User.ID)
	if err != nil || len(got) != 1 || got[0].ID != ss[0].ID || got[0].Current {
		t.Fatalf("the admin's view: %+v %v", got, err)
	}
	n, err := h.admin.EndSessions(ctx, first.User.ID)
	if err != nil || n != 1 {
		t.Fatalf("EndSessions = %d, %v", n, err)
	}
	if _, err := user.ListSessions(ctx, ""); !api.IsStatus(err, http.StatusUnauthorized) {
		t.Fatalf("after the admin ended it: %v, want 401", err)
	}
	// The admin's own sessions: the harness's sign-in, marked current, and
	// the one env.Admin made above.
	mine, err := h.admin.ListSessions(ctx, "")
	if err != nil || len(mine) != 2 || !mine[0].Current || mine[1].Current || mine[0].EndpointID != "" {
		t.Fatalf("the admin's sessions: %+v %v", mine, err)
	}
	evs, err := h.admin.ListAudit(ctx, api.AuditFilter{Action: "session.end"})
	outcomes := map[string]int{}
	for _, ev := range evs {
		outcomes[ev.Outcome]++
	}
	// Two ended, and the refused second end of one (issue 10: refusals are audited).
	if d := cmp.Diff(map[string]int{"success": 2, "failure": 1}, outcomes); err != nil || d != "" {
		t.Errorf("session.end audit outcomes (%v) (-want +got):\n%s", err, d)
	}
}
