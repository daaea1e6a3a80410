package registry_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// signer is a device that can sign request bodies (HCP-Request-Signature).
type signer struct {
	device
	priv ed25519.PrivateKey
}

func newSigner(t *testing.T) signer {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jkt, err := protocol.Thumbprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	return signer{device: device{id: uuid.NewString(), pub: pub, jkt: jkt}, priv: priv}
}

// loginEnv is a trusted endpoint of the root account with its device
// token, the auto-trust key it registered with, and users to log in.
type loginEnv struct {
	*env
	key    *registry.CreatedKey
	dev    signer
	tokens *registry.TokenPair
	// lastUser is the user of the last login a test kept.
	lastUser *registry.User
}

func newLoginEnv(t *testing.T) *loginEnv {
	t.Helper()
	return newLoginEnvIn(t, "")
}

// newLoginEnvIn is newLoginEnv with the key and its endpoint in a new
// customer account of that name below the root ("" = the root).
func newLoginEnvIn(t *testing.T, customer string) *loginEnv {
	t.Helper()
	e := newEnv(t)
	req := registry.CreateAPIKeyRequest{AutoTrust: true}
	if customer != "" {
		req.AccountID = e.account(e.root, customer, registry.AccountCustomer).ID
	}
	k := e.key(req)
	d := newSigner(t)
	res := e.mustRegister(d.device, k.Value)
	if res.Tokens == nil {
		t.Fatal("an auto-trust registration got no tokens")
	}
	return &loginEnv{env: e, key: k, dev: d, tokens: res.Tokens}
}

// newUser creates a user of the root account as the admin.
func (l *loginEnv) newUser(req registry.CreateUserRequest) string {
	l.t.Helper()
	req.AccountID = l.root
	u, err := l.reg.CreateUser(l.ctx, l.admin, req)
	if err != nil {
		l.t.Fatalf("creating user %s: %v", req.Username, err)
	}
	return u.User.ID
}

// login logs in through the trusted endpoint, proven by the QUIC-style JKT.
func (l *loginEnv) login(req registry.LoginRequest) (*registry.TokenPair, *registry.User, error) {
	req.APIKey, req.DeviceToken, req.Remote = l.key.Value, l.tokens.AccessToken, loopback
	if req.JKT == "" && req.Signature == nil {
		req.JKT = l.dev.jkt
	}
	return l.reg.LoginUser(l.ctx, req)
}

func TestLoginTypes(t *testing.T) {
	l := newLoginEnv(t)
	plain := l.newUser(registry.CreateUserRequest{Username: "paula", Domain: "CORP", UPN: "paula@corp.example",
		Password: "paula-password-1", CardID: "04A1B2C3", ShortID: "4711"})
	admin := l.newUser(registry.CreateUserRequest{Username: "anna", Password: "anna-password-1", CardID: "FF00", ShortID: "1", Roles: []string{"Administrator"}})

	for _, tc := range []struct {
		name     string
		req      registry.LoginRequest
		wantUser string // "" = a user the login created
		wantKind registry.Kind
	}{
		{"password", registry.LoginRequest{Type: protocol.LoginPassword, Username: "PAULA", Domain: "corp", Password: "paula-password-1"}, plain, 0},
		{"password by upn", registry.LoginRequest{Type: protocol.LoginPassword, Username: "paula@corp.example", Password: "paula-password-1"}, plain, 0},
		// A password proves the person: a device may pass on an admin's (S3a names session, card and short id).
		{"password of a user with a role", registry.LoginRequest{Type: protocol.LoginPassword, Username: "anna", Password: "anna-password-1"}, admin, 0},
		{"password without the domain", registry.LoginRequest{Type: protocol.LoginPassword, Username: "paula", Password: "paula-password-1"}, "", registry.KindLoginRefused},
		{"card id", registry.LoginRequest{Type: protocol.LoginCardID, CardID: "04a1b2c3"}, plain, 0},
		{"short id", registry.LoginRequest{Type: protocol.LoginShortID, ShortID: "4711"}, plain, 0},
		{"short id is not a number", registry.LoginRequest{Type: protocol.LoginShortID, ShortID: "04711"}, "", registry.KindUnknownUser},
		{"unknown card", registry.LoginRequest{Type: protocol.LoginCardID, CardID: "nope"}, "", registry.KindUnknownUser},
		{"card of a user with a role", registry.LoginRequest{Type: protocol.LoginCardID, CardID: "ff00"}, "", registry.KindLoginRefused},
		{"short id of a user with a role", registry.LoginRequest{Type: protocol.LoginShortID, ShortID: "1"}, "", registry.KindLoginRefused},
		{"upn", registry.LoginRequest{Type: protocol.LoginUPN, UPN: "paula@corp.example"}, plain, 0},
		{"session user and domain", registry.LoginRequest{Type: protocol.LoginSessionUserDomain, Username: "paula", Domain: "Corp"}, plain, 0},
		{"session user, created", registry.LoginRequest{Type: protocol.LoginSessionUser, Username: "newcomer"}, "", 0},
		{"card without card_id", registry.LoginRequest{Type: protocol.LoginCardID}, "", registry.KindInvalid},
		{"password without a password", registry.LoginRequest{Type: protocol.LoginPassword, Username: "paula"}, "", registry.KindInvalid},
		{"card id with a newline", registry.LoginRequest{Type: protocol.LoginCardID, CardID: "a\nb"}, "", registry.KindInvalid},
		{"unknown type", registry.LoginRequest{Type: "retina"}, "", registry.KindInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp, u, err := l.login(tc.req)
			if tc.wantKind != 0 {
				wantKind(t, err, tc.wantKind)
				return
			}
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			if u.PasswordHash != "" {
				t.Error("the login answered a password hash")
			}
			if tc.wantUser != "" && u.ID != tc.wantUser {
				t.Errorf("logged in user %s, want %s", u.ID, tc.wantUser)
			}
			p, err := l.reg.Authenticate(l.ctx, tp.AccessToken)
			if err != nil || p.UserID != u.ID || p.SessionID == "" {
				t.Fatalf("the user token: %+v, %v", p, err)
			}
			if ev := l.lastAudit("login." + tc.req.Type); ev.Outcome != registry.OutcomeSuccess || ev.Actor != "endpoint:"+l.dev.id {
				t.Errorf("audit %+v", ev)
			}
		})
	}
}

// Every failure of a password login looks the same, and they are
// rate-limited with the administrators' sign-in.
func TestLoginPasswordFailures(t *testing.T) {
	l := newLoginEnv(t)
	l.newUser(registry.CreateUserRequest{Username: "paula", Password: "paula-password-1"})
	l.newUser(registry.CreateUserRequest{Username: "nopass"})
	off := l.newUser(registry.CreateUserRequest{Username: "off", Password: "off-password-1"})
	if _, err := l.reg.UpdateUser(l.ctx, l.admin, off, registry.UserUpdate{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	var msg string
	for _, c := range []struct{ user, password string }{
		{"paula", "wrong-password"}, {"nobody", "paula-password-1"}, {"nopass", "x"}, {"off", "off-password-1"},
	} {
		_, _, err := l.login(registry.LoginRequest{Type: protocol.LoginPassword, Username: c.user, Password: c.password})
		wantKind(t, err, registry.KindLoginRefused)
		if msg == "" {
			msg = registry.PublicMessage(err)
		} else if m := registry.PublicMessage(err); m != msg {
			t.Errorf("%s: message %q, want the same as the others, %q", c.user, m, msg)
		}
	}
	if ev := l.lastAudit("login.password"); ev.Outcome != registry.OutcomeFailure {
		t.Errorf("failure audit %+v", ev)
	}
	var limited error
	for i := 0; i < 20 && limited == nil; i++ {
		_, _, err := l.login(registry.LoginRequest{Type: protocol.LoginPassword, Username: "paula", Password: "wrong"})
		if registry.KindOf(err) == registry.KindRateLimited {
			limited = err
		}
	}
	if limited == nil {
		t.Fatal("20 quick wrong passwords were never rate-limited")
	}
	// The limit is shared with the admin sign-in.
	_, err := l.reg.SignIn(l.ctx, registry.SignInRequest{Username: "paula", Password: "paula-password-1", Remote: loopback})
	wantKind(t, err, registry.KindRateLimited)
	l.clk.Advance(registry.RetryAfter(limited))
	if _, _, err := l.login(registry.LoginRequest{Type: protocol.LoginPassword, Username: "paula", Password: "paula-password-1"}); err != nil {
		t.Fatalf("after a minute: %v", err)
	}
}

// S2 and S4: without a device token, the key decides.
func TestLoginWithoutDevice(t *testing.T) {
	e := newEnv(t)
	e.re.NewUser(t, e.root, "cardholder")
	if _, err := e.reg.UpdateUser(e.ctx, e.admin, userID(t, e, "cardholder"), registry.UserUpdate{CardID: ptr("C-1")}); err != nil {
		t.Fatal(err)
	}
	plain := e.key(registry.CreateAPIKeyRequest{})
	untrusted := e.key(registry.CreateAPIKeyRequest{AllowUntrustedEndpoints: true})
	both := e.key(registry.CreateAPIKeyRequest{AllowUntrustedEndpoints: true, AllowUnauthenticated: true})
	session := registry.LoginRequest{Type: protocol.LoginSessionUser, Username: "walk-in"}
	card := registry.LoginRequest{Type: protocol.LoginCardID, CardID: "C-1"}
	for _, tc := range []struct {
		name string
		key  string
		req  registry.LoginRequest
		want registry.Kind // 0 = a token
	}{
		{"session, plain key", plain.Value, session, registry.KindAccessDenied},
		{"session, untrusted endpoints", untrusted.Value, session, 0},
		{"card, untrusted endpoints only", untrusted.Value, card, registry.KindAccessDenied},
		{"card, untrusted and unauthenticated", both.Value, card, 0},
		{"no key", "", session, registry.KindInvalidClient},
		{"bad key", "etk_nope", session, registry.KindInvalidClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			req.APIKey, req.Remote = tc.key, loopback
			_, err := e.reg.Login(e.ctx, req)
			if tc.want == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantKind(t, err, tc.want)
		})
	}
}

// userID finds a user of the root account by name.
func userID(t *testing.T, e *env, name string) string {
	t.Helper()
	users, err := e.reg.ListUsers(e.ctx, e.admin, e.root)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.User.Username == name {
			return u.User.ID
		}
	}
	t.Fatalf("no user %s", name)
	return ""
}

// T3: a bound device token needs a proof of possession; a revoked or
// outdated one is refused.
func TestLoginProofOfPossession(t *testing.T) {
	l := newLoginEnv(t)
	body := []byte(`{"type":"session_user","username":"sam"}`)
	base := registry.LoginRequest{Type: protocol.LoginSessionUser, Username: "sam", Body: body}
	other := newSigner(t)
	for _, tc := range []struct {
		name string
		edit func(r *registry.LoginRequest)
		want registry.Kind
	}{
		{"proven on the transport", func(r *registry.LoginRequest) { r.JKT = l.dev.jkt }, 0},
		{"signed body", func(r *registry.LoginRequest) { r.Signature = ed25519.Sign(l.dev.priv, body) }, 0},
		{"no proof", func(r *registry.LoginRequest) { r.JKT = ""; r.Signature = nil }, registry.KindAccessDenied},
		{"another key on the transport", func(r *registry.LoginRequest) { r.JKT = other.jkt }, registry.KindAccessDenied},
		{"body signed by another key", func(r *registry.LoginRequest) { r.Signature = ed25519.Sign(other.priv, body) }, registry.KindAccessDenied},
		{"signature of another body", func(r *registry.LoginRequest) { r.Signature = ed25519.Sign(l.dev.priv, []byte("{}")) }, registry.KindAccessDenied},
		{"overlong signature", func(r *registry.LoginRequest) { r.Signature = make([]byte, 2000) }, registry.KindInvalid},
		{"not a device token", func(r *registry.LoginRequest) { r.DeviceToken = "a.b.c" }, registry.KindAccessDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := base
			req.APIKey, req.DeviceToken, req.Remote = l.key.Value, l.tokens.AccessToken, loopback
			tc.edit(&req)
			if req.JKT == "" && req.Signature == nil && tc.name != "no proof" && tc.name != "not a device token" {
				t.Fatal("test case sets no proof")
			}
			_, err := l.reg.Login(l.ctx, req)
			if tc.want == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantKind(t, err, tc.want)
		})
	}

	// A device access token revoked by the device (RFC 7009) stops at once.
	if err := l.reg.Revoke(l.ctx, registry.RevokeRequest{APIKey: l.key.Value, ClientID: l.dev.id, Token: l.tokens.AccessToken, Remote: loopback}); err != nil {
		t.Fatal(err)
	}
	_, _, err := l.login(registry.LoginRequest{Type: protocol.LoginSessionUser, Username: "sam"})
	wantKind(t, err, registry.KindAccessDenied)

	// An expired device token.
	l2 := newLoginEnv(t)
	l2.clk.Advance(16 * time.Minute)
	_, _, err = l2.login(registry.LoginRequest{Type: protocol.LoginSessionUser, Username: "sam"})
	wantKindMsg(t, err, registry.KindAccessDenied, "expired")
}

func TestDPoPNonces(t *testing.T) {
	e := newEnv(t)
	n, err := e.reg.DPoPNonce(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	exp, ok, err := e.reg.CheckDPoPNonce(e.ctx, n)
	if err != nil || !ok || !exp.Equal(e.clk.Now().Add(registry.DPoPNonceTTL).Truncate(time.Second)) {
		t.Fatalf("a fresh nonce: %v %v %v", exp, ok, err)
	}
	// Another registry on the same store accepts it (brokers share the key).
	other, err := registry.New(registry.Config{Store: e.store, Signer: e.signer, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := other.CheckDPoPNonce(e.ctx, n); err != nil || !ok {
		t.Fatalf("another broker of the store refuses the nonce: %v %v", ok, err)
	}
	// A broker of another store does not.
	if _, ok, _ := brokertest.New(t, brokertest.Options{Clock: e.clk}).Registry.CheckDPoPNonce(e.ctx, n); ok {
		t.Fatal("a broker of another store accepts the nonce")
	}
	for _, bad := range []string{"", "x", n + "A", n[:len(n)-2] + "AA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		if _, ok, err := e.reg.CheckDPoPNonce(e.ctx, bad); ok || err != nil {
			t.Errorf("nonce %q: ok=%v err=%v, want refused", bad, ok, err)
		}
	}
	e.clk.Advance(registry.DPoPNonceTTL)
	if _, ok, _ := e.reg.CheckDPoPNonce(e.ctx, n); ok {
		t.Fatal("an expired nonce is accepted")
	}
}

func TestDPoPProofsOnce(t *testing.T) {
	e := newEnv(t)
	until := e.clk.Now().Add(registry.DPoPNonceTTL)
	if err := e.reg.UseDPoPProof(e.ctx, "jkt-1", "jti-1", until); err != nil {
		t.Fatal(err)
	}
	err := e.reg.UseDPoPProof(e.ctx, "jkt-1", "jti-1", until)
	wantKind(t, err, registry.KindAccessDenied)
	if !errors.Is(err, registry.ErrDPoPReplay) {
		t.Fatalf("replay error %v does not wrap ErrDPoPReplay", err)
	}
	// The same jti from another key is another proof.
	if err := e.reg.UseDPoPProof(e.ctx, "jkt-2", "jti-1", until); err != nil {
		t.Fatal(err)
	}
	wantKind(t, e.reg.UseDPoPProof(e.ctx, "jkt-1", "", until), registry.KindInvalid)
	// Sweep forgets proofs whose nonce expired.
	e.clk.Advance(registry.DPoPNonceTTL + time.Second)
	res, err := e.reg.Sweep(e.ctx)
	if err != nil || res.DPoPPurged != 2 {
		t.Fatalf("Sweep: %+v %v, want 2 proofs purged", res, err)
	}
}

// The user token's access-token revocation takes effect at once.
func TestAuthenticateSeesRevocation(t *testing.T) {
	l := newLoginEnv(t)
	tp, _, err := l.login(registry.LoginRequest{Type: protocol.LoginSessionUser, Username: "sam"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.reg.Authenticate(l.ctx, tp.AccessToken); err != nil {
		t.Fatal(err)
	}
	if err := l.reg.Revoke(context.Background(), registry.RevokeRequest{APIKey: l.key.Value, ClientID: l.dev.id, Token: tp.AccessToken, Remote: loopback}); err != nil {
		t.Fatal(err)
	}
	_, err = l.reg.Authenticate(l.ctx, tp.AccessToken)
	wantKind(t, err, registry.KindUnauthenticated)
}

// TestRefusedDeviceLoginIsAudited: an agent connected but not trusted
// sends its login without a device token; the broker refuses it, whatever
// the key allows, and writes the refusal with the endpoint as actor, in its
// account. A caller that did not prove the endpoint's key is not taken for
// it (issue 12, point 4).
func TestRefusedDeviceLoginIsAudited(t *testing.T) {
	l := newLoginEnv(t)
	l.newUser(registry.CreateUserRequest{Username: "paula"})
	lax := l.env.key(registry.CreateAPIKeyRequest{AllowUntrustedEndpoints: true})
	if _, err := l.reg.Decide(l.ctx, l.admin, l.dev.id, registry.ActionUntrust, loopback); err != nil {
		t.Fatal(err)
	}
	stranger := newDevice(t)
	for _, tc := range []struct {
		name      string
		key, jkt  string
		wantActor string
	}{
		{"the agent's key", l.key.Value, l.dev.jkt, "endpoint:" + l.dev.id},
		{"a key that allows untrusted endpoints", lax.Value, l.dev.jkt, "endpoint:" + l.dev.id},
		{"another key proven", l.key.Value, stranger.jkt, "anonymous"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			since := l.clk.Now()
			_, _, err := l.reg.LoginUser(l.ctx, registry.LoginRequest{Type: protocol.LoginSessionUser, Username: "paula",
				APIKey: tc.key, JKT: tc.jkt, EndpointID: l.dev.id, Remote: loopback})
			wantKind(t, err, registry.KindAccessDenied)
			got := l.audits(registry.AuditFilter{Action: "login.session_user", Since: since})
			if len(got) != 1 {
				t.Fatalf("%d audit rows, want 1: %+v", len(got), got)
			}
			wantAccount := ""
			if tc.wantActor != "anonymous" {
				wantAccount = l.root
			}
			want := auditRow{Actor: tc.wantActor, Action: "login.session_user", Target: "username:paula", Outcome: registry.OutcomeFailure,
				Remote: loopback.String(), Detail: got[0].Detail}
			if d := cmp.Diff(want, auditRow{got[0].Actor, got[0].Action, got[0].Target, got[0].Outcome, got[0].Remote, got[0].Detail}); d != "" || got[0].AccountID != wantAccount {
				t.Errorf("audit row (-want +got):\n%s; account %q, want %q", d, got[0].AccountID, wantAccount)
			}
			l.clk.Advance(time.Second)
		})
	}
	if rows := l.audits(registry.AuditFilter{Endpoint: l.dev.id, Action: "login."}); len(rows) != 2 {
		t.Errorf("the endpoint's history holds %d refused logins, want 2", len(rows))
	}
}
