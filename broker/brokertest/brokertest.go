// Package brokertest builds a real registry for tests of the registry and
// of the transports and tools around it: the SQLite store in t.TempDir(), a
// fresh EdDSA signer, bootstrapped with a known admin password.
package brokertest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/sqlite"
	"github.com/edgetrust/edgetrust/broker/token"
	"github.com/edgetrust/edgetrust/broker/webhook"
)

// AdminPassword is the bootstrap admin's password.
const AdminPassword = "brokertest-admin-password"

// Options adjust the registry; the zero value means defaults.
type Options struct {
	// Clock drives both the registry and the token signer (nil = system clock).
	Clock registry.Clock
	// WrapStore, when set, wraps the SQLite store the registry uses (and
	// Env.Store is): a fault at a narrow boundary, such as a disk that
	// fills up.
	WrapStore func(registry.Store) registry.Store

	// Observer is the registry's observer (nil = none).
	Observer registry.Observer
}

// Env is a bootstrapped registry and the parts it is made of.
type Env struct {
	Registry      *registry.Registry
	Store         registry.Store
	Issuer        *token.Issuer
	RootAccountID string

	mu    sync.Mutex
	admin *registry.Principal
}

// migrated holds the database file of an empty store with every migration
// applied, made once per test binary: each Env starts from a copy of it, a
// real SQLite file like any other. Running the migrations was 0.9 s of
// New's 1.1 s under -race, for each of the hundreds of Envs of a run.
var migrated struct {
	once sync.Once
	db   []byte
	err  error
}

func migratedDB() ([]byte, error) {
	migrated.once.Do(func() {
		migrated.db, migrated.err = makeMigratedDB()
	})
	return migrated.db, migrated.err
}

func makeMigratedDB() ([]byte, error) {
	dir, err := os.MkdirTemp("", "brokertest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "edgetrust.db")
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: p})
	if err != nil {
		return nil, fmt.Errorf("migrating a template store: %w", err)
	}
	// Closing the last connection checkpoints the WAL into the file; were
	// anything left out, Open would apply the missing migrations again.
	if err := st.Close(); err != nil {
		return nil, fmt.Errorf("closing the template store: %w", err)
	}
	return os.ReadFile(p)
}

// New builds an Env; the store is closed when the test ends.
func New(t testing.TB, opts Options) *Env {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "edgetrust.db")
	db, err := migratedDB()
	if err == nil {
		err = os.WriteFile(path, db, 0o600)
	}
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	st, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatalf("brokertest: opening store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	var store registry.Store = st
	if opts.WrapStore != nil {
		store = opts.WrapStore(st)
	}
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
		t.Fatalf("brokertest: %v", err)
	}
	sealKey := make([]byte, 32)
	rand.Read(sealKey)
	sealer, err := webhook.NewSealer(sealKey)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(registry.Config{Store: store, Signer: iss, Clock: opts.Clock, WebhookSealer: sealer, Observer: opts.Observer})
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	res, err := reg.Bootstrap(ctx, AdminPassword)
	// A password given to Bootstrap is never handed back.
	if err != nil || !res.Created || res.AdminPassword != "" {
		t.Fatalf("brokertest: bootstrap: %+v %v", res, err)
	}
	return &Env{Registry: reg, Store: store, Issuer: iss, RootAccountID: res.RootAccountID}
}

// Admin signs in as the bootstrap admin, once per Env, and returns the
// principal.
func (e *Env) Admin(t testing.TB) *registry.Principal {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.admin == nil {
		e.admin = e.SignIn(t, registry.AdminUsername, AdminPassword, "")
	}
	return e.admin
}

// SignIn signs a user in with a password (accountID "" when the username
// is unique) and returns the principal. Each call comes from its own
// loopback-range address, so tests that sign many users in do not meet
// the per-address rate limit.
func (e *Env) SignIn(t testing.TB, username, password, accountID string) *registry.Principal {
	t.Helper()
	ctx := context.Background()
	n := signIns.Add(1)
	remote := netip.AddrFrom4([4]byte{127, byte(n >> 16), byte(n >> 8), byte(n)})
	res, err := e.Registry.SignIn(ctx, registry.SignInRequest{Username: username, Password: password, AccountID: accountID, Remote: remote})
	if err != nil {
		t.Fatalf("brokertest: sign-in of %s: %v", username, err)
	}
	tp := res.Tokens
	p, err := e.Registry.Authenticate(ctx, tp.AccessToken)
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	return p
}

var signIns atomic.Uint32

// UserPassword is the password NewUser gives every user.
const UserPassword = "brokertest-user-password"

// NewUser creates, as the bootstrap admin, a user of accountID holding
// roles (ids or names) at that account, signs it in and returns its
// principal.
func (e *Env) NewUser(t testing.TB, accountID, username string, roles ...string) *registry.Principal {
	t.Helper()
	_, err := e.Registry.CreateUser(context.Background(), e.Admin(t), registry.CreateUserRequest{
		AccountID: accountID, Username: username, Password: UserPassword, Roles: roles})
	if err != nil {
		t.Fatalf("brokertest: creating user %s: %v", username, err)
	}
	return e.SignIn(t, username, UserPassword, accountID)
}
