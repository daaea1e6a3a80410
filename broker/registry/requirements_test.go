package registry_test

import (
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// TestRequireEndpointKeys: an account that requires keys refuses
// registrations without one, new or again, and audits each (SPEC T1).
func TestRequireEndpointKeys(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	existing := uuid.NewString()
	if _, err := e.unsigned(k.Value, existing, "old", nil, loopback); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.UpdateAccount(e.ctx, e.admin, e.root, registry.AccountUpdate{
		Settings: &registry.AccountSettings{RequireEndpointKeys: true}}); err != nil {
		t.Fatal(err)
	}
	fresh := uuid.NewString()
	for _, id := range []string{fresh, existing} {
		_, err := e.unsigned(k.Value, id, "h", nil, attackerAddr)
		wantKindMsg(t, err, registry.KindInvalid, "requires endpoint keys")
	}
	_, err := e.reg.Register(e.ctx, registry.RegisterRequest{APIKey: k.Value, ClientID: uuid.NewString(), ClientType: "printer", Remote: attackerAddr})
	wantKindMsg(t, err, registry.KindInvalid, "requires endpoint keys")
	var want []auditRow
	for _, id := range []string{fresh, existing} {
		want = append(want, auditRow{Actor: "key:" + k.Key.ID, Action: "endpoint.register", Target: "endpoint:" + id, Outcome: registry.OutcomeFailure,
			Remote: attackerAddr.String(), Detail: map[string]string{"reason": "account requires endpoint keys", "key_id": k.Key.ID}})
	}
	got := e.auditRows(registry.AuditFilter{Action: "endpoint.register", Outcome: registry.OutcomeFailure})
	if len(got) != 3 {
		t.Fatalf("%d refusals audited, want 3: %+v", len(got), got)
	}
	if diff := cmp.Diff(want, got[:2]); diff != "" {
		t.Errorf("audit of the refusals (-want +got):\n%s", diff)
	}
	if e.endpoint(fresh) != nil {
		t.Error("the refused registration made an endpoint")
	}
	d := newDevice(t)
	if res, err := e.register(d, k.Value); err != nil || res.Endpoint.State != registry.StateTrusted {
		t.Errorf("a registration with a key: %+v, %v", res, err)
	}
}

// TestRequireDPoP: an account that requires DPoP refuses the
// HCP-Request-Signature fallback on login, and audits it; a proof on the
// transport (DPoP, QUIC) still works (SPEC T3).
func TestRequireDPoP(t *testing.T) {
	l := newLoginEnv(t)
	body := []byte(`{"type":"session_user","username":"sam"}`)
	login := func(signed bool) error {
		req := registry.LoginRequest{Type: protocol.LoginSessionUser, Username: "sam", Body: body}
		if signed {
			req.Signature = ed25519.Sign(l.dev.priv, body)
		}
		_, _, err := l.login(req)
		return err
	}
	if err := login(true); err != nil {
		t.Fatalf("a signed login before the setting: %v", err)
	}
	if _, err := l.reg.UpdateAccount(l.ctx, l.admin, l.root, registry.AccountUpdate{
		Settings: &registry.AccountSettings{RequireDPoP: true}}); err != nil {
		t.Fatal(err)
	}
	wantKindMsg(t, login(true), registry.KindAccessDenied, "requires a DPoP proof")
	evs := l.audits(registry.AuditFilter{Action: "login.session_user", Outcome: registry.OutcomeFailure})
	if len(evs) != 1 || evs[0].Actor != "endpoint:"+l.dev.id || !strings.Contains(evs[0].Detail["cause"], "requires DPoP") {
		t.Errorf("audit of the refused login: %+v", evs)
	}
	if err := login(false); err != nil {
		t.Errorf("a login proven on the transport: %v", err)
	}
}
