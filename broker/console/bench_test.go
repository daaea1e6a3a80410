package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/console"
	"github.com/edgetrust/edgetrust/broker/registry"
)

// The console's figures of issue 13 (point 9), run by 'make bench': the
// server's time for the pending queue with 1,000 pending endpoints and for
// pages of the endpoints list at 100,000 endpoints, p50 and p99. Server
// time is the handler's, from the request to the last byte of the page,
// rendering included (httptest.ResponseRecorder: no TLS, no network). The
// endpoints are written straight into the store (SQLite in a temporary
// directory), in large transactions: registering 100,000 through the
// protocol would measure registration, not the console.

// seed writes n endpoints of the root account, registered with key, in
// transactions of 5,000; state(i) gives each one's state.
func seed(b *testing.B, env *brokertest.Env, n int, keyID string, state func(i int) registry.State) {
	b.Helper()
	start := time.Now().Add(-time.Duration(n) * time.Second)
	for lo := 0; lo < n; lo += 5000 {
		err := env.Store.Update(context.Background(), func(tx registry.Tx) error {
			for i := lo; i < min(lo+5000, n); i++ {
				at := start.Add(time.Duration(i) * time.Second)
				ep := &registry.Endpoint{ID: uuid.NewString(), AccountID: env.RootAccountID, State: state(i),
					Type: "desktop_client", Description: fmt.Sprintf("seeded endpoint %d", i), Hostname: fmt.Sprintf("host-%06d", i),
					OS: "Linux", Version: "1.2.3", KeyID: keyID, RegisteredAt: at, RegisteredFrom: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
					UpdatedAt: at}
				if err := tx.CreateEndpoint(ep); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// benchConsole is a console over a seeded registry, with a signed-in
// admin's cookies.
type benchConsole struct {
	h       http.Handler
	cookies []*http.Cookie
}

func newBenchConsole(b *testing.B, env *brokertest.Env) *benchConsole {
	b.Helper()
	con, err := console.New(console.Config{Registry: env.Registry})
	if err != nil {
		b.Fatal(err)
	}
	bc := &benchConsole{h: con.Handler()}
	rec := bc.serve(httptest.NewRequest("GET", "https://console.test/signin", nil))
	csrf := csrfField.FindStringSubmatch(rec.Body.String())[1]
	bc.cookies = rec.Result().Cookies()
	form := url.Values{"csrf": {csrf}, "username": {registry.AdminUsername}, "password": {brokertest.AdminPassword}}
	req := httptest.NewRequest("POST", "https://console.test/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = bc.serve(req)
	if rec.Code != http.StatusSeeOther {
		b.Fatalf("sign-in: %d", rec.Code)
	}
	bc.cookies = rec.Result().Cookies()
	return bc
}

func (bc *benchConsole) serve(req *http.Request) *httptest.ResponseRecorder {
	for _, c := range bc.cookies {
		if c.MaxAge >= 0 && c.Value != "" {
			req.AddCookie(c)
		}
	}
	rec := httptest.NewRecorder()
	bc.h.ServeHTTP(rec, req)
	return rec
}

// measure serves path b.N times and reports p50 and p99 in milliseconds.
func (bc *benchConsole) measure(b *testing.B, path, want string) {
	b.Helper()
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("GET", "https://console.test"+path, nil)
		start := time.Now()
		rec := bc.serve(req)
		ds = append(ds, time.Since(start))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			b.Fatalf("GET %s: %d, want 200 with %q", path, rec.Code, want)
		}
	}
	b.StopTimer()
	slices.Sort(ds)
	pct := func(p float64) float64 {
		return float64(ds[min(len(ds)-1, int(float64(len(ds))*p))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkConsoleQueue1000: the pending queue, 1,000 pending endpoints
// (its first page of 200 rows, the count, the key filter's choices).
func BenchmarkConsoleQueue1000(b *testing.B) {
	env := brokertest.New(b, brokertest.Options{})
	k, err := env.Registry.CreateAPIKey(context.Background(), env.Admin(b), registry.CreateAPIKeyRequest{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	seed(b, env, 1000, k.Key.ID, func(int) registry.State { return registry.StatePending })
	bc := newBenchConsole(b, env)
	bc.measure(b, "/queue", "<strong>1000</strong> pending")
}

// BenchmarkConsoleEndpoints100k: pages of the endpoints list at 100,000
// endpoints (a quarter of them pending): the first page, a page deep in
// the list (by cursor), a state filter and a text search.
func BenchmarkConsoleEndpoints100k(b *testing.B) {
	env := brokertest.New(b, brokertest.Options{})
	k, err := env.Registry.CreateAPIKey(context.Background(), env.Admin(b), registry.CreateAPIKeyRequest{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	seed(b, env, 100000, k.Key.ID, func(i int) registry.State {
		if i%4 == 0 {
			return registry.StatePending
		}
		return registry.StateTrusted
	})
	bc := newBenchConsole(b, env)
	deep, err := env.Registry.ListEndpoints(context.Background(), env.Admin(b), registry.EndpointFilter{Limit: 90001})
	if err != nil || len(deep) != 90001 {
		b.Fatalf("listing: %d %v", len(deep), err)
	}
	cursor := deep[90000].ID
	for _, tc := range []struct{ name, path, want string }{
		{"first-page", "/endpoints", "host-000049"},
		{"page-at-90000", "/endpoints?after=" + cursor, "host-090050"},
		{"state-pending", "/endpoints?state=pending", "host-000196"},
		{"search", "/endpoints?q=host-0999", "host-099949"},
	} {
		b.Run(tc.name, func(b *testing.B) { bc.measure(b, tc.path, tc.want) })
	}
}
