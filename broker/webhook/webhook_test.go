package webhook_test

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/postgres"
	"github.com/edgetrust/edgetrust/broker/store/postgres/postgrestest"
	"github.com/edgetrust/edgetrust/broker/store/sqlite"
	"github.com/edgetrust/edgetrust/broker/token"
	"github.com/edgetrust/edgetrust/broker/webhook"
)

// received is one request a receiver saw.
type received struct {
	id, ts, sig string
	body        []byte
}

// receiver is a real HTTPS server on loopback that answers 503 to its
// first `fail` requests and 204 after.
type receiver struct {
	srv  *httptest.Server
	fail atomic.Int32
	mu   sync.Mutex
	got  []received
}

func newReceiver(t *testing.T, fail int32) *receiver {
	rc := &receiver{}
	rc.fail.Store(fail)
	rc.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body})
		rc.mu.Unlock()
		if rc.fail.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(rc.srv.Certificate())
	return p
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// startWorker runs a worker fast enough for a test until the test ends
// (or stop is called).
func startWorker(t *testing.T, out webhook.Outbox, roots *x509.CertPool, tweak func(*webhook.Config)) (stop func()) {
	t.Helper()
	cfg := webhook.Config{Outbox: out, Allow: loopback, RootCAs: roots, PollInterval: 10 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 80 * time.Millisecond, Timeout: 5 * time.Second}
	if tweak != nil {
		tweak(&cfg)
	}
	w, err := webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v, want nil after cancel", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// verify checks a delivery's signature the way any receiver would: HMAC-
// SHA256 with the secret's base64 key over "id.timestamp.body".
func verify(t *testing.T, secret string, r received) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(r.id + "." + r.ts + "."))
	m.Write(r.body)
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	if r.sig != want {
		t.Errorf("webhook-signature = %q, want %q", r.sig, want)
	}
	if _, err := strconv.ParseInt(r.ts, 10, 64); err != nil {
		t.Errorf("webhook-timestamp %q is not Unix seconds", r.ts)
	}
}

func createKey(t *testing.T, reg *registry.Registry, p *registry.Principal, name string) {
	t.Helper()
	if _, err := reg.CreateAPIKey(context.Background(), p, registry.CreateAPIKeyRequest{Name: name, Type: registry.KeyGeneral}); err != nil {
		t.Fatal(err)
	}
}

func deliveries(t *testing.T, reg *registry.Registry, p *registry.Principal, hook string) []registry.WebhookDelivery {
	t.Helper()
	ds, err := reg.ListWebhookDeliveries(context.Background(), p, hook, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestDeliveryRetriedSignedLogged: a receiver that fails twice gets the
// third attempt, signed, with the id of the first; the log says so, and a
// redelivery sends the same id and body again.
func TestDeliveryRetriedSignedLogged(t *testing.T) {
	env := brokertest.New(t, brokertest.Options{})
	ctx, admin := context.Background(), env.Admin(t)
	rc := newReceiver(t, 2)
	var observed sync.Map
	startWorker(t, env.Registry, rc.roots(), func(c *webhook.Config) {
		c.Observe = func(o string) {
			n, _ := observed.LoadOrStore(o, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
		}
	})
	cw, err := env.Registry.CreateWebhook(ctx, admin, registry.WebhookRequest{URL: rc.srv.URL + "/hook", Events: []string{"apikey.*"}}, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	createKey(t, env.Registry, admin, "k1")
	waitFor(t, "three attempts", func() bool { return len(rc.requests()) >= 3 })
	waitFor(t, "the delivery logged as delivered", func() bool {
		ds := deliveries(t, env.Registry, admin, cw.Webhook.ID)
		return len(ds) == 1 && ds[0].State == registry.DeliveryDelivered
	})
	got := rc.requests()
	for _, r := range got {
		if r.id != got[0].id || !strings.HasPrefix(r.id, "msg_") {
			t.Errorf("webhook-id %q, want every attempt to carry %q", r.id, got[0].id)
		}
		verify(t, cw.Secret, r)
	}
	var payload registry.WebhookPayload
	if err := json.Unmarshal(got[2].body, &payload); err != nil {
		t.Fatal(err)
	}
	if payload.Type != "apikey.created" || payload.Data.AccountID != env.RootAccountID || payload.Data.KeyID == "" {
		t.Errorf("payload = %+v, want apikey.created of the root account naming the key", payload)
	}
	d := deliveries(t, env.Registry, admin, cw.Webhook.ID)[0]
	if d.ID != got[0].id || d.Attempts != 3 || d.LastStatus != http.StatusNoContent || d.LastError != "" {
		t.Errorf("logged delivery = id %s attempts %d status %d error %q; want %s, 3, 204, none", d.ID, d.Attempts, d.LastStatus, d.LastError, got[0].id)
	}
	for o, want := range map[string]int32{webhook.OutcomeFailure: 2, webhook.OutcomeSuccess: 1} {
		n, _ := observed.Load(o)
		if n == nil || n.(*atomic.Int32).Load() != want {
			t.Errorf("Observe(%q) calls = %v, want %d", o, n, want)
		}
	}

	if _, err := env.Registry.RedeliverWebhook(ctx, admin, cw.Webhook.ID, d.ID, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the redelivery", func() bool { return len(rc.requests()) >= 4 })
	again := rc.requests()[3]
	if again.id != d.ID || string(again.body) != string(got[0].body) {
		t.Errorf("redelivery = id %s body %s, want id %s body %s", again.id, again.body, d.ID, got[0].body)
	}
	verify(t, cw.Secret, again)
}

// TestBackoff: the wait doubles from the minimum and stops at the cap.
func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {9, 2560 * time.Second}, {10, time.Hour}, {500, time.Hour}} {
		t.Run(strconv.Itoa(tc.n), func(t *testing.T) {
			if got := webhook.Backoff(tc.n, 10*time.Second, time.Hour); got != tc.want {
				t.Errorf("Backoff(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
}

// TestGivesUpThenRedeliver: past the retry window a delivery fails for
// good; a redelivery from the log sends it again.
func TestGivesUpThenRedeliver(t *testing.T) {
	env := brokertest.New(t, brokertest.Options{})
	ctx, admin := context.Background(), env.Admin(t)
	rc := newReceiver(t, 1000)
	stop := startWorker(t, env.Registry, rc.roots(), func(c *webhook.Config) { c.RetryFor = 150 * time.Millisecond })
	cw, err := env.Registry.CreateWebhook(ctx, admin, registry.WebhookRequest{URL: rc.srv.URL, Events: []string{"apikey.created"}}, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	createKey(t, env.Registry, admin, "k1")
	waitFor(t, "the delivery to fail for good", func() bool {
		ds := deliveries(t, env.Registry, admin, cw.Webhook.ID)
		return len(ds) == 1 && ds[0].State == registry.DeliveryFailed
	})
	stop()
	d := deliveries(t, env.Registry, admin, cw.Webhook.ID)[0]
	// How many attempts fit in the window depends on the machine's speed;
	// TestDeliveryRetriedSignedLogged shows the retries.
	if d.Attempts < 1 || d.LastStatus != 503 || d.LastError != "answered 503" || !d.NextAttemptAt.IsZero() {
		t.Errorf("failed delivery: attempts %d status %d error %q next %v; want attempts, 503, \"answered 503\", none next", d.Attempts, d.LastStatus, d.LastError, d.NextAttemptAt)
	}
	rc.fail.Store(0)
	before := len(rc.requests())
	if _, err := env.Registry.RedeliverWebhook(ctx, admin, cw.Webhook.ID, d.ID, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	startWorker(t, env.Registry, rc.roots(), nil)
	waitFor(t, "the redelivery", func() bool {
		ds := deliveries(t, env.Registry, admin, cw.Webhook.ID)
		return ds[0].State == registry.DeliveryDelivered
	})
	if got := rc.requests(); len(got) != before+1 || got[before].id != d.ID {
		t.Errorf("after redeliver: %d requests (last id %s), want %d with id %s", len(got), got[len(got)-1].id, before+1, d.ID)
	}
}

// openSQLite opens the registry of a broker on the SQLite file at path,
// bootstrapping it the first time, and signs the admin in.
func openRegistry(t *testing.T, st registry.Store, sealKey []byte) (*registry.Registry, *registry.Principal) {
	t.Helper()
	ctx := context.Background()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	iss, err := token.New(token.Config{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := webhook.NewSealer(sealKey)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(registry.Config{Store: st, Signer: iss, WebhookSealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Bootstrap(ctx, brokertest.AdminPassword); err != nil {
		t.Fatal(err)
	}
	res, err := reg.SignIn(ctx, registry.SignInRequest{Username: registry.AdminUsername, Password: brokertest.AdminPassword,
		Remote: netip.MustParseAddr("127.0.0.9")})
	if err != nil {
		t.Fatal(err)
	}
	p, err := reg.Authenticate(ctx, res.Tokens.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	return reg, p
}

// TestRestartLosesNothing: with a real SQLite file, a delivery queued, one
// claimed by a worker that died, and a change not yet queued all arrive
// after the broker reopens the store.
func TestRestartLosesNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "edgetrust.db")
	sealKey := make([]byte, 32)
	rand.Read(sealKey)
	rc := newReceiver(t, 0)

	st, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	reg, admin := openRegistry(t, st, sealKey)
	cw, err := reg.CreateWebhook(ctx, admin, registry.WebhookRequest{URL: rc.srv.URL, Events: []string{"apikey.created"}}, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	createKey(t, reg, admin, "claimed by a worker that dies")
	createKey(t, reg, admin, "queued")
	if n, _, err := reg.EnqueueWebhookDeliveries(ctx); err != nil || n != 2 {
		t.Fatalf("EnqueueWebhookDeliveries = %d, %v; want 2", n, err)
	}
	if due, err := reg.ClaimWebhookDeliveries(ctx, "dead-worker", 200*time.Millisecond, 1); err != nil || len(due) != 1 {
		t.Fatalf("ClaimWebhookDeliveries = %d, %v; want 1", len(due), err)
	}
	createKey(t, reg, admin, "not yet queued")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st2, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	reg2, admin2 := openRegistry(t, st2, sealKey)
	stop := startWorker(t, reg2, rc.roots(), nil)
	defer stop()
	waitFor(t, "three deliveries after the restart", func() bool {
		ds := deliveries(t, reg2, admin2, cw.Webhook.ID)
		n := 0
		for _, d := range ds {
			if d.State == registry.DeliveryDelivered {
				n++
			}
		}
		return n == 3
	})
	ids := map[string]bool{}
	for _, r := range rc.requests() {
		verify(t, cw.Secret, r)
		ids[r.id] = true
	}
	if len(ids) != 3 {
		t.Errorf("receiver saw %d distinct deliveries, want 3", len(ids))
	}
}

// TestPostgresLeasesShareWork: two brokers' workers on one PostgreSQL
// database deliver every delivery once.
func TestPostgresLeasesShareWork(t *testing.T) {
	u := postgrestest.URL(t)
	ctx := context.Background()
	sealKey := make([]byte, 32)
	rand.Read(sealKey)
	rc := newReceiver(t, 0)
	var regs []*registry.Registry
	var admin *registry.Principal
	for range 2 {
		st, err := postgres.Open(ctx, postgres.Config{URL: u})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		reg, p := openRegistry(t, st, sealKey)
		regs, admin = append(regs, reg), p
	}
	cw, err := regs[0].CreateWebhook(ctx, admin, registry.WebhookRequest{URL: rc.srv.URL, Events: []string{"apikey.created"}}, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	for i := range n {
		createKey(t, regs[i%2], admin, fmt.Sprintf("k%d", i))
	}
	for _, reg := range regs {
		startWorker(t, reg, rc.roots(), func(c *webhook.Config) { c.Concurrency = 3 })
	}
	waitFor(t, "every delivery", func() bool {
		ds := deliveries(t, regs[0], admin, cw.Webhook.ID)
		done := 0
		for _, d := range ds {
			if d.State == registry.DeliveryDelivered {
				done++
			}
		}
		return done == n
	})
	seen := map[string]int{}
	for _, r := range rc.requests() {
		seen[r.id]++
	}
	var twice []string
	for id, k := range seen {
		if k != 1 {
			twice = append(twice, id)
		}
	}
	if len(seen) != n || len(twice) != 0 {
		t.Errorf("receiver saw %d distinct deliveries (%v more than once), want %d each once", len(seen), twice, n)
	}
}

// TestSSRF: what a customer admin may not make the broker reach.
func TestSSRF(t *testing.T) {
	rc := newReceiver(t, 0)
	_, port, _ := strings.Cut(strings.TrimPrefix(rc.srv.URL, "https://"), ":")
	redirect := httptest.NewTLSServer(http.RedirectHandler(rc.srv.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	roots := rc.roots()
	roots.AddCert(redirect.Certificate())

	t.Run("config", func(t *testing.T) {
		env := brokertest.New(t, brokertest.Options{})
		g := webhook.Guard{}
		for _, tc := range []struct{ url, want string }{
			{"http://hooks.example.com/", "must use https"},
			{"https://user:pw@hooks.example.com/", "user name or password"},
			{"ftp://hooks.example.com/", "must use https"},
			{"https:///nohost", "names no host"},
		} {
			_, err := env.Registry.CreateWebhook(context.Background(), env.Admin(t), registry.WebhookRequest{URL: tc.url, Events: []string{"apikey.*"}}, netip.Addr{})
			if registry.KindOf(err) != registry.KindInvalid || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CreateWebhook(%s) = %v, want KindInvalid saying %q", tc.url, err, tc.want)
			}
		}
		for _, tc := range []struct {
			url string
			ok  bool
		}{
			{"https://127.0.0.1/", false}, {"https://localhost:8443/", false}, {"https://[::1]/", false},
			{"https://10.1.2.3/", false}, {"https://169.254.169.254/latest", false}, {"https://[fe80::1%25eth0]/", false},
			{"https://100.64.0.1/", false}, {"https://[::ffff:192.168.0.1]/", false},
			{"https://93.184.216.34/", true}, {"https://hooks.example.com/", true},
		} {
			if err := g.CheckURL(tc.url); (err == nil) != tc.ok {
				t.Errorf("CheckURL(%s) = %v, want ok=%v", tc.url, err, tc.ok)
			}
		}
		allowed := webhook.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
		if err := allowed.CheckURL("https://10.1.2.3/"); err != nil {
			t.Errorf("CheckURL with 10.0.0.0/8 allowed = %v, want nil", err)
		}
	})

	for _, tc := range []struct {
		name  string
		guard webhook.Guard
		url   string
		want  string // "" = delivered
	}{
		{"loopback allowed", webhook.Guard{Allow: loopback}, rc.srv.URL, ""},
		{"127.0.0.1 without allow", webhook.Guard{}, rc.srv.URL, "loopback address"},
		{"name resolving to loopback", webhook.Guard{}, "https://localhost:" + port + "/", "loopback address"},
		{"redirect not followed", webhook.Guard{Allow: loopback}, redirect.URL, "302"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rc.requests())
			c := webhook.NewClient(tc.guard, roots, 5*time.Second)
			resp, err := c.Post(tc.url, "application/json", strings.NewReader("{}"))
			if err == nil {
				resp.Body.Close()
			}
			switch {
			case tc.want == "" && (err != nil || resp.StatusCode != http.StatusNoContent):
				t.Fatalf("POST %s = %v, want 204", tc.url, err)
			case tc.want == "302" && (err != nil || resp.StatusCode != http.StatusFound):
				t.Fatalf("POST %s = %v, want the 302 itself", tc.url, err)
			case tc.want != "" && tc.want != "302" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("POST %s = %v, want an error saying %q", tc.url, err, tc.want)
			}
			if tc.want != "" && len(rc.requests()) != before {
				t.Errorf("the receiver was reached")
			}
		})
	}
}

// TestSealer: a sealed secret opens with its key and webhook id only.
func TestSealer(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	s, err := webhook.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal([]byte("whsec_x"), []byte("wh-1"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), "whsec_x") {
		t.Fatal("sealed secret holds the clear secret")
	}
	got, err := s.Open(sealed, []byte("wh-1"))
	if d := cmp.Diff("whsec_x", string(got)); d != "" || err != nil {
		t.Errorf("Open = %v (-want +got):\n%s", err, d)
	}
	if _, err := s.Open(sealed, []byte("wh-2")); err == nil {
		t.Error("Open with another webhook's id succeeded")
	}
	other := make([]byte, 32)
	rand.Read(other)
	s2, _ := webhook.NewSealer(other)
	if _, err := s2.Open(sealed, []byte("wh-1")); err == nil {
		t.Error("Open with another key succeeded")
	}
	// Brokers sharing a store derive the same key from their cluster key.
	ck := []byte("a cluster key of the operator's, 32+ bytes long....")
	d1, err1 := webhook.KeyFromClusterKey(ck)
	d2, err2 := webhook.KeyFromClusterKey(ck)
	if err1 != nil || err2 != nil || len(d1) != 32 || string(d1) != string(d2) || string(d1) == string(ck[:32]) {
		t.Errorf("KeyFromClusterKey: %v %v, lengths %d, equal %v; want the same new 32-byte key twice", err1, err2, len(d1), string(d1) == string(d2))
	}
	if _, err := webhook.KeyFromClusterKey(nil); err == nil {
		t.Error("KeyFromClusterKey(nil) succeeded")
	}
	path := filepath.Join(t.TempDir(), webhook.KeyFile)
	k1, err := webhook.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := webhook.LoadOrCreateKey(path)
	if err != nil || string(k1) != string(k2) || len(k1) != 32 {
		t.Errorf("LoadOrCreateKey again = %d bytes, %v; want the same 32 bytes", len(k2), err)
	}
	if fi, err := os.Stat(path); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
}

// TestUnopenableSecretFailsTheDelivery: a broker whose key cannot open a
// webhook's secret (restored without DATA_DIR/keys) fails its deliveries
// saying what to do, rather than stalling the outbox.
func TestUnopenableSecretFailsTheDelivery(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "edgetrust.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key1, key2 := make([]byte, 32), make([]byte, 32)
	rand.Read(key1)
	rand.Read(key2)
	reg, admin := openRegistry(t, st, key1)
	cw, err := reg.CreateWebhook(ctx, admin, registry.WebhookRequest{URL: "https://h.example/", Events: []string{"apikey.created"}}, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	createKey(t, reg, admin, "k")
	if _, _, err := reg.EnqueueWebhookDeliveries(ctx); err != nil {
		t.Fatal(err)
	}
	other, _ := openRegistry(t, st, key2)
	due, err := other.ClaimWebhookDeliveries(ctx, "w", time.Minute, 10)
	if err != nil || len(due) != 0 {
		t.Fatalf("ClaimWebhookDeliveries with another key = %d, %v; want none, nil", len(due), err)
	}
	ds := deliveries(t, reg, admin, cw.Webhook.ID)
	if len(ds) != 1 || ds[0].State != registry.DeliveryFailed || !strings.Contains(ds[0].LastError, "rotate the secret") {
		t.Errorf("delivery log = %+v, want one failed delivery saying to rotate the secret", ds)
	}
}

// TestRetryScheduledWithBackoff: a failed attempt is retried after the
// backoff, not at once (the worker's clock is fixed, so the time is exact).
func TestRetryScheduledWithBackoff(t *testing.T) {
	env := brokertest.New(t, brokertest.Options{})
	ctx, admin := context.Background(), env.Admin(t)
	rc := newReceiver(t, 1000)
	fixed := time.Now().UTC().Truncate(time.Second)
	startWorker(t, env.Registry, rc.roots(), func(c *webhook.Config) {
		c.MinBackoff, c.MaxBackoff, c.Now = time.Hour, 2*time.Hour, func() time.Time { return fixed }
	})
	cw, err := env.Registry.CreateWebhook(ctx, admin, registry.WebhookRequest{URL: rc.srv.URL, Events: []string{"apikey.created"}}, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	createKey(t, env.Registry, admin, "k")
	var d registry.WebhookDelivery
	waitFor(t, "the first attempt recorded", func() bool {
		ds := deliveries(t, env.Registry, admin, cw.Webhook.ID)
		if len(ds) == 1 && ds[0].Attempts == 1 {
			d = ds[0]
			return true
		}
		return false
	})
	if d.State != registry.DeliveryPending || !d.NextAttemptAt.Equal(fixed.Add(time.Hour)) || d.LastStatus != 503 {
		t.Errorf("after one failure: state %s, next attempt %v, status %d; want pending, %v, 503", d.State, d.NextAttemptAt, d.LastStatus, fixed.Add(time.Hour))
	}
	if n := len(rc.requests()); n != 1 {
		t.Errorf("receiver saw %d attempts, want 1 (the next is an hour away)", n)
	}
}

// BenchmarkEventToDelivery measures, per event, the time from the change's
// commit (an API key created) to its signed delivery reaching a loopback
// receiver, with the worker's defaults but the poll (the bus wakes it).
func BenchmarkEventToDelivery(b *testing.B) {
	env := brokertest.New(b, brokertest.Options{})
	ctx, admin := context.Background(), env.Admin(b)
	var got atomic.Int64
	rc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(rc.Close)
	roots := x509.NewCertPool()
	roots.AddCert(rc.Certificate())
	w, err := webhook.New(webhook.Config{Outbox: env.Registry, Allow: loopback, RootCAs: roots})
	if err != nil {
		b.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	b.Cleanup(func() { cancel(); <-done })
	if _, err := env.Registry.CreateWebhook(ctx, admin, registry.WebhookRequest{URL: rc.URL, Events: []string{"apikey.created"}}, netip.Addr{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := env.Registry.CreateAPIKey(ctx, admin, registry.CreateAPIKeyRequest{Name: fmt.Sprintf("bench-%d", i)}); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for got.Load() < int64(i+1) {
			if time.Now().After(deadline) {
				b.Fatalf("event %d not delivered", i)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
}
