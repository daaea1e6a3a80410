package registry_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/registry"
)

func (e *env) signInFrom(user, pw, device string, from netip.Addr) (*registry.SignInResult, error) {
	return e.reg.SignIn(e.ctx, registry.SignInRequest{Username: user, Password: pw, DeviceToken: device, Remote: from})
}

func addr4(a, b, c, d byte) netip.Addr { return netip.AddrFrom4([4]byte{a, b, c, d}) }

// Issue 15, point 2: ten wrong passwords for admin from anywhere used to
// make the right one answer 429 everywhere for a minute. A flood of wrong
// passwords from many addresses now never blocks the right password from a
// client that signed in before (its device token), from its own address or
// another; a client without one is held by the per-user lockout, which
// bounds guessing however many addresses it comes from.
func TestSignInFloodCannotLockOutKnownClient(t *testing.T) {
	e := newEnv(t)
	home := addr4(192, 0, 2, 1)
	first, err := e.signInFrom("admin", adminPW, "", home)
	if err != nil {
		t.Fatal(err)
	}
	if first.DeviceToken == "" {
		t.Fatal("a sign-in hands out no device token")
	}
	// The flood: 500 wrong passwords from 100 addresses.
	checked := 0 // attempts answered after a password check
	for i := 0; i < 500; i++ {
		_, err := e.signInFrom("admin", "guess", "", addr4(203, 0, 113, byte(i%100)))
		switch registry.KindOf(err) {
		case registry.KindUnauthenticated:
			checked++
		case registry.KindRateLimited:
		default:
			t.Fatalf("flood: %v", err)
		}
	}
	limits := registry.DefaultSignInLimits
	t.Logf("figure: 500 wrong passwords from 100 addresses: %d reached a password check", checked)
	if checked > limits.PerUser.N {
		t.Errorf("%d guesses were checked, want at most the per-user lockout %d", checked, limits.PerUser.N)
	}
	// The known client, from home and from elsewhere (a laptop on the
	// road), signs in; each sign-in hands out a new token.
	dev := first.DeviceToken
	for _, from := range []netip.Addr{home, addr4(198, 51, 100, 9), addr4(203, 0, 113, 5)} {
		res, err := e.signInFrom("admin", adminPW, dev, from)
		if err != nil {
			t.Fatalf("known client from %s during the flood: %v", from, err)
		}
		dev = res.DeviceToken
	}
	// A client without a token, even with the right password, waits: the
	// per-user lockout bounds guessing.
	_, err = e.signInFrom("admin", adminPW, "", addr4(198, 51, 100, 10))
	wantKind(t, err, registry.KindRateLimited)
	if registry.RetryAfter(err) <= 0 {
		t.Errorf("no Retry-After in %v", err)
	}
	// Tokens that are not the admin's are no better than none.
	e.user(e.root, "olga")
	olga, err := e.signInFrom("olga", brokertest.UserPassword, "", home)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{
		"garbage": "not-a-token", "a user access token": first.Tokens.AccessToken, "another user's device token": olga.DeviceToken,
	} {
		_, err := e.signInFrom("admin", adminPW, tok, addr4(198, 51, 100, 11))
		if registry.KindOf(err) != registry.KindRateLimited {
			t.Errorf("%s as device token: %v, want rate_limited", name, err)
		}
	}
}

// The limits on a client without a device token: per (user, address), per
// address, and per user; a wrong password with a device token counts
// against that token and the client's own address, never the user, and a
// token past its failures counts as none.
func TestSignInLimits(t *testing.T) {
	l := registry.DefaultSignInLimits
	attacker := addr4(203, 0, 113, 1)
	tests := []struct {
		name string
		// fail makes failures, given the device token of an earlier
		// sign-in from 192.0.2.1; then limited is refused with
		// rate_limited and allowed succeeds.
		fail             func(e *env, dev string)
		limited, allowed func(e *env, dev string) error
	}{
		{
			name: "per user and address",
			fail: func(e *env, _ string) {
				for i := 0; i < l.PerUserAddress.N; i++ {
					e.signInFrom("admin", "wrong", "", attacker)
				}
			},
			limited: func(e *env, _ string) error { return e.try("admin", adminPW, "", attacker) },
			allowed: func(e *env, _ string) error { return e.try("admin", adminPW, "", addr4(203, 0, 113, 2)) },
		},
		{
			name: "per address",
			fail: func(e *env, _ string) {
				for i := 0; i < l.PerAddress.N; i++ {
					e.signInFrom(fmt.Sprintf("nobody-%d", i), "wrong", "", attacker)
				}
			},
			limited: func(e *env, _ string) error { return e.try("admin", adminPW, "", attacker) },
			allowed: func(e *env, _ string) error { return e.try("admin", adminPW, "", addr4(203, 0, 113, 2)) },
		},
		{
			name: "per user, from many addresses; the known client is not",
			fail: func(e *env, _ string) {
				for i := 0; i < l.PerUser.N; i++ {
					e.signInFrom("admin", "wrong", "", addr4(203, 0, 113, byte(10+i)))
				}
			},
			limited: func(e *env, _ string) error { return e.try("admin", adminPW, "", addr4(203, 0, 113, 99)) },
			allowed: func(e *env, dev string) error { return e.try("admin", adminPW, dev, addr4(203, 0, 113, 99)) },
		},
		{
			name: "a device token hammered counts as none; the user is not locked",
			fail: func(e *env, dev string) {
				for i := 0; i < l.PerDevice.N; i++ {
					e.signInFrom("admin", "wrong", dev, attacker)
				}
			},
			limited: func(e *env, dev string) error { return e.try("admin", adminPW, dev, attacker) },
			allowed: func(e *env, _ string) error { return e.try("admin", adminPW, "", addr4(203, 0, 113, 2)) },
		},
		{
			name: "a device token's own address is limited per address",
			fail: func(e *env, dev string) {
				for i := 0; i < l.PerAddress.N; i++ {
					e.signInFrom(fmt.Sprintf("nobody-%d", i), "wrong", "", attacker)
				}
			},
			limited: func(e *env, _ string) error { return e.try("admin", adminPW, "", attacker) },
			allowed: func(e *env, dev string) error { return e.try("admin", adminPW, dev, attacker) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			known, err := e.signInFrom("admin", adminPW, "", addr4(192, 0, 2, 1))
			if err != nil {
				t.Fatal(err)
			}
			tc.fail(e, known.DeviceToken)
			wantKind(t, tc.limited(e, known.DeviceToken), registry.KindRateLimited)
			if err := tc.allowed(e, known.DeviceToken); err != nil {
				t.Errorf("allowed: %v", err)
			}
		})
	}
}

func (e *env) try(user, pw, device string, from netip.Addr) error {
	_, err := e.signInFrom(user, pw, device, from)
	return err
}

// Limited sign-ins are audited folded: a flood from one address writes a
// row at once and the repeats as one count row, not a row per attempt.
func TestLimitedSignInsAreFolded(t *testing.T) {
	e := newEnv(t)
	from := addr4(203, 0, 113, 7)
	for i := 0; i < 200; i++ {
		e.signInFrom("admin", "wrong", "", from)
	}
	if err := e.reg.FlushRefusals(e.ctx); err != nil {
		t.Fatal(err)
	}
	var rows []registry.AuditEvent
	e.store.View(e.ctx, func(tx registry.Tx) error {
		var err error
		rows, err = tx.ListAudit(registry.AuditFilter{Action: "auth.signin", Outcome: registry.OutcomeFailure})
		return err
	})
	limited, count := 0, ""
	for _, r := range rows {
		if r.Detail["reason"] == "rate limited" {
			limited++
			if c := r.Detail["count"]; c != "" {
				count = c
			}
		}
	}
	want := 200 - registry.DefaultSignInLimits.PerUserAddress.N
	if limited != 2 || count != fmt.Sprint(want-1) {
		t.Errorf("%d rate-limited rows (count %q), want 2: the first and a count of %d", limited, count, want-1)
	}
}
