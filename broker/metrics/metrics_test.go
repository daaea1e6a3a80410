package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/metrics"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// scrape GETs url and parses the Prometheus text format into one value
// per series, keyed `name{label="value",...}` (labels sorted); histograms
// give name_count and name_sum.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET %s: Content-Type %q, want the text format", url, ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := func(n string) string {
				var ls []string
				for _, l := range m.GetLabel() {
					ls = append(ls, l.GetName()+`="`+l.GetValue()+`"`)
				}
				sort.Strings(ls)
				if len(ls) == 0 {
					return n
				}
				return n + "{" + strings.Join(ls, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key(name)] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key(name)] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key(name+"_count")] = float64(m.GetHistogram().GetSampleCount())
				out[key(name+"_sum")] = m.GetHistogram().GetSampleSum()
			case dto.MetricType_UNTYPED:
				out[key(name)] = m.GetUntyped().GetValue()
			}
		}
	}
	return out
}

// pick returns the values of keys in got (missing ones absent).
func pick(got map[string]float64, keys ...string) map[string]float64 {
	out := map[string]float64{}
	for _, k := range keys {
		if v, ok := got[k]; ok {
			out[k] = v
		}
	}
	return out
}

var remote = netip.MustParseAddr("127.0.0.1")

// TestMetricsMove drives a real registry (SQLite in t.TempDir()) through
// registrations, a key refusal, decisions, logins and rate-limited
// sign-ins, and checks each moves its metric in a scrape parsed by the
// Prometheus text parser.
func TestMetricsMove(t *testing.T) {
	m := metrics.New(metrics.Config{Version: "1.2.3"})
	env := brokertest.New(t, brokertest.Options{Observer: m})
	m.Attach(env.Registry)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	url := srv.URL + "/metrics"
	ctx := context.Background()
	reg, admin, root := env.Registry, env.Admin(t), env.RootAccountID

	before := scrape(t, url)
	if got := before[`edgetrust_build_info{goversion="`+goVersion(before)+`",version="1.2.3"}`]; got != 1 {
		t.Errorf("build_info = %v, want 1 (%v)", got, keysWith(before, "build_info"))
	}
	zero := map[string]float64{
		`edgetrust_registrations_total{outcome="pending"}`:                      0,
		`edgetrust_registrations_total{outcome="trusted"}`:                      0,
		`edgetrust_decisions_total{action="approve",outcome="success"}`:         0,
		`edgetrust_logins_total{outcome="success",type="session_user"}`:         0,
		`edgetrust_rate_limited_total{kind="signin"}`:                           0,
		`edgetrust_pending_endpoints_all`:                                       0,
		`edgetrust_fail_closed`:                                                 0,
		`edgetrust_agents_connected`:                                            0,
		`edgetrust_push_latency_seconds_count`:                                  0,
		`edgetrust_pending_endpoints{account="root",account_id="` + root + `"}`: 0,
	}
	if d := cmp.Diff(zero, pick(before, keysOf(zero)...)); d != "" {
		t.Errorf("before anything (-want +got):\n%s", d)
	}

	vendor := mustAccount(t, reg, admin, root, "acme", registry.AccountVendor)
	custOfVendor := mustAccount(t, reg, admin, vendor.ID, "acme-customer", registry.AccountCustomer)
	custOfRoot := mustAccount(t, reg, admin, root, "direct-customer", registry.AccountCustomer)
	keyOf := func(acct string, autoTrust bool) string {
		k, err := reg.CreateAPIKey(ctx, admin, registry.CreateAPIKeyRequest{AccountID: acct, Name: "k", AutoTrust: autoTrust})
		if err != nil {
			t.Fatal(err)
		}
		return k.Value
	}
	register := func(key, id string) (*registry.RegisterResult, error) {
		return reg.Register(ctx, registry.RegisterRequest{APIKey: key, ClientID: id, ClientType: protocol.ClientDesktop, Remote: remote})
	}
	pendingIDs := []string{"00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000003"}
	vkey, rkey := keyOf(custOfVendor.ID, false), keyOf(custOfRoot.ID, false)
	for i, id := range pendingIDs {
		key := vkey
		if i == 2 {
			key = rkey
		}
		if _, err := register(key, id); err != nil {
			t.Fatal(err)
		}
	}
	// Over HTTP (the device flow) too.
	if _, err := reg.RegisterDevice(ctx, registry.DeviceRegisterRequest{RegisterRequest: registry.RegisterRequest{
		APIKey: rkey, ClientID: "00000000-0000-4000-8000-000000000006", ClientType: protocol.ClientDesktop, Remote: remote}}); err != nil {
		t.Fatal(err)
	}
	if _, err := register(keyOf(custOfRoot.ID, true), "00000000-0000-4000-8000-000000000004"); err != nil {
		t.Fatal(err)
	}
	if _, err := register("etk_not_a_key", "00000000-0000-4000-8000-000000000005"); registry.KindOf(err) != registry.KindInvalidClient {
		t.Fatalf("a malformed key: %v, want invalid_client", err)
	}
	if _, err := reg.Decide(ctx, admin, pendingIDs[0], registry.ActionApprove, remote); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Decide(ctx, admin, pendingIDs[0], registry.ActionReject, remote); registry.KindOf(err) != registry.KindConflict {
		t.Fatalf("rejecting a trusted endpoint: %v, want conflict", err)
	}
	// A session login without a device token, with a key that does not
	// allow untrusted endpoints: access_denied.
	if _, err := reg.Login(ctx, registry.LoginRequest{Type: protocol.LoginSessionUser, APIKey: vkey, Username: "u", Remote: remote}); err == nil {
		t.Fatal("a login without a device token succeeded")
	}
	// Sign-in attempts past the burst from one address are rate-limited
	// (without a password: no Argon2id to wait for).
	limited := false
	for i := 0; i < 30 && !limited; i++ {
		_, err := reg.SignIn(ctx, registry.SignInRequest{Username: "admin", Password: "wrong password", Remote: netip.MustParseAddr("192.0.2.7")})
		limited = registry.KindOf(err) == registry.KindRateLimited
	}
	if !limited {
		t.Fatal("sign-in was never rate-limited")
	}

	got := scrape(t, url)
	want := map[string]float64{
		`edgetrust_registrations_total{outcome="pending"}`:                           4,
		`edgetrust_registrations_total{outcome="trusted"}`:                           1,
		`edgetrust_registrations_total{outcome="invalid_client"}`:                    1,
		`edgetrust_key_refusals_total{reason="malformed"}`:                           1,
		`edgetrust_decisions_total{action="approve",outcome="success"}`:              1,
		`edgetrust_decisions_total{action="reject",outcome="conflict"}`:              1,
		`edgetrust_logins_total{outcome="access_denied",type="session_user"}`:        1,
		`edgetrust_rate_limited_total{kind="signin"}`:                                1,
		`edgetrust_pending_endpoints_all`:                                            3,
		`edgetrust_pending_endpoints{account="root",account_id="` + root + `"}`:      2,
		`edgetrust_pending_endpoints{account="acme",account_id="` + vendor.ID + `"}`: 1,
		`edgetrust_fail_closed`:                                                      0,
		`edgetrust_pending_scrape_error`:                                             0,
	}
	if d := cmp.Diff(want, pick(got, keysOf(want)...)); d != "" {
		t.Errorf("after the calls (-want +got):\n%s", d)
	}
	// No series per customer account: only the root and the vendor.
	if ks := keysWith(got, "edgetrust_pending_endpoints{"); len(ks) != 2 || strings.Contains(strings.Join(ks, " "), "customer") {
		t.Errorf("pending series = %v, want the root's and the vendor's only", ks)
	}
	if n := got[`edgetrust_store_transaction_duration_seconds_count{op="update"}`]; n < 5 {
		t.Errorf("store update transactions observed = %v, want several", n)
	}
}

// TestFailClosedGauge: the gauge follows the source's Fresh, and a store
// that cannot be read turns pending_scrape_error on without failing the
// scrape.
func TestFailClosedGauge(t *testing.T) {
	src := &fakeSource{}
	m := metrics.New(metrics.Config{Source: src})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	keys := []string{"edgetrust_fail_closed", "edgetrust_pending_scrape_error", "edgetrust_pending_endpoints_all"}
	for _, tc := range []struct {
		name        string
		fresh, read error
		want        map[string]float64
	}{
		{"fresh", nil, nil, map[string]float64{keys[0]: 0, keys[1]: 0, keys[2]: 3}},
		{"fail closed", errors.New("feed out of reach"), nil, map[string]float64{keys[0]: 1, keys[1]: 0, keys[2]: 3}},
		{"store down", errors.New("feed out of reach"), errors.New("no database"), map[string]float64{keys[0]: 1, keys[1]: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src.fresh, src.read = tc.fresh, tc.read
			if d := cmp.Diff(tc.want, pick(scrape(t, srv.URL), keys...)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

type fakeSource struct{ fresh, read error }

func (f *fakeSource) Fresh() error { return f.fresh }
func (f *fakeSource) PendingCounts(context.Context) ([]registry.PendingGroup, error) {
	if f.read != nil {
		return nil, f.read
	}
	return []registry.PendingGroup{{AccountID: "r", AccountName: "root", Pending: 1}, {AccountID: "v", AccountName: "v", Pending: 2}}, nil
}

// TestPushLatencyNeverNegative: a decision stamped by a broker whose clock
// is ahead counts as 0 s, not as a negative sample.
func TestPushLatencyNeverNegative(t *testing.T) {
	m := metrics.New(metrics.Config{})
	m.Pushed(-time.Second)
	m.Pushed(20 * time.Millisecond)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	got := scrape(t, srv.URL)
	if c, s := got["edgetrust_push_latency_seconds_count"], got["edgetrust_push_latency_seconds_sum"]; c != 2 || s < 0.019 || s > 0.021 {
		t.Errorf("count %v sum %v, want 2 and 0.02", c, s)
	}
}

// TestEveryRefusalReason: every reason the registry refuses a key for has
// its own label value, so a new reason cannot hide under "other" (nor,
// being free text, become a label itself).
func TestEveryRefusalReason(t *testing.T) {
	files, err := filepath.Glob("../registry/*.go")
	if err != nil {
		t.Fatal(err)
	}
	pats := []*regexp.Regexp{
		regexp.MustCompile(`refuse\("([^"]+)"\)`),
		regexp.MustCompile(`refusal\{reason: "([^"]+)"`),
		regexp.MustCompile(`f\.reason = "([^"]+)"`),
	}
	var reasons []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pats {
			for _, m := range p.FindAllStringSubmatch(string(src), -1) {
				reasons = append(reasons, m[1])
			}
		}
	}
	if len(reasons) < 15 {
		t.Fatalf("found only %d refusal reasons in broker/registry: has the code moved? %q", len(reasons), reasons)
	}
	labelRE := regexp.MustCompile(`^[a-z_]+$`)
	for _, r := range reasons {
		l := metrics.ReasonLabel(r)
		if l == metrics.ReasonOther || !labelRE.MatchString(l) {
			t.Errorf("refusal reason %q has label %q: add it to reasonLabels in broker/metrics/reasons.go and docs/metrics.md", r, l)
		}
	}
	if !slices.Contains(metrics.ReasonLabels(), metrics.ReasonOther) {
		t.Error("ReasonLabels lacks other")
	}
}

func mustAccount(t *testing.T, reg *registry.Registry, p *registry.Principal, parent, name string, typ registry.AccountType) *registry.Account {
	t.Helper()
	a, err := reg.CreateAccount(context.Background(), p, registry.CreateAccountRequest{ParentID: parent, Name: name, Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func keysOf(m map[string]float64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func keysWith(m map[string]float64, sub string) []string {
	var out []string
	for k := range m {
		if strings.Contains(k, sub) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func goVersion(m map[string]float64) string {
	for k := range m {
		if v, ok := strings.CutPrefix(k, `edgetrust_build_info{goversion="`); ok {
			return v[:strings.Index(v, `"`)]
		}
	}
	return ""
}
