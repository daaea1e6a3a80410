package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/console"
	"github.com/edgetrust/edgetrust/broker/registry"
)

// get fetches a page and returns the answer and its body.
func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF field in the page:\n%s", body)
	}
	return m[1]
}

// post sends a form with an Origin header as a browser would.
func post(t *testing.T, c *http.Client, u string, form url.Values, origin string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// signInHTTP signs in through the form and returns the client holding
// the session cookie, the sign-in answer and a CSRF token of a page.
func signInHTTP(t *testing.T, base, user, password string, c *http.Client) (*http.Response, string) {
	t.Helper()
	_, body := get(t, c, base+"/signin")
	resp, _ := post(t, c, base+"/signin", url.Values{"csrf": {csrfOf(t, body)}, "username": {user}, "password": {password}}, base)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/queue" {
		t.Fatalf("sign-in answered %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := get(t, c, base+"/queue")
	return resp, csrfOf(t, page)
}

// inlineScript finds inline script: a script element without a src or
// with a body, an event handler attribute, a javascript: URL.
var inlineScript = inlineScriptFinder{}

type inlineScriptFinder struct{}

var (
	scriptTag  = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	handlerAtt = regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=[^>]*>|javascript:`)
)

func (inlineScriptFinder) FindString(s string) string {
	for _, m := range scriptTag.FindAllStringSubmatch(s, -1) {
		if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
			return m[0]
		}
	}
	return handlerAtt.FindString(s)
}

// The contract of issue 13: GET / redirects to a sign-in page with a
// password field, under a CSP with frame-ancestors 'none', and no page
// holds inline script.
func TestContractSignInPage(t *testing.T) {
	e := shared(t)
	c := e.client()
	resp, _ := get(t, c, e.base+"/")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin" {
		t.Fatalf("GET / answered %d to %q, want 303 to /signin", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := get(t, c, e.base+"/signin")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /signin: %d", resp.StatusCode)
	}
	for _, want := range []string{`<form method="post" action="/signin"`, `type="password"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the sign-in page lacks %s", want)
		}
	}
	checkHeaders(t, "/signin", resp)
	if m := inlineScript.FindString(body); m != "" {
		t.Errorf("the sign-in page holds inline script: %q", m)
	}
}

func checkHeaders(t *testing.T, path string, resp *http.Response) {
	t.Helper()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"frame-ancestors 'none'", "script-src 'self'", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %s", path, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("%s: Content-Security-Policy allows inline code: %q", path, csp)
	}
	if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("%s: X-Frame-Options %q", path, got)
	}
}

// Every signed-in page: the same headers, no inline script, 200.
func TestPagesHaveNoInlineScript(t *testing.T) {
	e := shared(t)
	key := e.newKey(t, nil)
	id := e.register(t, key.Value, "page-check")
	c := e.client()
	signInHTTP(t, e.base, "admin", adminPassword, c)
	for _, path := range []string{"/queue", "/queue/rows", "/endpoints", "/endpoints/" + id, "/keys", "/keys/" + key.ID,
		"/accounts", "/users", "/sessions", "/audit", "/audit?action=endpoint.&outcome=success"} {
		resp, body := get(t, c, e.base+path)
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
			continue
		}
		checkHeaders(t, path, resp)
		if m := inlineScript.FindString(body); m != "" {
			t.Errorf("%s holds inline script: %q", path, m)
		}
	}
	resp, _ := get(t, c, e.base+"/static/console.js")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("console.js: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// The session cookie is HttpOnly, Secure, SameSite=Strict and host-only;
// the API's routes do not accept it.
func TestSessionCookie(t *testing.T) {
	e := shared(t)
	c := e.client()
	resp, _ := signInHTTP(t, e.base, "admin", adminPassword, c)
	var cookie string
	for _, v := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(v, "__Host-edgetrust-console=") {
			cookie = v
		}
	}
	for _, want := range []string{"HttpOnly", "Secure", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Domain=") {
		t.Errorf("session cookie %q names a domain", cookie)
	}
	// The cookie opens nothing in the API: state-changing and reading
	// routes alike want a bearer token or a key.
	for _, r := range []struct{ method, path string }{{"POST", "/api/v1/keys"}, {"GET", "/api/v1/keys"}, {"GET", "/api/v1/endpoints"}} {
		st, body := e.call(c, r.method, r.path, "", map[string]string{"name": "by-cookie"}, nil)
		if st != http.StatusUnauthorized {
			t.Errorf("%s %s with the console cookie: %d %s, want 401", r.method, r.path, st, body)
		}
	}
}

// Sign-out ends the session: the old cookie opens nothing.
func TestSignOutEndsSession(t *testing.T) {
	e := shared(t)
	c := e.client()
	_, csrf := signInHTTP(t, e.base, "admin", adminPassword, c)
	u, _ := url.Parse(e.base)
	old := c.Jar.Cookies(u)
	resp, _ := post(t, c, e.base+"/signout", url.Values{"csrf": {csrf}}, e.base)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin" {
		t.Fatalf("sign-out: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	replay := e.client()
	replay.Jar.SetCookies(u, old)
	if resp, _ := get(t, replay, e.base+"/queue"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin" {
		t.Errorf("the cookie of a signed-out session: %d to %q, want 303 to /signin", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// CSRF: a POST without the token, with a wrong one, or from another
// origin is refused with 403 and changes nothing.
func TestCSRFRefused(t *testing.T) {
	e := shared(t)
	key := e.newKey(t, nil)
	id := e.register(t, key.Value, "csrf-http")
	c := e.client()
	_, csrf := signInHTTP(t, e.base, "admin", adminPassword, c)
	for _, tc := range []struct {
		name   string
		form   url.Values
		origin string
	}{
		{"no token", url.Values{"one": {"approve:" + id}}, e.base},
		{"wrong token", url.Values{"one": {"approve:" + id}, "csrf": {"x" + csrf}}, e.base},
		{"other origin", url.Values{"one": {"approve:" + id}, "csrf": {csrf}}, "https://evil.example"},
		{"null origin", url.Values{"one": {"approve:" + id}, "csrf": {csrf}}, "null"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, _ := post(t, c, e.base+"/queue/decide", tc.form, tc.origin); resp.StatusCode != http.StatusForbidden {
				t.Errorf("answered %d, want 403", resp.StatusCode)
			}
		})
	}
	if st := e.endpoint(t, id).State; st != "pending" {
		t.Fatalf("endpoint is %s after refused POSTs", st)
	}
	// The same POST with the token goes through.
	if resp, _ := post(t, c, e.base+"/queue/decide", url.Values{"one": {"approve:" + id}, "csrf": {csrf}}, e.base); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a good POST answered %d", resp.StatusCode)
	}
	if st := e.endpoint(t, id).State; st != "trusted" {
		t.Errorf("endpoint is %s after the approval", st)
	}
}

// An approver's forged POSTs to key routes are refused by the registry.
func TestApproverForbidden(t *testing.T) {
	e := shared(t)
	user := "approver-http-" + time.Now().Format("150405.000")
	e.newUser(t, user, "Approver")
	key := e.newKey(t, nil)
	c := e.client()
	_, csrf := signInHTTP(t, e.base, user, "console-user-pw-1", c)
	for _, path := range []string{"/keys", "/keys/" + key.ID + "/values", "/edge-devices"} {
		if resp, _ := post(t, c, e.base+path, url.Values{"csrf": {csrf}, "name": {"forged"}}, e.base); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s as an approver: %d, want 403", path, resp.StatusCode)
		}
	}
	for _, path := range []string{"/keys", "/audit", "/users"} {
		if resp, _ := get(t, c, e.base+path); resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s as an approver: %d, want 403", path, resp.StatusCode)
		}
	}
}

func newJar() http.CookieJar {
	j, _ := cookiejar.New(nil)
	return j
}

// clock is a settable time for the console's idle timeout.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// A session ends after the idle timeout, and not before; SessionAuth (the
// event stream's cookie check) follows it. The sign-in is rate-limited as
// the API's is (S3b).
func TestIdleTimeoutAndSessionAuth(t *testing.T) {
	env := brokertest.New(t, brokertest.Options{})
	clk := &clock{now: time.Now()}
	con, err := console.New(console.Config{Registry: env.Registry, IdleTimeout: 10 * time.Minute, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(con.Handler())
	defer srv.Close()
	c := srv.Client()
	c.Jar = newJar()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	signInHTTP(t, srv.URL, registry.AdminUsername, brokertest.AdminPassword, c)
	u, _ := url.Parse(srv.URL)
	authOK := func() bool {
		req := httptest.NewRequest("GET", "/api/v1/events", nil)
		for _, ck := range c.Jar.Cookies(u) {
			req.AddCookie(ck)
		}
		p, err := con.SessionAuth(req)
		if err == nil && p.Username != registry.AdminUsername {
			t.Fatalf("SessionAuth: %+v", p)
		}
		if err != nil && registry.KindOf(err) != registry.KindUnauthenticated {
			t.Fatalf("SessionAuth: %v", err)
		}
		return err == nil
	}
	if !authOK() {
		t.Fatal("SessionAuth refuses a live session")
	}
	// A request the browser abandoned (its context cancelled while the
	// store is read) gets no answer, and the session stays.
	req := httptest.NewRequest("GET", "/api/v1/events", nil)
	for _, ck := range c.Jar.Cookies(u) {
		req.AddCookie(ck)
	}
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := con.SessionAuth(req.WithContext(gone)); err == nil {
		t.Fatal("SessionAuth answered a cancelled request")
	}
	if !authOK() {
		t.Fatal("a cancelled request ended the session")
	}
	clk.advance(9 * time.Minute)
	if resp, _ := get(t, c, srv.URL+"/queue"); resp.StatusCode != 200 {
		t.Fatalf("after 9 idle minutes: %d", resp.StatusCode)
	}
	clk.advance(9 * time.Minute) // 9 since the last request
	if !authOK() {
		t.Fatal("SessionAuth refuses a session used 9 minutes ago")
	}
	clk.advance(11 * time.Minute)
	if resp, _ := get(t, c, srv.URL+"/queue"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after 11 idle minutes: %d, want a redirect to the sign-in page", resp.StatusCode)
	}
	if authOK() {
		t.Fatal("SessionAuth accepts an idle session")
	}
	// The registry session behind it ended too.
	if list, err := env.Registry.ListSessions(t.Context(), env.Admin(t), ""); err != nil || len(list) != 1 {
		t.Errorf("sessions after the idle timeout: %d %v, want only the test's own", len(list), err)
	}
	// Sign-in failures are rate-limited (S3b): 429 once the burst is spent.
	var last int
	for range 12 {
		_, body := get(t, c, srv.URL+"/signin")
		resp, _ := post(t, c, srv.URL+"/signin", url.Values{"csrf": {csrfOf(t, body)}, "username": {"admin"}, "password": {"wrong"}}, srv.URL)
		last = resp.StatusCode
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("the 12th quick sign-in answered %d, want 429", last)
	}
}

// Issue 15, point 2: a browser that signed in before keeps its device
// cookie and signs in while a flood of wrong passwords holds back every
// browser without one.
func TestKnownBrowserSignsInDuringAFlood(t *testing.T) {
	env := brokertest.New(t, brokertest.Options{})
	con, err := console.New(console.Config{Registry: env.Registry})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(con.Handler())
	defer srv.Close()
	known := srv.Client()
	known.Jar = newJar()
	known.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	signInHTTP(t, srv.URL, "admin", brokertest.AdminPassword, known)
	u, _ := url.Parse(srv.URL)
	var device *http.Cookie
	for _, ck := range known.Jar.Cookies(u) {
		if ck.Name == "__Host-edgetrust-device" {
			device = ck
		}
	}
	if device == nil || device.Value == "" {
		t.Fatal("no device cookie after a sign-in")
	}

	attempt := func(c *http.Client, password string) int {
		_, body := get(t, c, srv.URL+"/signin")
		resp, _ := post(t, c, srv.URL+"/signin", url.Values{"csrf": {csrfOf(t, body)}, "username": {"admin"}, "password": {password}}, srv.URL)
		return resp.StatusCode
	}
	other := &http.Client{Transport: known.Transport, Jar: newJar(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for range 30 {
		attempt(other, "wrong")
	}
	if got := attempt(other, brokertest.AdminPassword); got != http.StatusTooManyRequests {
		t.Errorf("right password from a browser without a device cookie during the flood: %d, want 429", got)
	}
	// The known browser, signed out (its session cookie gone), keeps its
	// device cookie.
	again := &http.Client{Transport: known.Transport, Jar: newJar(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	again.Jar.SetCookies(u, []*http.Cookie{{Name: device.Name, Value: device.Value, Path: "/", Secure: true}})
	if got := attempt(again, brokertest.AdminPassword); got != http.StatusSeeOther {
		t.Errorf("right password from the known browser during the flood: %d, want 303", got)
	}
}
