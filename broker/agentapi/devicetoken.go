package agentapi

import (
	"sync"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// deviceTokens remembers the last device token the registry verified on a
// connection (registry.VerifiedDeviceToken): logins on the connection that
// present the same token skip the signature check; a refreshed token is
// verified once, then remembered instead. The connection is already bound
// to the device key (HELLO, T3), and the registry still reads the token's
// revocation and the endpoint's state from the store at every login.
type deviceTokens struct {
	mu sync.Mutex
	v  *registry.VerifiedDeviceToken
}

// verified returns the connection's verification of tok, verifying it now
// when it is new. nil when tok is empty or does not verify: the login then
// verifies it itself and answers in its own order (a refused API key
// first, K8).
func (ss *session) verifiedDevice(tok string) *registry.VerifiedDeviceToken {
	if tok == "" {
		return nil
	}
	d := &ss.devTokens
	d.mu.Lock()
	v := d.v
	d.mu.Unlock()
	if v.For(tok) {
		return v
	}
	v, err := ss.s.reg.VerifyDeviceToken(tok)
	if err != nil {
		return nil
	}
	d.mu.Lock()
	d.v = v
	d.mu.Unlock()
	return v
}
