package httpapi_test

import (
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// TestDeviceClockDoesNotMatter (SPEC R9): a device whose clock is a day
// off either way logs in with DPoP as one whose clock is right — the
// broker's nonce makes a proof fresh, not its iat — and so does a device
// whose clock reads the Unix epoch.
func TestDeviceClockDoesNotMatter(t *testing.T) {
	h := newOAuthHarness(t, true)
	auto := h.key(t, api.CreateKeyRequest{AutoTrust: true})
	for _, skew := range []struct {
		name string
		iat  func() int64
	}{
		{"24 h behind", func() int64 { return time.Now().Add(-24 * time.Hour).Unix() }},
		{"right", func() int64 { return time.Now().Unix() }},
		{"24 h ahead", func() int64 { return time.Now().Add(24 * time.Hour).Unix() }},
		{"at the epoch", func() int64 { return 0 }},
	} {
		t.Run(skew.name, func(t *testing.T) {
			p := newEd25519Prover(t)
			tok := h.trusted(t, p.device, auto).AccessToken
			proof := p.proof(t, h, h.nonce(t), tok, func(_, c map[string]any) { c["iat"] = skew.iat() })
			userToken(t, h.loginCall(t, sessionBody, "X-API-Key", auto, "Authorization", "DPoP "+tok, "DPoP", proof))
		})
	}
}
