package signing_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/cluster"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/signing"
	"github.com/edgetrust/edgetrust/broker/store/sqlite"
	"github.com/edgetrust/edgetrust/broker/token"
)

// clock is a fake clock the test moves; the zero clock tells the real
// time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		return time.Now()
	}
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

var t0 = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

func openStore(t *testing.T, dir string) registry.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(dir, "edgetrust.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newKEK(t *testing.T) []byte {
	kek := make([]byte, 32)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	return kek
}

// newRing returns an Issuer and the Ring that fills it, loaded.
func newRing(t *testing.T, st registry.Store, kek []byte, clk *clock, cfg signing.Config) (*token.Issuer, *signing.Ring) {
	t.Helper()
	_, placeholder, _ := ed25519.GenerateKey(rand.Reader)
	iss, err := token.New(token.Config{Key: placeholder, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.KEK, cfg.Issuer, cfg.Now = st, kek, iss, clk.Now
	ring, err := signing.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return iss, ring
}

func rotate(t *testing.T, st registry.Store, ring *signing.Ring, now time.Time, scheduled bool) *registry.SigningKeyRotation {
	t.Helper()
	var rot *registry.SigningKeyRotation
	if err := st.Update(context.Background(), func(tx registry.Tx) error {
		var err error
		rot, err = ring.RotateTx(tx, now, scheduled)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := ring.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	return rot
}

// relyingParty verifies tokens offline with go-jose, as a service of the
// broker's customers would: it fetches the JWKS over HTTP and keeps it for
// the Cache-Control max-age the broker sent, by the test's clock, and
// never refetches earlier (not even for an unknown kid).
type relyingParty struct {
	url     string
	clk     *clock
	set     jose.JSONWebKeySet
	expires time.Time
	fetches int
	checked map[string]bool // token+kid whose signature verified (the test checks each token at every step)
}

func (rp *relyingParty) keys(t *testing.T) jose.JSONWebKeySet {
	t.Helper()
	now := rp.clk.Now()
	if rp.fetches > 0 && now.Before(rp.expires) {
		return rp.set
	}
	resp, err := http.Get(rp.url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	age, ok := strings.CutPrefix(resp.Header.Get("Cache-Control"), "max-age=")
	secs, err := strconv.Atoi(age)
	if !ok || err != nil {
		t.Fatalf("JWKS Cache-Control %q: want max-age=N", resp.Header.Get("Cache-Control"))
	}
	rp.set = jose.JSONWebKeySet{}
	if err := json.Unmarshal(body, &rp.set); err != nil {
		t.Fatal(err)
	}
	rp.expires, rp.fetches = now.Add(time.Duration(secs)*time.Second), rp.fetches+1
	return rp.set
}

func (rp *relyingParty) verify(t *testing.T, tok string) error {
	t.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return err
	}
	set := rp.keys(t)
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) == 0 {
		return fmt.Errorf("kid %s is not in the cached JWKS", parsed.Headers[0].KeyID)
	}
	var c jwt.Claims
	if err := parsed.UnsafeClaimsWithoutVerification(&c); err != nil {
		return err
	}
	if memo := tok + "/" + keys[0].KeyID; !rp.checked[memo] {
		if err := parsed.Claims(keys[0].Key, &c); err != nil {
			return err
		}
		if rp.checked == nil {
			rp.checked = map[string]bool{}
		}
		rp.checked[memo] = true
	}
	return c.ValidateWithLeeway(jwt.Expected{Time: rp.clk.Now()}, 0)
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Headers[0].KeyID
}

func published(t *testing.T, iss *token.Issuer) map[string]bool {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(iss.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, k := range set.Keys {
		out[k.KeyID] = true
	}
	return out
}

// TestRelyingPartyAcrossRotation: relying services that cache the JWKS for
// its max-age, whatever the moment they fetched it, verify every token
// the broker mints before, during and after a rotation until it expires;
// the new key signs only once every cache can hold it, and the old key
// leaves the JWKS only after its last token's expiry plus the max-age.
func TestRelyingPartyAcrossRotation(t *testing.T) {
	const (
		m       = 10 * time.Minute // JWKS max-age
		life    = 15 * time.Minute // every token's lifetime
		prop    = 10 * time.Second
		step    = time.Minute
		rotAt   = 7 * time.Minute
		horizon = 60 * time.Minute
	)
	clk := &clock{t: t0}
	st := openStore(t, t.TempDir())
	iss, ring := newRing(t, st, newKEK(t), clk, signing.Config{CacheMaxAge: m, MaxTokenLife: life, Propagation: prop})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age="+strconv.Itoa(int(m/time.Second)))
		w.Write(iss.JWKS())
	}))
	defer srv.Close()
	// One relying party per phase: each first fetches at another step of
	// the first max-age, so some cache the JWKS from just before the new
	// key is published and some from just before the old one leaves.
	var rps []*relyingParty
	for off := time.Duration(0); off < m; off += step {
		rps = append(rps, &relyingParty{url: srv.URL, clk: clk})
	}
	type minted struct {
		tok string
		exp time.Time
	}
	var toks []minted
	oldKID := iss.KeyID()
	var rot *registry.SigningKeyRotation
	var oldGone time.Time
	for at := time.Duration(0); at <= horizon; at += step {
		now := t0.Add(at)
		clk.set(now)
		if at == rotAt {
			rot = rotate(t, st, ring, now, false)
			if rot.Replaces != oldKID || !rot.ActivatesAt.Equal(now.Add(prop+m)) || !rot.ReplacedUnpublishedAt.Equal(rot.ActivatesAt.Add(life+prop+m)) {
				t.Fatalf("rotation %+v: want it to replace %s, activate at %v", rot, oldKID, now.Add(prop+m))
			}
		}
		if err := ring.Apply(now); err != nil {
			t.Fatal(err)
		}
		pub := published(t, iss)
		if rot != nil && !pub[rot.KeyID] {
			t.Fatalf("%v after start: the new key is not published", at)
		}
		if !pub[oldKID] && oldGone.IsZero() {
			oldGone = now
		}
		tok, err := iss.Mint(token.Claims{Subject: "s", Type: token.TypeDevice, ExpiresAt: now.Add(life)})
		if err != nil {
			t.Fatal(err)
		}
		switch kid := kidOf(t, tok); {
		case rot == nil || now.Before(rot.ActivatesAt):
			if kid != oldKID {
				t.Fatalf("%v after start: signed by %s before the new key's time", at, kid)
			}
		case kid != rot.KeyID:
			t.Fatalf("%v after start: signed by %s, want the new key %s", at, kid, rot.KeyID)
		}
		toks = append(toks, minted{tok, now.Add(life)})
		for i, rp := range rps {
			if at < time.Duration(i)*step {
				continue // this one has not started yet
			}
			for _, mt := range toks {
				if !now.Before(mt.exp) {
					continue
				}
				if err := rp.verify(t, mt.tok); err != nil {
					t.Fatalf("%v after start: relying party %d (fetched %d times) refused a live token of %s: %v", at, i, rp.fetches, kidOf(t, mt.tok), err)
				}
			}
		}
	}
	// The old key signed its last token just before the new key's
	// activation: it stays until that token's expiry plus M (and the
	// propagation), then goes.
	earliest := rot.ActivatesAt.Add(life + m)
	if oldGone.IsZero() || oldGone.Before(earliest) || oldGone.After(rot.ReplacedUnpublishedAt.Add(step)) {
		t.Errorf("the old key left the JWKS at %v; want between %v and %v", oldGone, earliest, rot.ReplacedUnpublishedAt.Add(step))
	}
}

// TestScheduledRotation: a scheduled rotation happens once the newest key
// is Rotation old, once (a second broker asking at the same time finds it
// done), and drops keys whose time in the JWKS is over.
func TestScheduledRotation(t *testing.T) {
	clk := &clock{t: t0}
	st := openStore(t, t.TempDir())
	kek := newKEK(t)
	cfg := signing.Config{CacheMaxAge: time.Minute, MaxTokenLife: time.Hour, Propagation: time.Second, Rotation: 24 * time.Hour}
	iss, ring := newRing(t, st, kek, clk, cfg)
	first := iss.KeyID()
	if rot := rotate(t, st, ring, t0.Add(23*time.Hour), true); rot != nil {
		t.Fatalf("rotated before due: %+v", rot)
	}
	rot := rotate(t, st, ring, t0.Add(24*time.Hour), true)
	if rot == nil || rot.Replaces != first {
		t.Fatalf("no rotation when due: %+v", rot)
	}
	if again := rotate(t, st, ring, t0.Add(24*time.Hour), true); again != nil {
		t.Fatalf("rotated twice: %+v", again)
	}
	// A day later the first key's time is long over: the next rotation
	// drops it from the store.
	clk.set(t0.Add(48 * time.Hour))
	rotate(t, st, ring, t0.Add(48*time.Hour), true)
	_, other := newRing(t, st, kek, clk, cfg)
	_ = other
	if pub := published(t, iss); pub[first] || len(pub) != 2 {
		t.Errorf("published after two rotations = %v; want the two newest only", pub)
	}
}

// TestKeysSealedAndKept: the store never holds a private key in the clear;
// another broker (or a restart) with the same KEK signs with the same key;
// one with another KEK cannot open them.
func TestKeysSealedAndKept(t *testing.T) {
	clk := &clock{t: t0}
	dir := t.TempDir()
	st := openStore(t, dir)
	kek := newKEK(t)
	_, initial, _ := ed25519.GenerateKey(rand.Reader)
	iss, _ := newRing(t, st, kek, clk, signing.Config{Initial: initial})
	var raw string
	if err := st.View(context.Background(), func(tx registry.Tx) error {
		var err error
		raw, err = tx.GetMeta("token.signing_keys")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if strings.Contains(raw, enc.EncodeToString(initial.Seed())) || strings.Contains(raw, enc.EncodeToString(initial)) {
			t.Fatalf("the store holds the private key in the clear: %s", raw)
		}
	}
	if !strings.Contains(raw, `"sealed":"v1.`) {
		t.Fatalf("no sealed key in %s", raw)
	}
	again, _ := newRing(t, st, kek, clk, signing.Config{})
	if d := cmp.Diff(iss.KeyID(), again.KeyID()); d != "" {
		t.Errorf("after a restart the signing key changed (-want +got):\n%s", d)
	}
	_, placeholder, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := token.New(token.Config{Key: placeholder})
	ring, err := signing.New(signing.Config{Store: st, KEK: newKEK(t), Issuer: other, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.Load(context.Background()); !errors.Is(err, cluster.ErrWrongClusterKey) {
		t.Errorf("loading with another KEK: %v, want ErrWrongClusterKey", err)
	}
}

// TestRotateSigningKeyAuthorised: only an administrator at the root
// account rotates; both outcomes are audited.
func TestRotateSigningKeyAuthorised(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	iss, ring := newRing(t, st, newKEK(t), &clock{}, signing.Config{})
	reg, err := registry.New(registry.Config{Store: st, Signer: iss, SigningKeys: ring})
	if err != nil {
		t.Fatal(err)
	}
	const pw = "signing-test-password"
	boot, err := reg.Bootstrap(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	signIn := func(user, acct string) *registry.Principal {
		res, err := reg.SignIn(ctx, registry.SignInRequest{Username: user, Password: pw, AccountID: acct})
		if err != nil {
			t.Fatal(err)
		}
		p, err := reg.Authenticate(ctx, res.Tokens.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	admin := signIn(registry.AdminUsername, "")
	vendor, err := reg.CreateAccount(ctx, admin, registry.CreateAccountRequest{ParentID: boot.RootAccountID, Name: "v", Type: registry.AccountVendor})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.CreateUser(ctx, admin, registry.CreateUserRequest{AccountID: vendor.ID, Username: "vadmin", Password: pw, Roles: []string{registry.RoleAdministrator}}); err != nil {
		t.Fatal(err)
	}
	vadmin := signIn("vadmin", vendor.ID)
	if _, err := reg.RotateSigningKey(ctx, vadmin, netip.MustParseAddr("127.0.0.1")); registry.KindOf(err) != registry.KindPermission {
		t.Fatalf("a vendor's administrator rotated: %v", err)
	}
	rot, err := reg.RotateSigningKey(ctx, admin, netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	events, err := reg.ListAudit(ctx, admin, registry.AuditFilter{Action: "token.signing_key.rotate"})
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ Actor, Target, Outcome string }
	var got []row
	for _, e := range events {
		got = append(got, row{e.Actor, e.Target, e.Outcome})
	}
	want := []row{
		{"user:" + vadmin.UserID, "signing_key:new", registry.OutcomeFailure},
		{"user:" + admin.UserID, "signing_key:" + rot.KeyID, registry.OutcomeSuccess},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("audit (-want +got):\n%s", d)
	}
	if !published(t, iss)[rot.KeyID] {
		t.Error("the new key is not published after RotateSigningKey")
	}
	if _, err := reg.ListSigningKeys(ctx, vadmin); registry.KindOf(err) != registry.KindPermission {
		t.Errorf("a vendor's administrator listed the signing keys: %v", err)
	}
	keys, err := reg.ListSigningKeys(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	type state struct{ KeyID, State string }
	var states []state
	for _, k := range keys {
		states = append(states, state{k.KeyID, k.State})
	}
	if d := cmp.Diff([]state{{rot.Replaces, registry.SigningKeyActive}, {rot.KeyID, registry.SigningKeyNext}}, states); d != "" {
		t.Errorf("signing keys after a rotation (-want +got):\n%s", d)
	}
}
