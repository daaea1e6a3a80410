package broker

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/console"
	"github.com/edgetrust/edgetrust/broker/httpapi"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/web"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// publicRoutes answer a caller without credentials (2xx or 3xx other
// than to the sign-in form). Every other route refuses: 4xx, or a page
// that redirects to /signin.
var publicRoutes = map[string]bool{
	"GET /healthz":                 true,
	"GET /readyz":                  true,
	"GET /.well-known/jwks.json":   true,
	"GET " + api.PathOAuthMetadata: true,
	"GET /static/":                 true,
	"GET /signin":                  true,
}

// frontState is what an HTTP call could change.
type frontState struct {
	Endpoints []registry.Endpoint
	Keys      []registry.APIKey
	Users     []registry.UserWithGrants
	Accounts  []registry.Account
	Audit     []registry.AuditEvent
}

var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// routeCalls turns a mux pattern into the calls that reach it: its method
// (GET and POST for a pattern without one), its wildcards filled in, and a
// path under a subtree pattern.
func routeCalls(pattern string) (methods []string, path string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "", pattern
	}
	path = strings.ReplaceAll(path, "{$}", "")
	path = wildcard.ReplaceAllStringFunc(path, func(string) string { return uuid.NewString() })
	if strings.HasSuffix(path, "/") && path != "/" {
		path += "x"
	}
	if method == "" {
		return []string{"GET", "POST"}, path
	}
	return []string{method}, path
}

// TestEveryHTTPRouteWithoutCredentials calls every route the API and the
// console register (read from their muxes) through the broker's front,
// without credentials, with an empty JSON object for a body: public
// routes answer, the others refuse, none answers 5xx, nothing changes,
// and the broker serves a signed-in admin afterwards.
func TestEveryHTTPRouteWithoutCredentials(t *testing.T) {
	ctx := context.Background()
	re := brokertest.New(t, brokertest.Options{})
	admin := re.Admin(t)
	con, err := console.New(console.Config{Registry: re.Registry})
	if err != nil {
		t.Fatal(err)
	}
	a, err := httpapi.New(httpapi.Config{Registry: re.Registry, JWKSFunc: re.Issuer.JWKS, SessionAuth: con.SessionAuth})
	if err != nil {
		t.Fatal(err)
	}
	front := web.New(web.Config{})
	mountFront(front, a.Handler(), con.Handler())
	srv := httptest.NewTLSServer(front)
	defer srv.Close()
	hc := srv.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	hc.Timeout = 10 * time.Second
	// The event stream of an unauthenticated caller is refused at once;
	// should it ever stream, the timeout ends the call.

	snapshot := func() frontState {
		t.Helper()
		var s frontState
		var err error
		if s.Endpoints, err = re.Registry.ListEndpoints(ctx, admin, registry.EndpointFilter{}); err != nil {
			t.Fatal(err)
		}
		if s.Keys, err = re.Registry.ListAPIKeys(ctx, admin, ""); err != nil {
			t.Fatal(err)
		}
		if s.Users, err = re.Registry.ListUsers(ctx, admin, ""); err != nil {
			t.Fatal(err)
		}
		if s.Accounts, err = re.Registry.ListAccounts(ctx, admin); err != nil {
			t.Fatal(err)
		}
		if s.Audit, err = re.Registry.ListAudit(ctx, admin, registry.AuditFilter{}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := snapshot()

	routes := append(a.Routes(), con.Routes()...)
	if len(routes) < 40 {
		t.Fatalf("only %d routes read from the muxes: %q", len(routes), routes)
	}
	for _, pattern := range routes {
		methods, path := routeCalls(pattern)
		for _, method := range methods {
			t.Run(method+" "+path, func(t *testing.T) {
				req, err := http.NewRequest(method, srv.URL+path, strings.NewReader("{}"))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
				resp.Body.Close()
				loc, _ := url.Parse(resp.Header.Get("Location"))
				toSignIn := resp.StatusCode/100 == 3 && loc != nil && loc.Path == "/signin"
				switch {
				case resp.StatusCode >= 500:
					t.Errorf("%s: %d %s", pattern, resp.StatusCode, body)
				case publicRoutes[pattern]:
				case resp.StatusCode < 400 && !toSignIn:
					t.Errorf("%s answered %d without credentials: %s", pattern, resp.StatusCode, body)
				}
			})
		}
	}
	if d := cmp.Diff(before, snapshot()); d != "" {
		t.Errorf("calls without credentials changed the broker (-before +after):\n%s", d)
	}

	c := api.New(srv.URL, srv.Client())
	if _, err := c.SignIn(ctx, api.SignInRequest{Username: "admin", Password: brokertest.AdminPassword}); err != nil {
		t.Fatalf("an admin after the sweep: %v", err)
	}
}
