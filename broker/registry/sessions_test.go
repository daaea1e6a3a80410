package registry_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// S6: a user lists and ends their own sessions; an admin with ModifyUser
// ends another's; an ended session's tokens stop at once.
func TestSessions(t *testing.T) {
	l := newLoginEnv(t)
	tr := l.tree()
	// sam signs in twice and logs in once at the device.
	l.newUser(registry.CreateUserRequest{Username: "sam", Password: brokertest.UserPassword})
	signIn := func() (*registry.TokenPair, *registry.Principal) {
		t.Helper()
		tp, err := signInTokens(l.reg.SignIn(l.ctx, registry.SignInRequest{Username: "sam", Password: brokertest.UserPassword, AccountID: l.root, Remote: loopback}))
		if err != nil {
			t.Fatal(err)
		}
		p, err := l.reg.Authenticate(l.ctx, tp.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		return tp, p
	}
	first, sam := signIn()
	l.clk.Advance(time.Minute)
	second, _ := signIn()
	l.clk.Advance(time.Minute)
	atDevice, _, err := l.login(registry.LoginRequest{Type: protocol.LoginPassword, Username: "sam", Password: brokertest.UserPassword})
	if err != nil {
		t.Fatal(err)
	}

	list := func(p *registry.Principal, userID string) []registry.Session {
		t.Helper()
		ss, err := l.reg.ListSessions(l.ctx, p, userID)
		if err != nil {
			t.Fatalf("ListSessions: %v", err)
		}
		return ss
	}
	ss := list(sam, "")
	type row struct {
		Endpoint string
		Current  bool
	}
	var got []row
	for _, s := range ss {
		got = append(got, row{s.EndpointID, s.Current})
		if s.UserID != sam.UserID || s.AccountID != l.root || s.ExpiresAt.Before(s.StartedAt) {
			t.Errorf("session %+v", s)
		}
	}
	if d := cmp.Diff([]row{{"", true}, {"", false}, {l.dev.id, false}}, got); d != "" {
		t.Fatalf("sam's sessions (-want +got):\n%s", d)
	}
	if d := cmp.Diff(ss, list(sam, sam.UserID)); d != "" {
		t.Errorf("naming oneself lists the same (-own +named):\n%s", d)
	}

	// A refresh keeps the session and moves its refresh time.
	l.clk.Advance(time.Minute)
	refreshed, err := l.reg.RefreshUser(l.ctx, second.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if after := list(sam, ""); len(after) != 3 || after[1].ID != ss[1].ID || !after[1].RefreshedAt.After(ss[1].RefreshedAt) {
		t.Fatalf("after a refresh: %+v", after)
	}

	// Ending the second session stops its tokens at once, and only them.
	if err := l.reg.EndSession(l.ctx, sam, ss[1].ID, loopback); err != nil {
		t.Fatal(err)
	}
	_, err = l.reg.Authenticate(l.ctx, refreshed.AccessToken)
	wantKind(t, err, registry.KindUnauthenticated)
	_, err = l.reg.RefreshUser(l.ctx, refreshed.RefreshToken)
	wantKind(t, err, registry.KindInvalidGrant)
	if _, err := l.reg.Authenticate(l.ctx, first.AccessToken); err != nil {
		t.Fatalf("the other session's token: %v", err)
	}
	if ev := l.lastAudit("session.end"); ev.Actor != "user:"+sam.UserID || ev.Detail["session_id"] != ss[1].ID {
		t.Errorf("audit %+v", ev)
	}
	wantKind(t, l.reg.EndSession(l.ctx, sam, ss[1].ID, loopback), registry.KindNotFound) // over
	wantKind(t, l.reg.EndSession(l.ctx, sam, "no-such-session", loopback), registry.KindNotFound)
	in, err := l.reg.Introspect(l.ctx, registry.IntrospectRequest{APIKey: introspector(t, l.env), Token: refreshed.AccessToken, Remote: loopback})
	if err != nil || in.Active {
		t.Fatalf("introspection of an ended session's token: %+v %v", in, err)
	}

	// Others: no one sees sam's sessions without ViewUser at sam's account.
	stranger := l.user(tr.custA.ID, "stranger")
	_, err = l.reg.ListSessions(l.ctx, stranger, sam.UserID)
	wantKind(t, err, registry.KindNotFound)
	wantKind(t, l.reg.EndSession(l.ctx, stranger, ss[0].ID, loopback), registry.KindNotFound)
	auditor := l.user(l.root, "aud", registry.RoleAuditor)
	if got := list(auditor, sam.UserID); len(got) != 2 || got[0].Current {
		t.Fatalf("the auditor sees %+v", got)
	}
	wantKind(t, l.reg.EndSession(l.ctx, auditor, ss[0].ID, loopback), registry.KindPermission)
	// A device's refresh chain is no session.
	devChain := l.deviceChain(t)
	wantKind(t, l.reg.EndSession(l.ctx, l.admin, devChain, loopback), registry.KindNotFound)

	// An admin ends the device session, then all of sam's sessions.
	if err := l.reg.EndSession(l.ctx, l.admin, ss[2].ID, loopback); err != nil {
		t.Fatal(err)
	}
	_, err = l.reg.Authenticate(l.ctx, atDevice.AccessToken)
	wantKind(t, err, registry.KindUnauthenticated)
	n, err := l.reg.EndSessions(l.ctx, l.admin, sam.UserID, loopback)
	if err != nil || n != 1 {
		t.Fatalf("EndSessions = %d, %v; want 1", n, err)
	}
	_, err = l.reg.Authenticate(l.ctx, first.AccessToken)
	wantKind(t, err, registry.KindUnauthenticated)
	if left := list(l.admin, sam.UserID); len(left) != 0 {
		t.Fatalf("sessions left: %+v", left)
	}
	_, err = l.reg.EndSessions(l.ctx, stranger, sam.UserID, loopback)
	wantKind(t, err, registry.KindNotFound)
}

// deviceChain returns the session id a device's refresh chain would have.
func (l *loginEnv) deviceChain(t *testing.T) string {
	t.Helper()
	var id string
	l.store.View(l.ctx, func(tx registry.Tx) error {
		chains, err := tx.ListRefreshChains(registry.SubjectEndpoint, l.dev.id, l.clk.Now())
		if err != nil || len(chains) == 0 {
			t.Fatalf("the device's chains: %v %v", chains, err)
		}
		id = chains[0].ChainID
		return nil
	})
	return id
}

// introspector returns a key with full API access (it may introspect).
func introspector(t *testing.T, e *env) string {
	t.Helper()
	return e.key(registry.CreateAPIKeyRequest{FullAPIAccess: true}).Value
}

// S5, K1: who a call is made by, for each combination of credentials.
func TestAuthenticateCall(t *testing.T) {
	e := newEnv(t)
	runner := e.user(e.root, "runner", registry.RoleApprover)
	tp, err := signInTokens(e.reg.SignIn(e.ctx, registry.SignInRequest{Username: "admin", Password: adminPW, Remote: loopback}))
	if err != nil {
		t.Fatal(err)
	}
	mk := func(req registry.CreateAPIKeyRequest) string {
		k := e.key(req)
		if _, err := e.reg.UpdateAPIKey(e.ctx, e.admin, k.Key.ID, registry.APIKeyUpdate{RunAsUserID: &runner.UserID}); err != nil {
			t.Fatal(err)
		}
		return k.Value
	}
	plain := mk(registry.CreateAPIKeyRequest{})
	full := mk(registry.CreateAPIKeyRequest{FullAPIAccess: true})
	unauth := mk(registry.CreateAPIKeyRequest{AllowUnauthenticated: true})
	fullUnauth := mk(registry.CreateAPIKeyRequest{FullAPIAccess: true, AllowUnauthenticated: true})
	inactive := mk(registry.CreateAPIKeyRequest{FullAPIAccess: true, AllowUnauthenticated: true, Inactive: true})
	const (
		admin = "user:admin"
		run   = "key as runner"
	)
	for _, tc := range []struct {
		name  string
		c     registry.CallCredentials
		want  string // admin, run, or a Kind
		kinds registry.Kind
	}{
		{"nothing", registry.CallCredentials{Admin: true}, "", registry.KindUnauthenticated},
		{"token", registry.CallCredentials{UserToken: tp.AccessToken, Admin: true}, admin, 0},
		{"bad token", registry.CallCredentials{UserToken: "x.y.z", Admin: true}, "", registry.KindUnauthenticated},
		{"plain key and token, admin route", registry.CallCredentials{APIKey: plain, UserToken: tp.AccessToken, Admin: true}, "", registry.KindInvalidClient},
		{"plain key and token, own route", registry.CallCredentials{APIKey: plain, UserToken: tp.AccessToken}, admin, 0},
		{"full key and token", registry.CallCredentials{APIKey: full, UserToken: tp.AccessToken, Admin: true}, admin, 0},
		{"full key and a bad token", registry.CallCredentials{APIKey: full, UserToken: "x.y.z", Admin: true}, "", registry.KindUnauthenticated},
		{"inactive key and token", registry.CallCredentials{APIKey: inactive, UserToken: tp.AccessToken}, "", registry.KindInvalidClient},
		{"full key alone", registry.CallCredentials{APIKey: full, Admin: true}, "", registry.KindInvalidClient},
		{"unauthenticated key alone, admin route", registry.CallCredentials{APIKey: unauth, Admin: true}, "", registry.KindInvalidClient},
		{"unauthenticated key alone, own route", registry.CallCredentials{APIKey: unauth}, run, 0},
		{"full unauthenticated key alone", registry.CallCredentials{APIKey: fullUnauth, Admin: true}, run, 0},
		{"inactive key alone", registry.CallCredentials{APIKey: inactive, Admin: true}, "", registry.KindInvalidClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Remote = loopback
			p, err := e.reg.AuthenticateCall(e.ctx, tc.c)
			if tc.kinds != 0 {
				wantKind(t, err, tc.kinds)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := admin
			if p.KeyID != "" {
				got = run
				if p.UserID != runner.UserID {
					t.Errorf("a key running as runner is %s", p.UserID)
				}
			} else if p.UserID != e.admin.UserID {
				t.Errorf("user %s, want the admin", p.UserID)
			}
			if got != tc.want {
				t.Errorf("caller %s, want %s", got, tc.want)
			}
		})
	}
}
