package httpapi_test

import (
	"context"
	"testing"

	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// TestCloneSuspectedOverHTTP is SPEC R24 over the OAuth API: a device's
// identity (key and refresh token) used from two places, each moving on
// from one refresh token, shows as clone_suspected_at on the endpoint;
// clear-clone clears it; an account that locks suspected clones out
// refuses both copies.
func TestCloneSuspectedOverHTTP(t *testing.T) {
	h := newOAuthHarness(t, false)
	ctx := context.Background()
	auto := h.key(t, api.CreateKeyRequest{AutoTrust: true})
	fork := func(t *testing.T) (*device, answer) {
		d := newEd25519Device(t, false)
		da := h.register(t, d, auto)
		tok := h.tokens(t, h.poll(t, d, auto, da.DeviceCode))
		refresh := func(rt string) answer {
			return h.signed(t, d, api.PathOAuthToken, form("grant_type", "refresh_token", "refresh_token", rt, "client_id", d.id, "client_secret", auto))
		}
		a1 := h.tokens(t, refresh(tok.RefreshToken)) // copy A
		b1 := h.tokens(t, refresh(tok.RefreshToken)) // copy B, from the same token
		h.tokens(t, refresh(a1.RefreshToken))
		return d, refresh(b1.RefreshToken)
	}

	t.Run("marked, then cleared", func(t *testing.T) {
		d, last := fork(t)
		h.tokens(t, last) // the mark does not refuse
		ep, err := h.admin.GetEndpoint(ctx, d.id)
		if err != nil {
			t.Fatal(err)
		}
		if ep.CloneSuspectedAt == nil || ep.State != protocol.StateTrusted {
			t.Fatalf("endpoint after the fork: clone_suspected_at %v, state %s", ep.CloneSuspectedAt, ep.State)
		}
		ep, err = h.admin.ClearCloneMark(ctx, d.id)
		if err != nil {
			t.Fatal(err)
		}
		if ep.CloneSuspectedAt != nil || ep.State != protocol.StateTrusted {
			t.Fatalf("after clear-clone: clone_suspected_at %v, state %s", ep.CloneSuspectedAt, ep.State)
		}
		if _, err := h.admin.ClearCloneMark(ctx, "0b6f7c1e-3f9c-4d61-9a57-2f2d8c0e4b7a"); !api.IsStatus(err, 404) {
			t.Errorf("clear-clone of an unknown endpoint: %v, want 404", err)
		}
	})

	t.Run("locked out", func(t *testing.T) {
		d0 := newEd25519Device(t, false)
		h.tokens(t, h.poll(t, d0, auto, h.register(t, d0, auto).DeviceCode))
		ep0, err := h.admin.GetEndpoint(ctx, d0.id)
		if err != nil {
			t.Fatal(err)
		}
		acct, err := h.admin.GetAccount(ctx, ep0.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		s := acct.Settings
		s.LockOutClones = true
		if acct, err = h.admin.UpdateAccount(ctx, acct.ID, api.UpdateAccountRequest{Settings: &s}); err != nil || !acct.Settings.LockOutClones {
			t.Fatalf("turning lock-out on: %+v %v", acct, err)
		}
		d, last := fork(t)
		wantOAuthError(t, last, 400, "access_denied")
		ep, err := h.admin.GetEndpoint(ctx, d.id)
		if err != nil {
			t.Fatal(err)
		}
		if ep.CloneSuspectedAt == nil || ep.State != protocol.StateUntrusted {
			t.Fatalf("endpoint after the fork: clone_suspected_at %v, state %s", ep.CloneSuspectedAt, ep.State)
		}
	})
}
