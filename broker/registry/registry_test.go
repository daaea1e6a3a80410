package registry_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/apikey"
	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t      *testing.T
	ctx    context.Context
	reg    *registry.Registry
	store  registry.Store
	signer registry.Signer
	clk    *fakeClock
	admin  *registry.Principal
	root   string
	re     *brokertest.Env
}

const adminPW = brokertest.AdminPassword

var loopback = netip.MustParseAddr("127.0.0.1")

func newEnv(t *testing.T) *env {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	re := brokertest.New(t, brokertest.Options{Clock: clk})
	e := &env{t: t, ctx: context.Background(), reg: re.Registry, store: re.Store, signer: re.Issuer, clk: clk, root: re.RootAccountID, re: re}
	e.admin = re.Admin(t)
	return e
}

func (e *env) signIn(user, pw string) *registry.Principal {
	e.t.Helper()
	tp, err := signInTokens(e.reg.SignIn(e.ctx, registry.SignInRequest{Username: user, Password: pw, Remote: loopback}))
	if err != nil {
		e.t.Fatalf("sign in %s: %v", user, err)
	}
	p, err := e.reg.Authenticate(e.ctx, tp.AccessToken)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) key(req registry.CreateAPIKeyRequest) *registry.CreatedKey {
	e.t.Helper()
	if req.Name == "" {
		req.Name = "test key"
	}
	k, err := e.reg.CreateAPIKey(e.ctx, e.admin, req)
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

type device struct {
	id  string
	pub ed25519.PublicKey
	jkt string
}

func newDevice(t *testing.T) device {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	jkt, err := protocol.Thumbprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	return device{id: uuid.NewString(), pub: pub, jkt: jkt}
}

func (e *env) register(d device, key string) (*registry.RegisterResult, error) {
	return e.reg.Register(e.ctx, registry.RegisterRequest{
		APIKey: key, ClientID: d.id, ClientType: "desktop_client", Hostname: "host-" + d.id[:8],
		KeyType: registry.KeyTypeEd25519, PublicKey: d.pub, Proven: true, Remote: loopback,
	})
}

func (e *env) mustRegister(d device, key string) *registry.RegisterResult {
	e.t.Helper()
	res, err := e.register(d, key)
	if err != nil {
		e.t.Fatalf("register: %v", err)
	}
	return res
}

func wantKind(t *testing.T, err error, k registry.Kind) {
	t.Helper()
	if err == nil || registry.KindOf(err) != k {
		t.Fatalf("error = %v (kind %v), want kind %v", err, registry.KindOf(err), k)
	}
}

func TestRegisterTrustsPerKeyAndAccount(t *testing.T) {
	e := newEnv(t)
	auto := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	manual := e.key(registry.CreateAPIKeyRequest{})

	res := e.mustRegister(newDevice(t), auto.Value)
	if res.Endpoint.State != registry.StateTrusted || res.Tokens == nil || !res.Created {
		t.Fatalf("auto-trust key: state %s tokens %v", res.Endpoint.State, res.Tokens != nil)
	}
	res = e.mustRegister(newDevice(t), manual.Value)
	if res.Endpoint.State != registry.StatePending || res.Tokens != nil {
		t.Fatalf("manual key: state %s tokens %v", res.Endpoint.State, res.Tokens != nil)
	}
	if want := e.clk.Now().Add(72 * time.Hour); !res.Endpoint.DeviceCodeExpiresAt.Equal(want) {
		t.Fatalf("pending expiry = %v, want %v", res.Endpoint.DeviceCodeExpiresAt, want)
	}
	// An account that trusts all endpoints trusts even with a manual key.
	if err := e.store.Update(e.ctx, func(tx registry.Tx) error {
		a, err := tx.GetAccount(e.root)
		if err != nil {
			return err
		}
		a.TrustAllEndpoints = true
		return tx.UpdateAccount(a)
	}); err != nil {
		t.Fatal(err)
	}
	if res := e.mustRegister(newDevice(t), manual.Value); res.Endpoint.State != registry.StateTrusted {
		t.Fatalf("trust-all account: state %s", res.Endpoint.State)
	}
}

func TestRegisterValidates(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	d := newDevice(t)
	for name, mutate := range map[string]func(*registry.RegisterRequest){
		"upper-case uuid": func(r *registry.RegisterRequest) { r.ClientID = "A" + r.ClientID[1:] },
		"not a uuid":      func(r *registry.RegisterRequest) { r.ClientID = "printer-1" },
		"bad type":        func(r *registry.RegisterRequest) { r.ClientType = "toaster" },
		"short key":       func(r *registry.RegisterRequest) { r.PublicKey = r.PublicKey[:31] },
		"rsa key type":    func(r *registry.RegisterRequest) { r.KeyType = "dsa" },
		"long hostname":   func(r *registry.RegisterRequest) { r.Hostname = string(make([]byte, 300)) },
	} {
		t.Run(name, func(t *testing.T) {
			req := registry.RegisterRequest{APIKey: k.Value, ClientID: "0b8e7c1e-0a53-4b0a-9d8e-5b8f0a4f7f10", ClientType: "printer",
				KeyType: registry.KeyTypeEd25519, PublicKey: d.pub, Proven: true, Remote: loopback}
			if name == "upper-case uuid" {
				req.ClientID = "0B8E7C1E-0a53-4b0a-9d8e-5b8f0a4f7f10"
			} else {
				mutate(&req)
			}
			_, err := e.reg.Register(e.ctx, req)
			wantKind(t, err, registry.KindInvalid)
		})
	}
}

func TestKeyRefusalsLookTheSameAndAreAudited(t *testing.T) {
	e := newEnv(t)
	good := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	inactive := e.key(registry.CreateAPIKeyRequest{Inactive: true})
	wrongIP := e.key(registry.CreateAPIKeyRequest{AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}})
	expiring := e.key(registry.CreateAPIKeyRequest{ExpiresAt: e.clk.Now().Add(time.Hour)})
	e.clk.Advance(2 * time.Hour)
	goodID, _ := apikey.Parse(good.Value)
	forged, err := apikey.Regenerate(goodID) // right public id, well-formed, wrong secret
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct{ name, value, reason string }{
		{"malformed", "etk_garbage", "malformed"},
		{"mistyped", good.Value[:30] + "aaaaaaaa" + good.Value[38:], "malformed"}, // the checksum catches it
		{"wrong secret", forged, "wrong secret"},
		{"inactive", inactive.Value, "key inactive"},
		{"wrong address", wrongIP.Value, "address not allowed"},
		{"expired", expiring.Value, "key expired"},
	}
	var msg string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// A repeat within the minute would be folded (refusals.go).
			e.clk.Advance(time.Minute)
			_, err := e.register(newDevice(t), c.value)
			wantKind(t, err, registry.KindInvalidClient)
			if got := registry.RefusalReason(err); got != c.reason {
				t.Errorf("reason = %q, want %q", got, c.reason)
			}
			if msg == "" {
				msg = registry.PublicMessage(err)
			} else if registry.PublicMessage(err) != msg {
				t.Errorf("public message %q differs from %q", registry.PublicMessage(err), msg)
			}
		})
	}
	var refused int
	e.store.View(e.ctx, func(tx registry.Tx) error {
		evs, err := tx.ListAudit(registry.AuditFilter{Action: "endpoint.register"})
		for _, ev := range evs {
			if ev.Outcome == registry.OutcomeFailure && ev.Detail["reason"] != "" {
				refused++
			}
			for _, v := range ev.Detail {
				if v == good.Value || v == inactive.Value {
					t.Errorf("audit holds a key value")
				}
			}
		}
		return err
	})
	if refused != len(cases) {
		t.Fatalf("%d refusals audited, want %d", refused, len(cases))
	}
	// A key of a sibling account cannot act on another account.
	_, err = e.reg.Register(e.ctx, registry.RegisterRequest{APIKey: good.Value, AccountID: uuid.NewString(),
		ClientID: uuid.NewString(), ClientType: "printer", Remote: loopback})
	wantKind(t, err, registry.KindInvalidClient)
}

func TestTransitions(t *testing.T) {
	type step struct {
		action registry.Action
		want   registry.State // "" = conflict
	}
	cases := map[string][]step{
		"approve pending":       {{registry.ActionApprove, registry.StateTrusted}},
		"approve twice is noop": {{registry.ActionApprove, registry.StateTrusted}, {registry.ActionApprove, registry.StateTrusted}},
		"reject pending":        {{registry.ActionReject, registry.StateRejected}},
		"reject then approve":   {{registry.ActionReject, registry.StateRejected}, {registry.ActionApprove, registry.StateTrusted}},
		"reject twice":          {{registry.ActionReject, registry.StateRejected}, {registry.ActionReject, ""}},
		"untrust pending":       {{registry.ActionUntrust, ""}},
		"untrust then reapprove": {{registry.ActionApprove, registry.StateTrusted}, {registry.ActionUntrust, registry.StateUntrusted},
			{registry.ActionApprove, registry.StateTrusted}},
		"reject trusted":   {{registry.ActionApprove, registry.StateTrusted}, {registry.ActionReject, ""}},
		"untrust rejected": {{registry.ActionReject, registry.StateRejected}, {registry.ActionUntrust, ""}},
	}
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{})
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) {
			d := newDevice(t)
			e.mustRegister(d, k.Value)
			for i, s := range steps {
				ep, err := e.reg.Decide(e.ctx, e.admin, d.id, s.action, loopback)
				if s.want == "" {
					wantKind(t, err, registry.KindConflict)
					continue
				}
				if err != nil {
					t.Fatalf("step %d %s: %v", i, s.action, err)
				}
				if ep.State != s.want {
					t.Fatalf("step %d %s: state %s, want %s", i, s.action, ep.State, s.want)
				}
			}
		})
	}
	_, err := e.reg.Decide(e.ctx, e.admin, uuid.NewString(), registry.ActionApprove, loopback)
	wantKind(t, err, registry.KindNotFound)
}

func TestDecisionsArePublishedAfterCommit(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{})
	d := newDevice(t)
	events, cancel := e.reg.Bus().Subscribe(d.id)
	defer cancel()
	// A watcher reads the store the moment each event arrives, while the
	// decisions go on: an event published before its commit would find the
	// old state (or the endpoint still there after "deleted").
	type seen struct{ event, stored string }
	seenc := make(chan seen, 8)
	go func() {
		for ev := range events {
			stored := "gone"
			e.store.View(e.ctx, func(tx registry.Tx) error {
				if ep, err := tx.GetEndpoint(ev.EndpointID); err == nil {
					stored = string(ep.State)
				}
				return nil
			})
			seenc <- seen{ev.Type, stored}
			if ev.State == registry.StateDeleted {
				return
			}
		}
	}()
	// Each step waits for its event to be observed before the next one, so
	// the state read can only be this step's (committed) or an older one.
	var got []seen
	step := func(do func() error) {
		t.Helper()
		if err := do(); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-seenc:
			got = append(got, s)
		case <-time.After(5 * time.Second):
			t.Fatalf("events so far: %v", got)
		}
	}
	step(func() error { _, err := e.register(d, k.Value); return err })
	for _, a := range []registry.Action{registry.ActionApprove, registry.ActionUntrust} {
		step(func() error { _, err := e.reg.Decide(e.ctx, e.admin, d.id, a, loopback); return err })
	}
	step(func() error { return e.reg.DeleteEndpoint(e.ctx, e.admin, d.id, loopback) })
	want := []seen{{"endpoint.pending", "pending"}, {"endpoint.trusted", "trusted"}, {"endpoint.untrusted", "untrusted"}, {"endpoint.deleted", "gone"}}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(seen{})); d != "" {
		t.Fatalf("events and the state stored when each arrived (-want +got):\n%s", d)
	}
}

func TestReRegistration(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{})
	d := newDevice(t)
	e.mustRegister(d, k.Value)
	// Pending: re-registering stays pending and issues nothing.
	if res := e.mustRegister(d, k.Value); res.Endpoint.State != registry.StatePending || res.Tokens != nil || res.Created {
		t.Fatalf("pending re-registration: %+v", res)
	}
	e.reg.Decide(e.ctx, e.admin, d.id, registry.ActionApprove, loopback)
	if res := e.mustRegister(d, k.Value); res.Tokens == nil {
		t.Fatal("signed re-registration of a trusted endpoint issued no tokens")
	}
	// Another public key for the same client id is not accepted silently:
	// it is a pending key change (E4; oauth_test.go covers the rest).
	other := newDevice(t)
	other.id = d.id
	if res := e.mustRegister(other, k.Value); !res.KeyChange || res.Tokens != nil || res.Endpoint.State != registry.StatePending {
		t.Fatalf("registration with another key: %+v", res)
	}
	// Untrusted is never revived by re-registering.
	e.reg.Decide(e.ctx, e.admin, d.id, registry.ActionUntrust, loopback)
	if res := e.mustRegister(d, k.Value); res.Endpoint.State != registry.StateUntrusted || res.Tokens != nil {
		t.Fatalf("untrusted re-registration: state %s tokens %v", res.Endpoint.State, res.Tokens != nil)
	}
}

// limitedValue adds a value with a use limit to a key.
func limitedValue(t *testing.T, e *env, keyID string, limit int64) string {
	t.Helper()
	v, err := e.reg.AddKeyValue(e.ctx, e.admin, keyID, registry.AddValueRequest{Description: "limited", UseLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	return v.Value
}

func TestUseLimitCountsNewEndpointsOnly(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	value := limitedValue(t, e, k.Key.ID, 1)
	d := newDevice(t)
	e.mustRegister(d, value)
	for i := 0; i < 3; i++ { // retries and re-registrations consume nothing (E9, K8)
		if res := e.mustRegister(d, value); res.Tokens == nil {
			t.Fatal("re-registration on a spent value issued no tokens")
		}
	}
	_, err := e.register(newDevice(t), value)
	wantKind(t, err, registry.KindInvalidClient)
	if r := registry.RefusalReason(err); r != "use limit reached" {
		t.Fatalf("reason = %q", r)
	}
}

func TestRefreshRotatesAndReuseRevokesTheChainOnly(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	d := newDevice(t)
	first := e.mustRegister(d, k.Value).Tokens
	second, err := e.reg.Refresh(e.ctx, first.RefreshToken, d.jkt, loopback)
	if err != nil {
		t.Fatal(err)
	}
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("refresh did not rotate")
	}
	// Only the key holder refreshes a bound token.
	_, err = e.reg.Refresh(e.ctx, second.RefreshToken, newDevice(t).jkt, loopback)
	wantKind(t, err, registry.KindInvalidGrant)
	// Its holder moves on; the spent first token presented again once its
	// successor was used is reuse: the chain dies... (A spent token whose
	// successor nobody used is a lost answer's retry: clones_test.go.)
	third, err := e.reg.Refresh(e.ctx, second.RefreshToken, d.jkt, loopback)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.reg.Refresh(e.ctx, first.RefreshToken, d.jkt, loopback)
	wantKind(t, err, registry.KindInvalidGrant)
	_, err = e.reg.Refresh(e.ctx, third.RefreshToken, d.jkt, loopback)
	wantKind(t, err, registry.KindInvalidGrant)
	// ...but trust stays, and a signed re-registration recovers (T2).
	res := e.mustRegister(d, k.Value)
	if res.Endpoint.State != registry.StateTrusted || res.Tokens == nil {
		t.Fatalf("after reuse: %s", res.Endpoint.State)
	}
	if _, err := e.reg.Refresh(e.ctx, res.Tokens.RefreshToken, d.jkt, loopback); err != nil {
		t.Fatalf("new chain: %v", err)
	}
	// Refresh tokens expire.
	e.clk.Advance(91 * 24 * time.Hour)
	_, err = e.reg.Refresh(e.ctx, res.Tokens.RefreshToken, d.jkt, loopback)
	wantKind(t, err, registry.KindInvalidGrant)
}

func TestReusedRefreshTokenRevokesItsSuccessor(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	d := newDevice(t)
	first := e.mustRegister(d, k.Value).Tokens
	second, err := e.reg.Refresh(e.ctx, first.RefreshToken, d.jkt, loopback)
	if err != nil {
		t.Fatal(err)
	}
	third, err := e.reg.Refresh(e.ctx, second.RefreshToken, d.jkt, loopback)
	if err != nil {
		t.Fatal(err)
	}
	// A copy of first used by someone else after the chain moved on.
	_, err = e.reg.Refresh(e.ctx, first.RefreshToken, d.jkt, loopback)
	wantKind(t, err, registry.KindInvalidGrant)
	_, err = e.reg.Refresh(e.ctx, third.RefreshToken, d.jkt, loopback)
	wantKind(t, err, registry.KindInvalidGrant)
	// A copy without the endpoint's key is never a lost answer's retry: a
	// spent token it presents is a reuse even while the successor is
	// unused.
	fresh := e.mustRegister(d, k.Value).Tokens
	next, err := e.reg.Refresh(e.ctx, fresh.RefreshToken, d.jkt, loopback)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.reg.Refresh(e.ctx, fresh.RefreshToken, newDevice(t).jkt, loopback)
	wantKind(t, err, registry.KindInvalidGrant)
	_, err = e.reg.Refresh(e.ctx, next.RefreshToken, d.jkt, loopback)
	wantKind(t, err, registry.KindInvalidGrant)
}

func TestSessionLogin(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	d := newDevice(t)
	tok := e.mustRegister(d, k.Value).Tokens
	login := func(user string, mutate ...func(*registry.LoginRequest)) (*registry.TokenPair, error) {
		req := registry.LoginRequest{APIKey: k.Value, DeviceToken: tok.AccessToken, JKT: d.jkt, Type: protocol.LoginSessionUser, Username: user, Remote: loopback}
		for _, m := range mutate {
			m(&req)
		}
		return e.reg.Login(e.ctx, req)
	}
	alice, err := login("alice")
	if err != nil {
		t.Fatalf("S7 first login: %v", err)
	}
	p, err := e.reg.Authenticate(e.ctx, alice.AccessToken)
	if err != nil || p.Username != "alice" {
		t.Fatalf("alice's token: %+v %v", p, err)
	}
	again, err := login("ALICE")
	if err != nil {
		t.Fatal(err)
	}
	if p2, _ := e.reg.Authenticate(e.ctx, again.AccessToken); p2.UserID != p.UserID {
		t.Fatal("a second login created a second alice")
	}
	_, err = login("admin")
	wantKind(t, err, registry.KindLoginRefused)
	_, err = login("alice", func(r *registry.LoginRequest) { r.JKT = newDevice(t).jkt })
	wantKind(t, err, registry.KindAccessDenied)
	_, err = login("alice", func(r *registry.LoginRequest) { r.DeviceToken = "" })
	wantKind(t, err, registry.KindAccessDenied)
	_, err = login("alice", func(r *registry.LoginRequest) { r.Type = "telepathy" })
	wantKind(t, err, registry.KindInvalid)
	_, err = login("")
	wantKind(t, err, registry.KindInvalid)

	// Untrust: logins stop, and user tokens issued through it stop working.
	if _, err := e.reg.Decide(e.ctx, e.admin, d.id, registry.ActionUntrust, loopback); err != nil {
		t.Fatal(err)
	}
	_, err = login("alice")
	wantKind(t, err, registry.KindAccessDenied)
	_, err = e.reg.Authenticate(e.ctx, alice.AccessToken)
	wantKind(t, err, registry.KindUnauthenticated)
	_, err = e.reg.Refresh(e.ctx, alice.RefreshToken, "", loopback)
	wantKind(t, err, registry.KindInvalidGrant)
}

func TestSessionLoginWithoutUserCreation(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true, AllowUntrustedEndpoints: true})
	e.store.Update(e.ctx, func(tx registry.Tx) error {
		a, _ := tx.GetAccount(e.root)
		a.DenyUserCreation = true
		return tx.UpdateAccount(a)
	})
	_, err := e.reg.Login(e.ctx, registry.LoginRequest{APIKey: k.Value, Type: protocol.LoginSessionUser, Username: "bob", Remote: loopback})
	wantKind(t, err, registry.KindUnknownUser)
}

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	_, err := e.reg.SignIn(e.ctx, registry.SignInRequest{Username: "admin", Password: "wrong", Remote: loopback})
	wantKind(t, err, registry.KindUnauthenticated)
	_, err2 := e.reg.SignIn(e.ctx, registry.SignInRequest{Username: "nobody", Password: "wrong", Remote: loopback})
	wantKind(t, err2, registry.KindUnauthenticated)
	if registry.PublicMessage(err) != registry.PublicMessage(err2) {
		t.Fatal("unknown user and wrong password answer differently")
	}
	var limited error
	for i := 0; i < 20 && limited == nil; i++ {
		_, err := e.reg.SignIn(e.ctx, registry.SignInRequest{Username: "admin", Password: "wrong", Remote: loopback})
		if registry.KindOf(err) == registry.KindRateLimited {
			limited = err
		}
	}
	if limited == nil {
		t.Fatal("20 quick wrong passwords were never rate-limited")
	}
	// Retry-After is enough, and no more than a window and a bit.
	wait := registry.RetryAfter(limited)
	if wait <= 0 || wait > 2*time.Minute {
		t.Fatalf("RetryAfter = %s, want within (0, 2m]", wait)
	}
	e.clk.Advance(wait)
	e.signIn("admin", adminPW)
}

func TestPermissions(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{})
	d := newDevice(t)
	e.mustRegister(d, k.Value)
	// An approver may decide endpoints but not create keys; a user with no
	// role sees nothing at all (404, never 403).
	hash, _ := registry.HashPassword("approver-pw")
	hash2, _ := registry.HashPassword("plain-pw")
	e.store.Update(e.ctx, func(tx registry.Tx) error {
		now := e.clk.Now()
		u := &registry.User{ID: uuid.NewString(), AccountID: e.root, Username: "appr", PasswordHash: hash, Source: "local", CreatedAt: now}
		v := &registry.User{ID: uuid.NewString(), AccountID: e.root, Username: "plain", PasswordHash: hash2, Source: "local", CreatedAt: now}
		if err := errors.Join(tx.CreateUser(u), tx.CreateUser(v)); err != nil {
			return err
		}
		return tx.CreateGrant(&registry.Grant{UserID: u.ID, RoleID: registry.RoleApprover, AccountID: e.root, CreatedAt: now})
	})
	appr, plain := e.signIn("appr", "approver-pw"), e.signIn("plain", "plain-pw")
	if _, err := e.reg.Decide(e.ctx, appr, d.id, registry.ActionApprove, loopback); err != nil {
		t.Fatalf("approver approving: %v", err)
	}
	_, err := e.reg.CreateAPIKey(e.ctx, appr, registry.CreateAPIKeyRequest{Name: "x"})
	wantKind(t, err, registry.KindPermission)
	_, err = e.reg.Decide(e.ctx, plain, d.id, registry.ActionUntrust, loopback)
	wantKind(t, err, registry.KindNotFound)
	if eps, err := e.reg.ListEndpoints(e.ctx, plain, registry.EndpointFilter{}); err != nil || len(eps) != 0 {
		t.Fatalf("plain user lists %d endpoints, %v", len(eps), err)
	}
	if eps, err := e.reg.ListEndpoints(e.ctx, appr, registry.EndpointFilter{State: registry.StateTrusted}); err != nil || len(eps) != 1 {
		t.Fatalf("approver lists %d trusted endpoints, %v", len(eps), err)
	}
}

func TestBootstrapOnce(t *testing.T) {
	e := newEnv(t)
	res, err := e.reg.Bootstrap(e.ctx, "")
	if err != nil || res.Created || res.RootAccountID != e.root {
		t.Fatalf("second bootstrap: %+v %v", res, err)
	}
	accts, err := e.reg.ListAccounts(e.ctx, e.admin)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range accts {
		names = append(names, a.Name+"/"+string(a.Type))
	}
	slices.Sort(names) // created in one transaction at one instant: no order between them
	if d := cmp.Diff([]string{"default/customer", "root/vendor"}, names); d != "" {
		t.Fatalf("accounts (-want +got):\n%s", d)
	}
}

func TestRefreshUserRefusesDeviceTokensWithoutSpendingThem(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	d := newDevice(t)
	tok := e.mustRegister(d, k.Value).Tokens
	_, err := e.reg.RefreshUser(e.ctx, tok.RefreshToken)
	wantKind(t, err, registry.KindInvalidGrant)
	if _, err := e.reg.Refresh(e.ctx, tok.RefreshToken, d.jkt, loopback); err != nil {
		t.Fatalf("device refresh after a refused user refresh: %v", err)
	}
}

func TestSessionLoginTypesResolveTheSameUser(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	d := newDevice(t)
	tok := e.mustRegister(d, k.Value).Tokens
	userOf := func(typ, username, domain, upn string) string {
		t.Helper()
		tp, err := e.reg.Login(e.ctx, registry.LoginRequest{APIKey: k.Value, DeviceToken: tok.AccessToken, JKT: d.jkt,
			Type: typ, Username: username, Domain: domain, UPN: upn, Remote: loopback})
		if err != nil {
			t.Fatalf("%s login: %v", typ, err)
		}
		p, err := e.reg.Authenticate(e.ctx, tp.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		return p.UserID
	}
	withDomain := userOf(protocol.LoginSessionUserDomain, "dave", "corp", "")
	if got := userOf(protocol.LoginUPN, "dave", "corp", "dave@corp"); got != withDomain {
		t.Fatal("upn dave@corp is not the user dave in domain corp")
	}
	if got := userOf(protocol.LoginSessionUserDomain, "Dave", "CORP", ""); got != withDomain {
		t.Fatal("names and domains do not compare case-insensitively")
	}
	plain := userOf(protocol.LoginSessionUser, "dave", "", "")
	if plain == withDomain {
		t.Fatal("a session_user login without a domain took the user of domain corp")
	}
	if got := userOf(protocol.LoginSessionUser, "dave", "", ""); got != plain {
		t.Fatal("a second session_user login created another user")
	}
}

// failingEndpoints is a store whose endpoint reads fail, as a broken disk would.
type failingEndpoints struct{ registry.Store }

type failingEndpointsTx struct{ registry.Tx }

func (failingEndpointsTx) GetEndpoint(string) (*registry.Endpoint, error) {
	return nil, errors.New("disk I/O error")
}

func (s failingEndpoints) Update(ctx context.Context, fn func(registry.Tx) error) error {
	return s.Store.Update(ctx, func(tx registry.Tx) error { return fn(failingEndpointsTx{tx}) })
}

func (s failingEndpoints) View(ctx context.Context, fn func(registry.Tx) error) error {
	return s.Store.View(ctx, func(tx registry.Tx) error { return fn(failingEndpointsTx{tx}) })
}

// A store failure is an internal error, never a trust decision the caller
// would act on (an agent told "not trusted" drops its tokens).
func TestStoreFailureIsNotATrustDecision(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	d := newDevice(t)
	tok := e.mustRegister(d, k.Value).Tokens
	broken, err := registry.New(registry.Config{Store: failingEndpoints{e.store}, Signer: e.signer, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	_, err = broken.Login(e.ctx, registry.LoginRequest{APIKey: k.Value, DeviceToken: tok.AccessToken, JKT: d.jkt,
		Type: protocol.LoginSessionUser, Username: "erin", Remote: loopback})
	wantKind(t, err, registry.KindInternal)
	_, err = broken.Refresh(e.ctx, tok.RefreshToken, d.jkt, loopback)
	wantKind(t, err, registry.KindInternal)
	// The failed refresh spent nothing: the working registry still rotates it.
	if _, err := e.reg.Refresh(e.ctx, tok.RefreshToken, d.jkt, loopback); err != nil {
		t.Fatalf("refresh after a failed one: %v", err)
	}
}
