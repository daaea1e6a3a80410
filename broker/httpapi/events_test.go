package httpapi_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/httpapi"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// eventHarness serves the API with an event stream tuned for tests.
type eventHarness struct {
	srv      *httptest.Server // the stream's
	adminSrv *httptest.Server // the same API, without srv's timeouts
	reg      *registry.Registry
	admin    *api.Client
	token    string // the admin's
}

// newEventHarness serves the API over HTTPS (HTTP/2 with h2) with cfg
// applied to its Config and srv to its server.
func newEventHarness(t *testing.T, h2 bool, cfg func(*httpapi.Config), srv func(*http.Server)) *eventHarness {
	t.Helper()
	re := brokertest.New(t, brokertest.Options{})
	c := httpapi.Config{Registry: re.Registry, JWKS: re.Issuer.JWKS(), Events: httpapi.EventsConfig{KeepAlive: time.Hour}}
	if cfg != nil {
		cfg(&c)
	}
	a, err := httpapi.New(c)
	if err != nil {
		t.Fatal(err)
	}
	start := func(h2 bool, srv func(*http.Server)) *httptest.Server {
		s := httptest.NewUnstartedServer(a.Handler())
		s.EnableHTTP2 = h2
		if srv != nil {
			srv(s.Config)
		}
		s.StartTLS()
		t.Cleanup(s.Close)
		return s
	}
	h := &eventHarness{srv: start(h2, srv), reg: re.Registry}
	h.adminSrv = h.srv
	if srv != nil { // a sign-in (Argon2id) may outlast short server timeouts
		h.adminSrv = start(false, nil)
	}
	h.admin = api.New(h.adminSrv.URL, h.adminSrv.Client())
	h.token = h.signIn(t, "admin", adminPassword).AccessToken
	h.admin.SetToken(h.token)
	return h
}

func (h *eventHarness) signIn(t *testing.T, user, pw string) *api.TokenResponse {
	t.Helper()
	tr, err := api.New(h.adminSrv.URL, h.adminSrv.Client()).SignIn(context.Background(), api.SignInRequest{Username: user, Password: pw})
	if err != nil {
		t.Fatalf("signing in %s: %v", user, err)
	}
	return tr
}

// client returns a client of the API holding tok.
func (h *eventHarness) client(tok string) *api.Client {
	c := api.New(h.srv.URL, h.srv.Client())
	c.SetToken(tok)
	return c
}

// open opens a stream that ends with the test (or after a generous
// deadline, so a missing event fails rather than hangs).
func open(t *testing.T, c *api.Client, f api.EventFilter) *api.EventStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	s, err := c.OpenEvents(ctx, f)
	if err != nil {
		t.Fatalf("OpenEvents: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// next reads n events.
func next(t *testing.T, s *api.EventStream, n int) []api.Event {
	t.Helper()
	var out []api.Event
	for len(out) < n {
		ev, err := s.Next()
		if err != nil {
			t.Fatalf("after %d events %+v: %v", len(out), out, err)
		}
		out = append(out, ev)
	}
	return out
}

// register registers a new endpoint (signed, with a key) through the
// registry; its state follows the key.
func (h *eventHarness) register(t *testing.T, keyValue string) string {
	t.Helper()
	pub, _, _ := ed25519.GenerateKey(nil)
	id := uuid.NewString()
	_, err := h.reg.Register(context.Background(), registry.RegisterRequest{
		APIKey: keyValue, ClientID: id, ClientType: protocol.ClientDesktop, Hostname: "host-" + id[:8],
		KeyType: registry.KeyTypeEd25519, PublicKey: pub, Proven: true, Remote: netip.MustParseAddr("10.1.2.3"),
	})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	return id
}

// evRow is what the tests compare of an event.
type evRow struct{ Type, Endpoint, Key, State string }

func rows(evs []api.Event) []evRow {
	out := []evRow{}
	for _, e := range evs {
		out = append(out, evRow{e.Type, e.EndpointID, e.KeyID, e.State})
	}
	return out
}

// Every kind of change arrives on an open stream, in order, with an id,
// its account and time, and no secret (issue 13, point 1).
func TestEventStreamDeliversEveryChange(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[h2], func(t *testing.T) {
			h := newEventHarness(t, h2, nil, nil)
			ctx := context.Background()
			s := open(t, h.admin, api.EventFilter{})

			k, err := h.admin.CreateKey(ctx, api.CreateKeyRequest{Name: "events"})
			if err != nil {
				t.Fatal(err)
			}
			a, b := h.register(t, k.Value), h.register(t, k.Value)
			if _, err := h.admin.ApproveEndpoint(ctx, a); err != nil {
				t.Fatal(err)
			}
			if _, err := h.admin.RejectEndpoint(ctx, b); err != nil {
				t.Fatal(err)
			}
			// An unsigned registration of a with another key asks for a key change (E4).
			pub, _, _ := ed25519.GenerateKey(nil)
			if _, err := h.reg.RegisterDevice(ctx, registry.DeviceRegisterRequest{RegisterRequest: registry.RegisterRequest{
				APIKey: k.Value, ClientID: a, ClientType: protocol.ClientPrinter, Hostname: "printer",
				KeyType: registry.KeyTypeEd25519, PublicKey: pub, Remote: netip.MustParseAddr("10.1.2.4")}}); err != nil {
				t.Fatal(err)
			}
			if _, err := h.admin.UntrustEndpoint(ctx, a); err != nil {
				t.Fatal(err)
			}
			if err := h.admin.DeleteEndpoint(ctx, b); err != nil {
				t.Fatal(err)
			}
			v, err := h.admin.AddKeyValue(ctx, k.ID, api.AddValueRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if err := h.admin.DeleteKey(ctx, k.ID); err != nil {
				t.Fatal(err)
			}

			want := []evRow{
				{protocol.EventAPIKeyCreated, "", k.ID, ""},
				{protocol.EventEndpointPending, a, "", "pending"},
				{protocol.EventEndpointPending, b, "", "pending"},
				{protocol.EventEndpointTrusted, a, "", "trusted"},
				{protocol.EventEndpointRejected, b, "", "rejected"},
				{protocol.EventEndpointKeyChange, a, "", ""},
				{protocol.EventEndpointUntrusted, a, "", "untrusted"},
				{protocol.EventEndpointDeleted, b, "", "deleted"},
				{protocol.EventAPIKeyUpdated, "", k.ID, ""},
				{protocol.EventAPIKeyDeleted, "", k.ID, ""},
			}
			got := next(t, s, len(want))
			if d := cmp.Diff(want, rows(got)); d != "" {
				t.Errorf("events (-want +got):\n%s", d)
			}
			acct := k.AccountID
			prev := ""
			for _, e := range got {
				if e.ID == "" || e.ID == prev || e.AccountID != acct || e.At.IsZero() {
					t.Errorf("event %+v: want a new id, account %s and a time", e, acct)
				}
				prev = e.ID
				for _, secret := range []string{k.Value, v.Value} {
					if strings.Contains(toString(e), secret) {
						t.Errorf("event %+v holds a key value", e)
					}
				}
			}
			if s.LastEventID() != got[len(got)-1].ID {
				t.Errorf("LastEventID = %q, want the last event's %q", s.LastEventID(), got[len(got)-1].ID)
			}
		})
	}
}

// A caller sees the events of the accounts where it may view them, and
// narrows them by account (and below) and type.
func TestEventStreamShowsOnlyWhatTheCallerMayView(t *testing.T) {
	h := newEventHarness(t, true, nil, nil)
	ctx := context.Background()
	other, err := h.admin.CreateAccount(ctx, api.CreateAccountRequest{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.admin.CreateUser(ctx, api.CreateUserRequest{AccountID: other.ID, Username: "otheradmin",
		Password: brokertest.UserPassword, Roles: []string{"Administrator"}}); err != nil {
		t.Fatal(err)
	}
	otherAdmin := h.client(h.signIn(t, "otheradmin", brokertest.UserPassword).AccessToken)
	theirs := open(t, otherAdmin, api.EventFilter{})
	onlyOther := open(t, h.admin, api.EventFilter{AccountID: other.ID})
	onlyKeys := open(t, h.admin, api.EventFilter{Types: []string{"apikey.*"}})

	mine, err := h.admin.CreateKey(ctx, api.CreateKeyRequest{Name: "mine"})
	if err != nil {
		t.Fatal(err)
	}
	ep := h.register(t, mine.Value)
	if _, err := h.admin.ApproveEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	// Then one event of the other account: the first its admin sees.
	their, err := h.admin.CreateKey(ctx, api.CreateKeyRequest{Name: "theirs", AccountID: other.ID})
	if err != nil {
		t.Fatal(err)
	}
	wantTheirs := []evRow{{protocol.EventAPIKeyCreated, "", their.ID, ""}}
	if d := cmp.Diff(wantTheirs, rows(next(t, theirs, 1))); d != "" {
		t.Errorf("other account's admin (-want +got):\n%s", d)
	}
	if d := cmp.Diff(wantTheirs, rows(next(t, onlyOther, 1))); d != "" {
		t.Errorf("account filter (-want +got):\n%s", d)
	}
	wantKeys := []evRow{{protocol.EventAPIKeyCreated, "", mine.ID, ""}, {protocol.EventAPIKeyCreated, "", their.ID, ""}}
	if d := cmp.Diff(wantKeys, rows(next(t, onlyKeys, 2))); d != "" {
		t.Errorf("type filter (-want +got):\n%s", d)
	}
}

// A client that reconnects with Last-Event-ID gets every event committed
// while it was away, once, and then the live ones.
func TestEventStreamResumesAfterLastEventID(t *testing.T) {
	h := newEventHarness(t, false, nil, nil)
	ctx := context.Background()
	k, err := h.admin.CreateKey(ctx, api.CreateKeyRequest{Name: "resume"})
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, h.admin, api.EventFilter{})
	first := h.register(t, k.Value)
	got := next(t, s, 1)
	s.Close()

	away := []string{h.register(t, k.Value), h.register(t, k.Value)}
	if _, err := h.admin.ApproveEndpoint(ctx, first); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, h.admin, api.EventFilter{LastEventID: got[0].ID})
	live := h.register(t, k.Value)
	want := []evRow{
		{protocol.EventEndpointPending, away[0], "", "pending"}, {protocol.EventEndpointPending, away[1], "", "pending"},
		{protocol.EventEndpointTrusted, first, "", "trusted"}, {protocol.EventEndpointPending, live, "", "pending"},
	}
	if d := cmp.Diff(want, rows(next(t, s2, len(want)))); d != "" {
		t.Errorf("resumed stream (-want +got):\n%s", d)
	}
	// ?after= does the same for a client that cannot set headers.
	resp, err := h.rawStream(t, "?after="+got[0].ID, "Bearer "+h.token)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ids []string
	sc := bufio.NewScanner(resp.Body)
	for len(ids) < len(want) && sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
			ids = append(ids, id)
		}
	}
	if len(ids) != len(want) || ids[0] <= got[0].ID && len(ids[0]) == len(got[0].ID) {
		t.Errorf("ids after %s: %v", got[0].ID, ids)
	}
}

// rawStream opens the stream without the typed client.
func (h *eventHarness) rawStream(t *testing.T, query, authz string) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+api.PathEvents+query, nil)
	if err != nil {
		return nil, err
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	return h.srv.Client().Do(req)
}

// An idle stream writes a keep-alive comment at each interval, and it
// outlives the server's write and read timeouts: each write moves its own
// deadline.
func TestEventStreamKeepAliveOutlivesServerTimeouts(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[h2], func(t *testing.T) {
			// Short enough to pass several times over while the test runs,
			// long enough for a loaded machine to start serving a request.
			const timeout = time.Second
			h := newEventHarness(t, h2,
				func(c *httpapi.Config) { c.Events.KeepAlive = 150 * time.Millisecond },
				func(s *http.Server) { s.WriteTimeout, s.ReadTimeout = timeout, timeout })
			resp, err := h.rawStream(t, "", "Bearer "+h.token)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Fatalf("Content-Type %q", ct)
			}
			start := time.Now()
			sc := bufio.NewScanner(resp.Body)
			keepAlives := 0
			// Keep-alives until the stream has lived well past both timeouts.
			for keepAlives < 5 || time.Since(start) < 4*timeout {
				if !sc.Scan() {
					t.Fatalf("the stream ended after %d keep-alives, %v: %v", keepAlives, time.Since(start), sc.Err())
				}
				switch line := sc.Text(); line {
				case ": keep-alive":
					keepAlives++
				case "":
				default:
					t.Fatalf("unexpected line %q on an idle stream", line)
				}
			}
			// And an event still arrives.
			k, err := h.admin.CreateKey(context.Background(), api.CreateKeyRequest{Name: "late"})
			if err != nil {
				t.Fatal(err)
			}
			for sc.Scan() {
				if line := sc.Text(); strings.HasPrefix(line, "data: ") {
					if !strings.Contains(line, k.ID) || !strings.Contains(line, `"type":"apikey.created"`) {
						t.Errorf("event %s", line)
					}
					return
				}
			}
			t.Fatalf("the stream ended before the event: %v", sc.Err())
		})
	}
}

// The stream's own errors: credentials, the filter, the resume point. A
// session cookie (SessionAuth) counts only without other credentials.
func TestEventStreamRefusals(t *testing.T) {
	var sessionCalls int
	var h *eventHarness
	h = newEventHarness(t, false, func(c *httpapi.Config) {
		c.SessionAuth = func(r *http.Request) (*registry.Principal, error) {
			sessionCalls++
			ck, err := r.Cookie("console")
			if err != nil || ck.Value != "good" {
				return nil, errors.New("no console session")
			}
			return h.reg.Authenticate(r.Context(), h.token)
		}
	}, nil)
	ctx := context.Background()
	noFull, err := h.admin.CreateKey(ctx, api.CreateKeyRequest{Name: "no full access", AllowUnauthenticated: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, query   string
		headers       map[string]string
		status        int
		code, inDesc  string
		sessionCalled bool
	}{
		{"no credentials", "", nil, 401, api.CodeUnauthorized, "Authorization: Bearer", true},
		{"bad cookie", "", map[string]string{"Cookie": "console=bad"}, 401, api.CodeUnauthorized, "Authorization: Bearer", true},
		{"bad token, good cookie", "", map[string]string{"Authorization": "Bearer nope", "Cookie": "console=good"}, 401, api.CodeUnauthorized, "Authorization: Bearer", false},
		{"key without full API access", "", map[string]string{"X-API-Key": noFull.Value}, 403, api.CodeInvalidClient, "", false},
		{"unknown type", "?type=endpoint.approved", map[string]string{"Authorization": "Bearer " + h.token}, 400, api.CodeInvalidRequest, "unknown event type", false},
		{"unknown account", "?account_id=" + uuid.NewString(), map[string]string{"Authorization": "Bearer " + h.token}, 404, api.CodeNotFound, "", false},
		{"bad Last-Event-ID", "", map[string]string{"Authorization": "Bearer " + h.token, "Last-Event-ID": "x1"}, 400, api.CodeInvalidRequest, "Last-Event-ID", false},
		{"bad after", "?after=-3", map[string]string{"Authorization": "Bearer " + h.token}, 400, api.CodeInvalidRequest, "after", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sessionCalls = 0
			req, _ := http.NewRequest(http.MethodGet, h.srv.URL+api.PathEvents+tc.query, nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantError(t, resp.StatusCode, body, tc.status, tc.code, tc.inDesc)
			if (sessionCalls > 0) != tc.sessionCalled {
				t.Errorf("SessionAuth called %d times", sessionCalls)
			}
		})
	}
	// A good cookie alone opens the stream.
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+api.PathEvents, nil)
	req.Header.Set("Cookie", "console=good")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("with the console cookie: %d", resp.StatusCode)
	}
	// The cookie opens no other route.
	req, _ = http.NewRequest(http.MethodGet, h.srv.URL+"/api/v1/endpoints", nil)
	req.Header.Set("Cookie", "console=good")
	if resp, err = h.srv.Client().Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("the console cookie on another route: %d, want 401", resp.StatusCode)
	}
}

// A key that allows unauthenticated requests and has full API access
// streams as its run-as identity.
func TestEventStreamWithAKey(t *testing.T) {
	h := newEventHarness(t, false, nil, nil)
	ctx := context.Background()
	k, err := h.admin.CreateKey(ctx, api.CreateKeyRequest{Name: "watcher", AllowUnauthenticated: true, FullAPIAccess: true})
	if err != nil {
		t.Fatal(err)
	}
	role := registry.RoleAuditor
	if _, err := h.admin.UpdateKey(ctx, k.ID, api.UpdateKeyRequest{RunAsRoleID: &role}); err != nil {
		t.Fatal(err)
	}
	c := api.New(h.srv.URL, h.srv.Client())
	c.SetAPIKey(k.Value)
	s := open(t, c, api.EventFilter{})
	ep := h.register(t, k.Value)
	if d := cmp.Diff([]evRow{{protocol.EventEndpointPending, ep, "", "pending"}}, rows(next(t, s, 1))); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// A stream checks its caller again: ending the session ends the stream.
func TestEventStreamEndsWithItsSession(t *testing.T) {
	h := newEventHarness(t, false, func(c *httpapi.Config) { c.Events.Recheck = 20 * time.Millisecond }, nil)
	tr := h.signIn(t, "admin", adminPassword)
	c := h.client(tr.AccessToken)
	s := open(t, c, api.EventFilter{})
	ss, err := c.ListSessions(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ss {
		if x.Current {
			if err := h.admin.EndSession(context.Background(), x.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ev, err := s.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the session ended: %+v, %v; want the stream to end", ev, err)
	}
}
