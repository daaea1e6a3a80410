package registry_test

import (
	"crypto/ed25519"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// Issue 10, points 3 and 4: whoever holds the shared fleet key and an
// endpoint's client id can send an unsigned registration of it. Such a
// registration must never change what an admin approves, nor hand out the
// endpoint's tokens without an admin's decision.

// attackerAddr is where the attacker's registrations come from.
var attackerAddr = netip.MustParseAddr("203.0.113.66")

// unsigned registers client id over HTTP without a signature, with the
// public key pub (nil = none).
func (e *env) unsigned(key, id, hostname string, pub ed25519.PublicKey, from netip.Addr) (*registry.DeviceAuthorization, error) {
	rr := registry.RegisterRequest{APIKey: key, ClientID: id, ClientType: "printer", Hostname: hostname,
		OS: "PrinterOS " + hostname, Version: "1.0", Remote: from}
	if pub != nil {
		rr.KeyType, rr.PublicKey = registry.KeyTypeEd25519, pub
	}
	return e.reg.RegisterDevice(e.ctx, registry.DeviceRegisterRequest{RegisterRequest: rr})
}

func (e *env) deviceToken(key, id, code string) (*registry.TokenPair, error) {
	return e.reg.DeviceToken(e.ctx, registry.DeviceTokenRequest{APIKey: key, ClientID: id, DeviceCode: code, Remote: loopback})
}

func (e *env) keyChanges() []registry.PendingKeyChange {
	e.t.Helper()
	kcs, err := e.reg.ListKeyChanges(e.ctx, e.admin, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return kcs
}

// auditRow is what the tests compare of an audit event.
type auditRow struct {
	Actor, Action, Target, Outcome, Remote string
	Detail                                 map[string]string
}

func (e *env) auditRows(f registry.AuditFilter) []auditRow {
	e.t.Helper()
	var out []auditRow
	for _, ev := range e.audits(f) {
		out = append(out, auditRow{ev.Actor, ev.Action, ev.Target, ev.Outcome, ev.Remote, ev.Detail})
	}
	return out
}

// TestPendingKeyChangeIsNeverSwapped: a trusted endpoint asks for a key
// change and the admin lists it; someone else then registers the client id
// with his own key. On the old code that replaced the pending change, and
// the admin's approval put the attacker's key in force (point 3).
func TestPendingKeyChangeIsNeverSwapped(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	d := newDevice(t)
	e.mustRegister(d, k.Value)
	real, attacker := newDevice(t), newDevice(t)
	deviceAddr := netip.MustParseAddr("10.0.0.7")

	// The device, reset, comes back with a new key.
	da, err := e.unsigned(k.Value, d.id, "prn-1", real.pub, deviceAddr)
	if err != nil || !da.KeyChange {
		t.Fatalf("key change registration: %+v, %v", da, err)
	}
	if kcs := e.keyChanges(); len(kcs) != 1 || kcs[0].Change.KeyThumbprint != real.jkt {
		t.Fatalf("the admin sees %+v, want the device's new key", kcs)
	}

	// The attacker registers the client id with his own key.
	_, err = e.unsigned(k.Value, d.id, "prn-1", attacker.pub, attackerAddr)
	wantKindMsg(t, err, registry.KindConflict, "already awaits an administrator's decision")
	if kcs := e.keyChanges(); len(kcs) != 1 || kcs[0].Change.KeyThumbprint != real.jkt || kcs[0].Change.RequestedFrom != "10.0.0.7" {
		t.Fatalf("after the attacker's registration the admin sees %+v, want the device's change unchanged", kcs)
	}
	want := []auditRow{{Actor: "key:" + k.Key.ID, Action: "endpoint.key_change.request", Target: "endpoint:" + d.id,
		Outcome: registry.OutcomeFailure, Remote: attackerAddr.String(), Detail: map[string]string{
			"reason": "a key change is already pending", "old_key_fingerprint": d.jkt, "new_key_fingerprint": attacker.jkt,
			"pending_key_fingerprint": real.jkt, "new_key_type": "ed25519", "state": "trusted"}}}
	if diff := cmp.Diff(want, e.auditRows(registry.AuditFilter{Action: "endpoint.key_change.request", Outcome: registry.OutcomeFailure})); diff != "" {
		t.Errorf("audit of the refused registration (-want +got):\n%s", diff)
	}

	// The device retrying with its key is answered as the first time.
	again, err := e.unsigned(k.Value, d.id, "prn-1", real.pub, deviceAddr)
	if err != nil || !again.KeyChange || again.Endpoint.State != registry.StatePending {
		t.Fatalf("a retry of the same key change: %+v, %v", again, err)
	}
	if n := len(e.auditRows(registry.AuditFilter{Action: "endpoint.key_change.request", Outcome: registry.OutcomeSuccess})); n != 1 {
		t.Errorf("%d key change requests audited, want 1 (a retry is no new change)", n)
	}

	// Approving names the fingerprint the admin saw.
	_, err = e.reg.ApproveKeyChange(e.ctx, e.admin, d.id, " ", loopback)
	wantKindMsg(t, err, registry.KindInvalid, "fingerprint")
	_, err = e.reg.ApproveKeyChange(e.ctx, e.admin, d.id, attacker.jkt, loopback)
	wantKindMsg(t, err, registry.KindConflict, "another fingerprint")
	want = []auditRow{{Actor: e.admin.Actor(), Action: "endpoint.key_change.approve", Target: "endpoint:" + d.id,
		Outcome: registry.OutcomeFailure, Remote: loopback.String(), Detail: map[string]string{
			"reason": "fingerprint mismatch", "given_fingerprint": attacker.jkt,
			"old_key_fingerprint": d.jkt, "new_key_fingerprint": real.jkt}}}
	if diff := cmp.Diff(want, e.auditRows(registry.AuditFilter{Action: "endpoint.key_change.approve"})); diff != "" {
		t.Errorf("audit of the refused approval (-want +got):\n%s", diff)
	}
	if ep := e.endpoint(d.id); ep.KeyThumbprint != d.jkt {
		t.Fatalf("a refused approval changed the key: %+v", ep)
	}
	// As the CLI's table shows it, with its type.
	ep, err := e.reg.ApproveKeyChange(e.ctx, e.admin, d.id, "ed25519:"+real.jkt, loopback)
	if err != nil || ep.KeyThumbprint != real.jkt {
		t.Fatalf("ApproveKeyChange = %+v, %v", ep, err)
	}
	if _, err := e.reg.IssueDeviceTokens(e.ctx, d.id, attacker.jkt, loopback); registry.KindOf(err) != registry.KindAccessDenied {
		t.Errorf("the attacker's key gets tokens: %v", err)
	}
	if _, err := e.reg.IssueDeviceTokens(e.ctx, d.id, real.jkt, loopback); err != nil {
		t.Errorf("the device's new key gets no tokens: %v", err)
	}
}

// TestRejectedKeyChangeMakesRoom: rejecting clears the pending change (the
// named one only), so the device can ask again.
func TestRejectedKeyChangeMakesRoom(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	d := newDevice(t)
	e.mustRegister(d, k.Value)
	first, second := newDevice(t), newDevice(t)
	if _, err := e.unsigned(k.Value, d.id, "h", first.pub, loopback); err != nil {
		t.Fatal(err)
	}
	_, err := e.reg.RejectKeyChange(e.ctx, e.admin, d.id, second.jkt, loopback)
	wantKind(t, err, registry.KindConflict)
	if rows := e.auditRows(registry.AuditFilter{Action: "endpoint.key_change.reject", Outcome: registry.OutcomeFailure}); len(rows) != 1 || rows[0].Detail["reason"] != "fingerprint mismatch" {
		t.Errorf("audit of the refused rejection: %+v", rows)
	}
	if _, err := e.reg.RejectKeyChange(e.ctx, e.admin, d.id, "", loopback); err != nil {
		t.Fatal(err)
	}
	if _, err := e.unsigned(k.Value, d.id, "h", second.pub, loopback); err != nil {
		t.Fatalf("a key change after a rejection: %v", err)
	}
	if kcs := e.keyChanges(); len(kcs) != 1 || kcs[0].Change.KeyThumbprint != second.jkt {
		t.Fatalf("key changes %+v", kcs)
	}
	_, err = e.reg.RejectKeyChange(e.ctx, e.admin, d.id, "rsa:"+first.jkt, loopback)
	wantKind(t, err, registry.KindConflict)
	if _, err := e.reg.RejectKeyChange(e.ctx, e.admin, d.id, second.jkt, loopback); err != nil {
		t.Fatal(err)
	}
	_, err = e.reg.ApproveKeyChange(e.ctx, e.admin, d.id, second.jkt, loopback)
	wantKind(t, err, registry.KindNotFound)
}

// TestKeylessEndpointIsNotImpersonated: a trusted endpoint registered
// without a key, and someone holding the fleet key and its client id. On
// the old code his unsigned registration overwrote the endpoint's
// hostname, OS and version, and its device code yielded the endpoint's
// tokens (point 4).
func TestKeylessEndpointIsNotImpersonated(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	id := uuid.NewString()
	da, err := e.unsigned(k.Value, id, "prn-1", nil, loopback)
	if err != nil || da.Endpoint.State != registry.StateTrusted {
		t.Fatalf("keyless registration: %+v, %v", da, err)
	}
	tok, err := e.deviceToken(k.Value, id, da.DeviceCode)
	if err != nil {
		t.Fatal(err)
	}
	before := e.endpoint(id)

	evil, err := e.unsigned(k.Value, id, "evil", nil, attackerAddr)
	if err != nil || !evil.KeyChange || evil.Endpoint.State != registry.StatePending {
		t.Fatalf("the attacker's registration: %+v, %v; want a pending key change", evil, err)
	}
	if diff := cmp.Diff(before, e.endpoint(id)); diff != "" {
		t.Errorf("the attacker's registration changed the endpoint (-before +after):\n%s", diff)
	}
	_, err = e.deviceToken(k.Value, id, evil.DeviceCode)
	wantKind(t, err, registry.KindPending)

	// The admin sees a change without a key, with what it claims.
	kcs := e.keyChanges()
	if len(kcs) != 1 || kcs[0].Change.KeyType != "" || !strings.HasPrefix(kcs[0].Change.KeyThumbprint, "keyless-") ||
		kcs[0].Change.Hostname != "evil" || kcs[0].Change.RequestedFrom != attackerAddr.String() {
		t.Fatalf("key changes %+v", kcs)
	}
	marker := kcs[0].Change.KeyThumbprint
	if evs := e.audits(registry.AuditFilter{Action: "endpoint.key_change.request"}); len(evs) != 1 || evs[0].Detail["new_key_fingerprint"] != marker {
		t.Errorf("audit of the key change: %+v", evs)
	}

	// Another keyless registration is refused, and audited.
	_, err = e.unsigned(k.Value, id, "evil-2", nil, attackerAddr)
	wantKind(t, err, registry.KindConflict)
	rows := e.auditRows(registry.AuditFilter{Action: "endpoint.key_change.request", Outcome: registry.OutcomeFailure})
	if len(rows) != 1 || rows[0].Detail["reason"] != "a key change is already pending" || rows[0].Detail["pending_key_fingerprint"] != marker {
		t.Errorf("audit of the refused registration: %+v", rows)
	}

	// The device keeps its tokens meanwhile.
	tok, err = e.reg.RefreshDevice(e.ctx, registry.DeviceRefreshRequest{APIKey: k.Value, ClientID: id, RefreshToken: tok.RefreshToken, Remote: loopback})
	if err != nil {
		t.Fatalf("the device's refresh during the pending change: %v", err)
	}

	// Rejected: the attacker's code is denied.
	if _, err := e.reg.RejectKeyChange(e.ctx, e.admin, id, marker, loopback); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(registry.DefaultPollInterval)
	_, err = e.deviceToken(k.Value, id, evil.DeviceCode)
	wantKind(t, err, registry.KindAccessDenied)
	if _, err := e.reg.RefreshDevice(e.ctx, registry.DeviceRefreshRequest{APIKey: k.Value, ClientID: id, RefreshToken: tok.RefreshToken, Remote: loopback}); err != nil {
		t.Errorf("the device's refresh after the rejection: %v", err)
	}
}

// TestKeylessReRegistrationApproved: a keyless device reinstalled registers
// again; once the admin approves that registration its code yields tokens,
// its description applies, and the old registration's tokens stop.
func TestKeylessReRegistrationApproved(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	id := uuid.NewString()
	da, err := e.unsigned(k.Value, id, "prn-1", nil, loopback)
	if err != nil {
		t.Fatal(err)
	}
	old, err := e.deviceToken(k.Value, id, da.DeviceCode)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.unsigned(k.Value, id, "prn-1b", nil, loopback)
	if err != nil || !again.KeyChange {
		t.Fatalf("re-registration: %+v, %v", again, err)
	}
	kcs := e.keyChanges()
	if len(kcs) != 1 {
		t.Fatalf("key changes %+v", kcs)
	}
	_, err = e.reg.ApproveKeyChange(e.ctx, e.admin, id, "keyless-not-this-one", loopback)
	wantKind(t, err, registry.KindConflict)
	ep, err := e.reg.ApproveKeyChange(e.ctx, e.admin, id, "none:"+kcs[0].Change.KeyThumbprint, loopback)
	if err != nil {
		t.Fatal(err)
	}
	if ep.KeyThumbprint != "" || ep.KeyType != "" || ep.State != registry.StateTrusted || ep.Hostname != "prn-1b" || ep.OS != "PrinterOS prn-1b" {
		t.Errorf("after approval: %+v", ep)
	}
	if _, err := e.deviceToken(k.Value, id, again.DeviceCode); err != nil {
		t.Errorf("the approved registration's code: %v", err)
	}
	_, err = e.reg.RefreshDevice(e.ctx, registry.DeviceRefreshRequest{APIKey: k.Value, ClientID: id, RefreshToken: old.RefreshToken, Remote: loopback})
	wantKind(t, err, registry.KindInvalidGrant)
	_, err = e.deviceToken(k.Value, id, da.DeviceCode)
	wantKind(t, err, registry.KindInvalidGrant) // the first code is spent and replaced
}
