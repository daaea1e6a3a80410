package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
	"github.com/google/go-cmp/cmp"
)

// TestOAuthKeyChange: an unsigned registration with another key becomes a
// pending key change (E4); the old key stays in force until an admin
// approves it.
func TestOAuthKeyChange(t *testing.T) {
	h := newOAuthHarness(t, true)
	ctx := context.Background()
	auto := h.key(t, api.CreateKeyRequest{AutoTrust: true})
	old := newEd25519Device(t, false)
	tok := h.tokens(t, h.poll(t, old, auto, h.register(t, old, auto).DeviceCode))

	rekey := func(t *testing.T, nd *device) (*device, string) {
		t.Helper()
		nd.id = old.id
		a := h.post(t, api.PathOAuthRegister, nd.registerBody(auto)) // unsigned
		var da api.DeviceAuthorization
		a.json(t, &da)
		if a.status != 200 {
			t.Fatalf("key change registration: %d %s", a.status, a.body)
		}
		return nd, da.DeviceCode
	}
	nd, code := rekey(t, newRSADevice(t))
	wantOAuthError(t, h.poll(t, nd, auto, code), 400, "authorization_pending") // even with an auto-trust key
	changes, err := h.admin.ListKeyChanges(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []api.KeyChange{{EndpointID: old.id, State: "trusted", Description: "Floor 3 printer", KeyType: "rsa",
		KeyFingerprint: nd.jkt, OldKeyType: "ed25519", OldKeyFingerprint: old.jkt, RequestedDescription: "Floor 3 printer",
		RequestedFrom: "127.0.0.1"}}
	if diff := cmp.Diff(want, changes, cmpIgnore("AccountID", "KeyID", "RequestedAt")); diff != "" {
		t.Errorf("key changes (-want +got):\n%s", diff)
	}
	// The old key stays in force: it refreshes and re-registers.
	refresh := func(d *device, rt string) answer {
		return h.signed(t, d, api.PathOAuthToken, form("grant_type", "refresh_token", "refresh_token", rt, "client_id", d.id, "client_secret", auto))
	}
	tok = h.tokens(t, refresh(old, tok.RefreshToken))
	h.tokens(t, h.poll(t, old, auto, h.register(t, old, auto).DeviceCode))
	if ep, _ := h.admin.GetEndpoint(ctx, old.id); ep.KeyFingerprint != old.jkt {
		t.Fatalf("the key changed before approval: %+v", ep)
	}

	h.clock.Advance(testInterval)
	ep, err := h.admin.ApproveKeyChange(ctx, old.id, changes[0].KeyFingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if ep.KeyFingerprint != nd.jkt || ep.KeyType != "rsa" || ep.State != "trusted" {
		t.Errorf("after approval: %+v", ep)
	}
	h.tokens(t, h.poll(t, nd, auto, code))
	wantOAuthError(t, refresh(old, tok.RefreshToken), 401, "invalid_client") // signed with a key no longer in force
	if _, err := h.admin.ApproveKeyChange(ctx, old.id, nd.jkt); !api.IsStatus(err, 404) {
		t.Errorf("approving again: %v, want 404", err)
	}

	// A rejected change leaves the key; its code answers access_denied.
	third, code3 := rekey(t, newX509Device(t, false))
	if _, err := h.admin.RejectKeyChange(ctx, old.id, ""); err != nil {
		t.Fatal(err)
	}
	wantOAuthError(t, h.poll(t, third, auto, code3), 400, "access_denied")
	// A registration without a key for a keyed endpoint is refused.
	body := form("client_id", old.id, "client_secret", auto, "client_type", protocol.ClientPrinter, "response_type", "device_code")
	wantOAuthError(t, h.post(t, api.PathOAuthRegister, body), 400, "invalid_request")
	if changes, _ := h.admin.ListKeyChanges(ctx, ""); len(changes) != 0 {
		t.Errorf("key changes left: %+v", changes)
	}
}

// TestOAuthKeyChangeSwap: the admin lists a device's key change and sees
// its fingerprint; the attacker then registers the client id with his own
// key. On the old code that answered 200 and replaced the change, and the
// approval gave the attacker the endpoint's tokens (point 3).
func TestOAuthKeyChangeSwap(t *testing.T) {
	h := newOAuthHarness(t, true)
	ctx := context.Background()
	auto := h.key(t, api.CreateKeyRequest{AutoTrust: true})
	old := newEd25519Device(t, false)
	h.trusted(t, old, auto)

	unsigned := func(d *device) answer {
		d.id = old.id
		return h.post(t, api.PathOAuthRegister, d.registerBody(auto))
	}
	real := newEd25519Device(t, false)
	a := unsigned(real)
	if a.status != http.StatusOK {
		t.Fatalf("the device's key change: %d %s", a.status, a.body)
	}
	var realCode api.DeviceAuthorization
	a.json(t, &realCode)
	seen, err := h.admin.ListKeyChanges(ctx, "")
	if err != nil || len(seen) != 1 || seen[0].KeyFingerprint != real.jkt {
		t.Fatalf("key changes %+v, %v", seen, err)
	}

	attacker := newEd25519Device(t, false)
	wantOAuthError(t, unsigned(attacker), http.StatusBadRequest, api.CodeInvalidRequest)
	now, err := h.admin.ListKeyChanges(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(seen, now); diff != "" {
		t.Errorf("the pending change moved under the admin (-seen +now):\n%s", diff)
	}
	want := []map[string]string{{"reason": "a key change is already pending", "old_key_fingerprint": old.jkt,
		"new_key_fingerprint": attacker.jkt, "pending_key_fingerprint": real.jkt, "new_key_type": "ed25519", "state": "trusted"}}
	if diff := cmp.Diff(want, h.failures(t, "endpoint.key_change.request")); diff != "" {
		t.Errorf("audit of the refused registration (-want +got):\n%s", diff)
	}

	// Approving without the fingerprint, or with another, does nothing.
	_, err = h.admin.ApproveKeyChange(ctx, old.id, "")
	if !api.IsStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), "endpoints key-changes") {
		t.Errorf("approving without a fingerprint: %v, want 400 naming endpoints key-changes", err)
	}
	_, err = h.admin.ApproveKeyChange(ctx, old.id, attacker.jkt)
	if !api.IsStatus(err, http.StatusConflict) {
		t.Errorf("approving another fingerprint: %v, want 409", err)
	}
	if f := h.failures(t, "endpoint.key_change.approve"); len(f) != 1 || f[0]["reason"] != "fingerprint mismatch" || f[0]["given_fingerprint"] != attacker.jkt {
		t.Errorf("audit of the refused approval: %v", f)
	}
	ep, err := h.admin.ApproveKeyChange(ctx, old.id, "ed25519:"+seen[0].KeyFingerprint)
	if err != nil || ep.KeyFingerprint != real.jkt {
		t.Fatalf("approving what was seen: %+v, %v", ep, err)
	}
	h.tokens(t, h.poll(t, real, auto, realCode.DeviceCode))
}

// TestOAuthKeylessImpersonation: a trusted endpoint registered without a
// key. On the old code the attacker's unsigned registration of its client
// id answered 200, overwrote its hostname, OS and version, and its device
// code yielded the endpoint's tokens (point 4).
func TestOAuthKeylessImpersonation(t *testing.T) {
	h := newOAuthHarness(t, true)
	ctx := context.Background()
	auto := h.key(t, api.CreateKeyRequest{AutoTrust: true})
	d := keylessDevice()
	tok := h.trusted(t, d, auto)
	before, err := h.admin.GetEndpoint(ctx, d.id)
	if err != nil {
		t.Fatal(err)
	}

	attack := form("client_id", d.id, "client_secret", auto, "client_type", protocol.ClientPrinter, "response_type", "device_code",
		"hostname", "evil", "os", "EvilOS", "version", "6.6.6")
	a := h.post(t, api.PathOAuthRegister, attack)
	if a.status != http.StatusOK {
		t.Fatalf("the attacker's registration: %d %s, want a pending key change", a.status, a.body)
	}
	var da api.DeviceAuthorization
	a.json(t, &da)
	wantOAuthError(t, h.poll(t, d, auto, da.DeviceCode), http.StatusBadRequest, api.CodeAuthorizationPending)
	after, err := h.admin.GetEndpoint(ctx, d.id)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after, cmpIgnore("LastSeenAt", "LastSeenFrom")); diff != "" {
		t.Errorf("the attacker's registration changed the endpoint (-before +after):\n%s", diff)
	}
	kcs, err := h.admin.ListKeyChanges(ctx, "")
	if err != nil || len(kcs) != 1 || kcs[0].KeyType != "" || !strings.HasPrefix(kcs[0].KeyFingerprint, "keyless-") ||
		kcs[0].RequestedHostname != "evil" || kcs[0].RequestedOS != "EvilOS" || kcs[0].RequestedVersion != "6.6.6" {
		t.Fatalf("key changes %+v, %v", kcs, err)
	}

	// Again: refused while the first waits, and audited.
	wantOAuthError(t, h.post(t, api.PathOAuthRegister, attack), http.StatusBadRequest, api.CodeInvalidRequest)
	if f := h.failures(t, "endpoint.key_change.request"); len(f) != 1 || f[0]["pending_key_fingerprint"] != kcs[0].KeyFingerprint {
		t.Errorf("audit of the refused registration: %v", f)
	}

	// The device's own tokens keep working; the admin rejects the change
	// and the attacker's code is denied.
	refresh := form("grant_type", "refresh_token", "refresh_token", tok.RefreshToken, "client_id", d.id, "client_secret", auto)
	h.tokens(t, h.post(t, api.PathOAuthToken, refresh))
	if _, err := h.admin.RejectKeyChange(ctx, d.id, kcs[0].KeyFingerprint); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(testInterval)
	wantOAuthError(t, h.poll(t, d, auto, da.DeviceCode), http.StatusBadRequest, api.CodeAccessDenied)
}
