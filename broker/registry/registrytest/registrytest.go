// Package registrytest builds a real registry for tests of the registry and
// of the transports and tools around it: the SQLite store in t.TempDir(), a
// fresh EdDSA signer, bootstrapped with a known admin password.
package registrytest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/sqlite"
	"github.com/edgetrust/edgetrust/broker/token"
)

// AdminPassword is the bootstrap admin's password.
const AdminPassword = "registrytest-admin-password"

// Options adjust the registry; the zero value means defaults.
type Options struct {
	// Clock drives both the registry and the token signer (nil = system clock).
	Clock registry.Clock
}

// Env is a bootstrapped registry and the parts it is made of.
type Env struct {
	Registry      *registry.Registry
	Store         registry.Store
	Issuer        *token.Issuer
	RootAccountID string
}

// New builds an Env; the store is closed when the test ends.
func New(t testing.TB, opts Options) *Env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "edgetrust.db")})
	if err != nil {
		t.Fatalf("registrytest: opening store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var now func() time.Time
	if opts.Clock != nil {
		now = opts.Clock.Now
	}
	iss, err := token.New(token.Config{Key: key, Now: now})
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	reg, err := registry.New(registry.Config{Store: st, Signer: iss, Clock: opts.Clock})
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	res, err := reg.Bootstrap(ctx, AdminPassword)
	// A password given to Bootstrap is never handed back.
	if err != nil || !res.Created || res.AdminPassword != "" {
		t.Fatalf("registrytest: bootstrap: %+v %v", res, err)
	}
	return &Env{Registry: reg, Store: st, Issuer: iss, RootAccountID: res.RootAccountID}
}

// Admin signs in as the bootstrap admin and returns the principal.
func (e *Env) Admin(t testing.TB) *registry.Principal {
	t.Helper()
	ctx := context.Background()
	tp, _, err := e.Registry.SignIn(ctx, registry.SignInRequest{Username: registry.AdminUsername, Password: AdminPassword})
	if err != nil {
		t.Fatalf("registrytest: admin sign-in: %v", err)
	}
	p, err := e.Registry.Authenticate(ctx, tp.AccessToken)
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	return p
}
