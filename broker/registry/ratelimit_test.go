package registry_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// wrongValue is a well-formed value (checksum and all) of a random public
// id: what a guesser who knows the format sends.
func wrongValue(t *testing.T) string {
	t.Helper()
	return valueFor(t, protocol.EncodeKeyID(randomBytes(t, protocol.KeyPublicIDBytes)))
}

// valueFor is a well-formed value of publicID with a random secret.
func valueFor(t *testing.T, publicID string) string {
	t.Helper()
	v, err := protocol.FormatKey(publicID, randomBytes(t, protocol.KeySecretBytes))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func publicIDOf(t *testing.T, value string) string {
	t.Helper()
	id, err := protocol.ParseKey(value)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) tryRegister(d device, key string, from netip.Addr) (*registry.RegisterResult, error) {
	return e.reg.Register(e.ctx, registry.RegisterRequest{
		APIKey: key, ClientID: d.id, ClientType: "desktop_client",
		KeyType: registry.KeyTypeEd25519, PublicKey: d.pub, Proven: true, Remote: from,
	})
}

// Issue 15, point 1: 2,000 wrong values from one address. The first 20
// (the default limit per address) reach the key check and are refused as
// ever; every later one gets the limited answer without reaching it. A
// valid key from the same address (a neighbour behind the same NAT) is
// still admitted; garbage from it is limited like the rest.
func TestKeyFailuresLimitedPerAddress(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	nat := netip.MustParseAddr("198.51.100.7")
	const n = 2000
	before := e.reg.KeyChecks()
	got := map[registry.Kind]int{}
	for i := 0; i < n; i++ {
		_, err := e.tryRegister(newDevice(t), wrongValue(t), nat)
		got[registry.KindOf(err)]++
	}
	reached := e.reg.KeyChecks() - before
	t.Logf("figure: %d wrong values from one address: %d reached the key check, answers %v", n, reached, got)
	limit := registry.DefaultKeyFailureLimits.PerAddress.N
	if reached > int64(limit) {
		t.Errorf("%d of %d wrong values reached the key check, want at most %d", reached, n, limit)
	}
	if diff := cmp.Diff(map[registry.Kind]int{registry.KindInvalidClient: limit, registry.KindLimited: n - limit}, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}

	// The neighbour's valid key is admitted from the limited address.
	if _, err := e.tryRegister(newDevice(t), k.Value, nat); err != nil {
		t.Fatalf("valid key from a limited address: %v", err)
	}
	// Garbage and a bad checksum from it are limited, reaching nothing.
	before = e.reg.KeyChecks()
	badSum := k.Value[:len(k.Value)-1] + map[bool]string{true: "b", false: "a"}[strings.HasSuffix(k.Value, "a")]
	for name, v := range map[string]string{"garbage": "not-a-key", "bad checksum": badSum, "empty": ""} {
		_, err := e.tryRegister(newDevice(t), v, nat)
		wantKind(t, err, registry.KindLimited)
		if registry.RetryAfter(err) <= 0 {
			t.Errorf("%s: no Retry-After in %v", name, err)
		}
	}
	if d := e.reg.KeyChecks() - before; d != 0 {
		t.Errorf("%d limited presentations reached the key check", d)
	}
	// Another address is not limited.
	_, err := e.tryRegister(newDevice(t), wrongValue(t), netip.MustParseAddr("198.51.100.8"))
	wantKind(t, err, registry.KindInvalidClient)

	// Once Retry-After has passed, a failure is an ordinary refusal again.
	_, err = e.tryRegister(newDevice(t), wrongValue(t), nat)
	e.clk.Advance(registry.RetryAfter(err))
	_, err = e.tryRegister(newDevice(t), wrongValue(t), nat)
	wantKind(t, err, registry.KindInvalidClient)
}

// IPv6 addresses are counted by /64: an attacker holds a whole one.
func TestKeyFailuresLimitedPerIPv6Prefix(t *testing.T) {
	e := newEnv(t)
	limit := registry.DefaultKeyFailureLimits.PerAddress.N
	for i := 0; i < limit; i++ {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)})
		_, err := e.tryRegister(newDevice(t), wrongValue(t), a)
		wantKind(t, err, registry.KindInvalidClient)
	}
	_, err := e.tryRegister(newDevice(t), wrongValue(t), netip.MustParseAddr("2001:db8::ffff"))
	wantKind(t, err, registry.KindLimited)
	_, err = e.tryRegister(newDevice(t), wrongValue(t), netip.MustParseAddr("2001:db8:0:1::1"))
	wantKind(t, err, registry.KindInvalidClient)
}

// A leaked public id hammered from many addresses: past 10 failures (the
// default per id) wrong secrets for it are limited from every address,
// and its holder, with the right secret, is still admitted.
func TestKeyFailuresLimitedPerPublicID(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	id := publicIDOf(t, k.Value)
	limit := registry.DefaultKeyFailureLimits.PerKey.N
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}) }
	for i := 0; i < limit; i++ {
		_, err := e.tryRegister(newDevice(t), valueFor(t, id), addr(i))
		wantKind(t, err, registry.KindInvalidClient)
	}
	before := e.reg.KeyChecks()
	_, err := e.tryRegister(newDevice(t), valueFor(t, id), addr(100))
	wantKind(t, err, registry.KindLimited)
	if d := e.reg.KeyChecks() - before; d != 0 {
		t.Errorf("a limited wrong secret reached the key check (%d)", d)
	}
	if _, err := e.tryRegister(newDevice(t), k.Value, addr(101)); err != nil {
		t.Fatalf("the holder of a hammered public id: %v", err)
	}
	// Limited for the id or for the address: the same answer.
	nat := netip.MustParseAddr("192.0.2.99")
	var byAddr error
	for i := 0; i <= registry.DefaultKeyFailureLimits.PerAddress.N; i++ {
		_, byAddr = e.tryRegister(newDevice(t), wrongValue(t), nat)
	}
	wantKind(t, byAddr, registry.KindLimited)
	if a, b := registry.PublicMessage(err), registry.PublicMessage(byAddr); a != b {
		t.Errorf("limited per id says %q, per address %q", a, b)
	}
}

// Every use case that takes a key passes the gate: a limited address is
// limited on each of them.
func TestKeyFailuresLimitEveryUseCase(t *testing.T) {
	e := newEnv(t)
	nat := netip.MustParseAddr("198.51.100.50")
	for i := 0; i < registry.DefaultKeyFailureLimits.PerAddress.N; i++ {
		_, err := e.tryRegister(newDevice(t), wrongValue(t), nat)
		wantKind(t, err, registry.KindInvalidClient)
	}
	d := newDevice(t)
	bad := wrongValue(t)
	cases := map[string]func() error{
		"register": func() error { _, err := e.tryRegister(d, bad, nat); return err },
		"device authorization": func() error {
			_, err := e.reg.RegisterDevice(e.ctx, registry.DeviceRegisterRequest{RegisterRequest: registry.RegisterRequest{
				APIKey: bad, ClientID: d.id, ClientType: "desktop_client", Remote: nat}})
			return err
		},
		"device token": func() error {
			_, err := e.reg.DeviceToken(e.ctx, registry.DeviceTokenRequest{APIKey: bad, ClientID: d.id, DeviceCode: "x", Remote: nat})
			return err
		},
		"refresh": func() error {
			_, err := e.reg.RefreshDevice(e.ctx, registry.DeviceRefreshRequest{APIKey: bad, ClientID: d.id, RefreshToken: "x", Remote: nat})
			return err
		},
		"introspect": func() error {
			_, err := e.reg.Introspect(e.ctx, registry.IntrospectRequest{APIKey: bad, Token: "x", Remote: nat})
			return err
		},
		"revoke": func() error {
			return e.reg.Revoke(e.ctx, registry.RevokeRequest{APIKey: bad, ClientID: d.id, Token: "x", Remote: nat})
		},
		"api call": func() error {
			_, err := e.reg.AuthenticateCall(e.ctx, registry.CallCredentials{APIKey: bad, Remote: nat, Admin: true})
			return err
		},
		"login": func() error {
			_, _, err := e.reg.LoginUser(e.ctx, registry.LoginRequest{APIKey: bad, Type: protocol.LoginSessionUser, Username: "u", Remote: nat})
			return err
		},
	}
	for name, call := range cases {
		t.Run(name, func(t *testing.T) {
			before := e.reg.KeyChecks()
			wantKind(t, call(), registry.KindLimited)
			if d := e.reg.KeyChecks() - before; d != 0 {
				t.Errorf("reached the key check %d times", d)
			}
		})
	}
}

// A store that fails while a key is checked: the caller is told to try
// again (unavailable), and the failure is not counted against it.
func TestKeyCheckStoreErrorCountsNothing(t *testing.T) {
	e := newEnv(t)
	failing := &failKeyLookup{Store: e.store}
	reg, err := registry.New(registry.Config{Store: failing, Signer: e.signer, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	nat := netip.MustParseAddr("198.51.100.60")
	failing.fail = true
	for i := 0; i < 3*registry.DefaultKeyFailureLimits.PerAddress.N; i++ {
		_, err := reg.Register(e.ctx, registry.RegisterRequest{APIKey: wrongValue(t), ClientID: newDevice(t).id,
			ClientType: "desktop_client", Remote: nat})
		wantKind(t, err, registry.KindUnavailable)
	}
	failing.fail = false
	_, err = reg.Register(e.ctx, registry.RegisterRequest{APIKey: wrongValue(t), ClientID: newDevice(t).id,
		ClientType: "desktop_client", Remote: nat})
	wantKind(t, err, registry.KindInvalidClient)
}

type failKeyLookup struct {
	registry.Store
	fail bool
}

func (s *failKeyLookup) Update(ctx context.Context, fn func(registry.Tx) error) error {
	return s.Store.Update(ctx, func(tx registry.Tx) error { return fn(failTx{tx, s.fail}) })
}

func (s *failKeyLookup) View(ctx context.Context, fn func(registry.Tx) error) error {
	return s.Store.View(ctx, func(tx registry.Tx) error { return fn(failTx{tx, s.fail}) })
}

type failTx struct {
	registry.Tx
	fail bool
}

func (t failTx) GetKeyValueByPublicID(id string) (*registry.KeyValue, error) {
	if t.fail {
		return nil, errors.New("disk on fire")
	}
	return t.Tx.GetKeyValueByPublicID(id)
}

// Brokers sharing a store merge their counts (MergeFailures): failures
// seen by one limit the address on the other once both have merged.
func TestKeyFailuresMergedThroughStore(t *testing.T) {
	e := newEnv(t)
	other, err := registry.New(registry.Config{Store: e.store, Signer: e.signer, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	nat := netip.MustParseAddr("198.51.100.70")
	half := registry.DefaultKeyFailureLimits.PerAddress.N / 2
	for _, reg := range []*registry.Registry{e.reg, other} {
		for i := 0; i < half; i++ {
			_, err := reg.Register(e.ctx, registry.RegisterRequest{APIKey: wrongValue(t), ClientID: newDevice(t).id,
				ClientType: "desktop_client", Remote: nat})
			wantKind(t, err, registry.KindInvalidClient)
		}
	}
	// Each has seen half the limit: neither limits yet.
	register := func(reg *registry.Registry) error {
		_, err := reg.Register(e.ctx, registry.RegisterRequest{APIKey: "garbage", ClientID: newDevice(t).id,
			ClientType: "desktop_client", Remote: nat})
		return err
	}
	wantKind(t, register(e.reg), registry.KindInvalidClient)
	wantKind(t, register(other), registry.KindInvalidClient)
	for _, reg := range []*registry.Registry{e.reg, other, e.reg} {
		if err := reg.MergeFailures(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	wantKind(t, register(e.reg), registry.KindLimited)
	wantKind(t, register(other), registry.KindLimited)
	// A merge adds each count once: merging again changes nothing.
	for i := 0; i < 3; i++ {
		if err := other.MergeFailures(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	var total int
	e.store.View(e.ctx, func(tx registry.Tx) error {
		rows, err := tx.ListFailureCounts(e.clk.Now().Add(-time.Hour))
		for _, r := range rows {
			if r.Scope == "addr:"+nat.String() {
				total += r.Count
			}
		}
		return err
	})
	if want := 2*half + 2; total != want {
		t.Errorf("stored count %d, want %d", total, want)
	}
}

func TestParseKeyFailureLimits(t *testing.T) {
	tests := []struct {
		in      string
		want    registry.KeyFailureLimits
		wantErr string
	}{
		{"", registry.DefaultKeyFailureLimits, ""},
		{"20/min,10/min", registry.DefaultKeyFailureLimits, ""},
		{"100/h, 5/30s", registry.KeyFailureLimits{PerAddress: registry.FailureLimit{N: 100, Per: time.Hour},
			PerKey: registry.FailureLimit{N: 5, Per: 30 * time.Second}}, ""},
		{"20/min", registry.KeyFailureLimits{}, "want PER_ADDRESS,PER_KEY"},
		{"0/min,10/min", registry.KeyFailureLimits{}, "at least 1"},
		{"20/min,x/min", registry.KeyFailureLimits{}, "per key: count"},
		{"20/fortnight,10/min", registry.KeyFailureLimits{}, "unit"},
		{"20/100ms,10/min", registry.KeyFailureLimits{}, "at least 1s"},
		{"20,10", registry.KeyFailureLimits{}, "N/UNIT"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := registry.ParseKeyFailureLimits(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if again, _ := registry.ParseKeyFailureLimits(got.String()); again != got {
				t.Errorf("String %q does not parse back", got.String())
			}
		})
	}
}
