// Package console is the broker's web console (issue 13): server-rendered
// html/template pages, one small stylesheet and one small script, all
// embedded, for the people who approve endpoints and manage keys in a
// browser. It is mounted at "/" on the HTTPS front (broker/web) beside the
// API, which keeps /api/, /oauth/, /.well-known/, /healthz and /readyz.
//
// It calls the registry through the same use cases as the API, so the
// registry decides every permission; the console only hides what a user
// could not do (Principal.Holds). A user signs in with a username and
// password (registry.SignIn, S3b); the browser then holds a random session
// id in an HttpOnly, Secure, SameSite=Strict cookie that ends at sign-out
// and after IdleTimeout, and every form carries the session's CSRF token.
// The cookie is accepted by the console's routes and, through
// SessionAuth, by the API's read-only event stream only: the API's
// state-changing routes keep taking bearer tokens and keys alone.
//
// Sessions live in this broker's memory: a restart signs everyone out,
// and several brokers behind one address need sticky sessions.
package console

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/web"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// DefaultIdleTimeout ends a console session nobody used for this long.
const DefaultIdleTimeout = 30 * time.Minute

// DefaultEventsURL is the API's event stream (GET /api/v1/events), which
// the pending queue follows with an EventSource.
const DefaultEventsURL = "/api/v1/events"

// csp allows the console's own script, style and images only, no inline
// script or style, and no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Config configures a Console. Registry is required.
type Config struct {
	Registry    *registry.Registry
	Logger      *zap.Logger      // nil = no logging
	IdleTimeout time.Duration    // 0 = DefaultIdleTimeout
	EventsURL   string           // "" = DefaultEventsURL
	Now         func() time.Time // nil = time.Now (tests)
}

// Console serves the web console. It is safe for concurrent use.
type Console struct {
	reg      *registry.Registry
	log      *zap.Logger
	idle     time.Duration
	events   string
	now      func() time.Time
	sessions *sessions
	pages    map[string]*template.Template
	h        http.Handler
	mux      *web.RouteMux
}

// New returns a Console.
func New(cfg Config) (*Console, error) {
	if cfg.Registry == nil {
		return nil, errors.New("console.New: Config.Registry is nil")
	}
	c := &Console{reg: cfg.Registry, log: cfg.Logger, idle: cfg.IdleTimeout, events: cfg.EventsURL, now: cfg.Now,
		sessions: newSessions()}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	if c.idle <= 0 {
		c.idle = DefaultIdleTimeout
	}
	if c.events == "" {
		c.events = DefaultEventsURL
	}
	if c.now == nil {
		c.now = time.Now
	}
	var err error
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	c.h = c.routes()
	return c, nil
}

// Handler returns the console's HTTP handler.
func (c *Console) Handler() http.Handler { return c.h }

// Routes returns the patterns of every route the console serves.
func (c *Console) Routes() []string { return c.mux.Patterns() }

func (c *Console) routes() http.Handler {
	mux := web.NewRouteMux() // remembers its routes (Routes)
	c.mux = mux
	static, _ := fs.Sub(staticFS, "static")
	files := http.FileServerFS(static)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if _, _, err := c.principal(r); err != nil {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, "/queue", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /signin", c.signInPage)
	mux.HandleFunc("POST /signin", c.signIn)
	mux.HandleFunc("POST /signout", c.authed(c.signOut))
	mux.HandleFunc("POST /account", c.authed(c.switchAccount))

	mux.HandleFunc("GET /queue", c.authed(c.queuePage))
	mux.HandleFunc("GET /queue/rows", c.authed(c.queueRows))
	mux.HandleFunc("POST /queue/decide", c.authed(c.queueDecide))
	mux.HandleFunc("POST /queue/bulk", c.authed(c.queueBulk))

	mux.HandleFunc("GET /endpoints", c.authed(c.endpointsPage))
	mux.HandleFunc("GET /endpoints/{id}", c.authed(c.endpointPage))
	mux.HandleFunc("POST /endpoints/{id}/{action}", c.authed(c.endpointAction))

	mux.HandleFunc("GET /keys", c.authed(c.keysPage))
	mux.HandleFunc("POST /keys", c.authed(c.createKey))
	mux.HandleFunc("GET /keys/{id}", c.authed(c.keyPage))
	mux.HandleFunc("POST /keys/{id}", c.authed(c.updateKey))
	mux.HandleFunc("POST /keys/{id}/regenerate", c.authed(c.regenerate))
	mux.HandleFunc("POST /keys/{id}/values", c.authed(c.addValue))
	mux.HandleFunc("POST /keys/{id}/values/{value}/revoke", c.authed(c.revokeValue))
	mux.HandleFunc("POST /edge-devices", c.authed(c.addEdgeDevice))
	mux.HandleFunc("POST /edge-devices/{value}/remove", c.authed(c.removeEdgeDevice))

	mux.HandleFunc("GET /webhooks", c.authed(c.webhooksPage))
	mux.HandleFunc("POST /webhooks", c.authed(c.createWebhook))
	mux.HandleFunc("GET /webhooks/{id}", c.authed(c.webhookPage))
	mux.HandleFunc("POST /webhooks/{id}/remove", c.authed(c.removeWebhook))
	mux.HandleFunc("POST /webhooks/{id}/rotate", c.authed(c.rotateWebhook))
	mux.HandleFunc("POST /webhooks/{id}/deliveries/{delivery}/redeliver", c.authed(c.redeliverWebhook))

	mux.HandleFunc("GET /accounts", c.authed(c.accountsPage))
	mux.HandleFunc("GET /users", c.authed(c.usersPage))
	mux.HandleFunc("GET /sessions", c.authed(c.sessionsPage))
	mux.HandleFunc("POST /sessions/{id}/end", c.authed(c.endSession))
	mux.HandleFunc("GET /audit", c.authed(c.auditPage))

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, http.StatusNotFound, "error", &page{Title: "Not found", FlashErr: "There is no page " + r.URL.Path + "."})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin") // so that a POST names its origin (sameOrigin)
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store") // pages may show a key value once
		}
		mux.ServeHTTP(w, r)
	})
}

// handler is a console handler for a signed-in user.
type handler func(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal)

// authed admits a request with a live session; a POST also needs the
// session's CSRF token and, when the browser names one, this origin.
// Without a session a page redirects to the sign-in form.
func (c *Console) authed(next handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, p, err := c.principal(r)
		if errors.Is(err, errStoreDown) {
			c.render(w, r, http.StatusServiceUnavailable, "error", &page{Title: "Unavailable",
				FlashErr: "The broker cannot read its database right now; your session is kept. Try again shortly."})
			return
		}
		if err != nil {
			if r.Method == http.MethodGet && r.Header.Get("X-Requested-With") == "" {
				http.Redirect(w, r, "/signin", http.StatusSeeOther)
				return
			}
			c.render(w, r, http.StatusUnauthorized, "error", &page{Title: "Signed out",
				FlashErr: "Your session ended. Sign in again."})
			return
		}
		if r.Method == http.MethodPost {
			sess.mu.Lock()
			want := sess.csrf
			sess.mu.Unlock()
			if !sameOrigin(r) || !csrfOK(r, want) {
				c.log.Info("console form refused: bad CSRF token or origin", zap.String("path", r.URL.Path))
				c.render(w, r, http.StatusForbidden, "error", c.base(sess, p, "Refused", ""),
					"This form expired or did not come from this console. Reload the page and try again.")
				return
			}
		}
		next(w, r, sess, p)
	}
}

// can is what the signed-in user may see and do, for showing pages and
// buttons; the registry checks again on every action.
type can struct {
	ViewEndpoints, ModifyEndpoints, DeleteEndpoints bool
	ViewKeys, ModifyKeys, DeleteKeys                bool
	ViewAccounts, ModifyAccounts                    bool
	ViewUsers, ModifyUsers                          bool
	ViewAudit                                       bool
}

func canOf(p *registry.Principal) can {
	return can{
		ViewEndpoints: p.Holds(registry.PermViewEndpoint), ModifyEndpoints: p.Holds(registry.PermModifyEndpoint),
		DeleteEndpoints: p.Holds(registry.PermDeleteEndpoint),
		ViewKeys:        p.Holds(registry.PermViewAPIKey), ModifyKeys: p.Holds(registry.PermModifyAPIKey),
		DeleteKeys:   p.Holds(registry.PermDeleteAPIKey),
		ViewAccounts: p.Holds(registry.PermViewAccount), ModifyAccounts: p.Holds(registry.PermModifyAccount),
		ViewUsers: p.Holds(registry.PermViewUser), ModifyUsers: p.Holds(registry.PermModifyUser),
		ViewAudit: p.Holds(registry.PermViewAuditLog),
	}
}

// page is what every template gets.
type page struct {
	Title    string
	Path     string // the page's path (where the account switcher returns)
	Nav      string // the menu entry to mark current
	User     string
	CSRF     string
	Can      can
	Accounts []registry.Account // the account switcher; empty hides it
	Account  string             // the account looked at; "" = all
	Flash    string
	FlashErr string
	Data     any
}

// base fills the parts of a page every signed-in page shares, taking the
// session's one-time messages.
func (c *Console) base(sess *session, p *registry.Principal, title, nav string) *page {
	sess.mu.Lock()
	pg := &page{Title: title, Nav: nav, User: sess.username, CSRF: sess.csrf, Can: canOf(p), Account: sess.account,
		Flash: sess.flash, FlashErr: sess.flashErr}
	sess.flash, sess.flashErr = "", ""
	sess.mu.Unlock()
	return pg
}

// withAccounts adds the account switcher for users who see accounts.
func (c *Console) withAccounts(r *http.Request, pg *page, p *registry.Principal) {
	if pg.Can.ViewAccounts {
		c.accountsOf(r, pg, p)
	}
}

// accountsOf reads the accounts p sees once for a page that also names
// them: it adds the account switcher as withAccounts does and returns them
// (none when the read fails; the page then shows ids only).
func (c *Console) accountsOf(r *http.Request, pg *page, p *registry.Principal) []registry.Account {
	accts, err := c.reg.ListAccounts(r.Context(), p)
	if err != nil {
		return nil
	}
	withSwitcher(pg, accts)
	return accts
}

// withSwitcher adds the account switcher listing accts, the accounts the
// user sees, when there is more than one to switch between.
func withSwitcher(pg *page, accts []registry.Account) {
	if pg.Can.ViewAccounts && len(accts) > 1 {
		pg.Accounts = accts
	}
}

// render writes a page; msg, when given, is shown as an error.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, pg *page, msg ...string) {
	if len(msg) > 0 {
		pg.FlashErr = msg[0]
	}
	pg.Path = r.URL.Path
	t := c.pages[name]
	var buf strings.Builder
	if err := t.ExecuteTemplate(&buf, "layout", pg); err != nil {
		c.log.Error("rendering console page", zap.String("page", name), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(buf.String()))
}

// fail answers a registry error as a page: 403 for a permission the user
// lacks, 404 for what it cannot see, 500 (logged) for the rest.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal, err error) {
	status := http.StatusBadRequest
	switch registry.KindOf(err) {
	case registry.KindPermission:
		status = http.StatusForbidden
	case registry.KindNotFound:
		status = http.StatusNotFound
	case registry.KindUnauthenticated:
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	case registry.KindInternal:
		status = http.StatusInternalServerError
		c.log.Error("console request failed", zap.String("path", r.URL.Path), zap.Error(err))
	}
	c.render(w, r, status, "error", c.base(sess, p, "Error", ""), registry.PublicMessage(err))
}

// forbidden answers a page the user's roles do not open.
func (c *Console) forbidden(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal, perm registry.Permission) {
	c.render(w, r, http.StatusForbidden, "error", c.base(sess, p, "Not allowed", ""),
		"Your roles do not include the "+string(perm)+" permission this page needs.")
}

// done ends a form's action: on success, or on an error the user can fix
// (bad input, a conflict, a quota), it sets the message and redirects to
// `to`; any other error is a page of its own (fail).
func (c *Console) done(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal, err error, ok, to string) {
	if err != nil {
		switch registry.KindOf(err) {
		case registry.KindInvalid, registry.KindConflict, registry.KindQuota, registry.KindRateLimited, registry.KindExpired:
		default:
			c.fail(w, r, sess, p, err)
			return
		}
	}
	sess.mu.Lock()
	if err != nil {
		sess.flashErr = registry.PublicMessage(err)
	} else {
		sess.flash = ok
	}
	sess.mu.Unlock()
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// switchAccount sets the account the user looks at ("" = all it sees).
func (c *Console) switchAccount(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	id := r.PostFormValue("account")
	if id != "" {
		if _, err := c.reg.GetAccount(r.Context(), p, id); err != nil {
			c.fail(w, r, sess, p, err)
			return
		}
	}
	sess.mu.Lock()
	sess.account = id
	sess.mu.Unlock()
	to := r.PostFormValue("back")
	if !strings.HasPrefix(to, "/") || strings.HasPrefix(to, "//") {
		to = "/queue"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// accountIDs is the account filter of a list: the account looked at, or
// nil for every account the user sees.
func accountIDs(sess *session) []string {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.account == "" {
		return nil
	}
	return []string{sess.account}
}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"iso": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"prefixes": func(ps []netip.Prefix) string {
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = p.String()
		}
		return strings.Join(s, ", ")
	},
	"fingerprint": func(thumb string) string {
		if thumb == "" {
			return "none"
		}
		return "SHA256:" + thumb
	},
	"short": func(id string) string {
		if len(id) > 13 {
			return id[:8] + "…"
		}
		return id
	},
}

// pageFiles are the pages; each is parsed with layout.html.
var pageFiles = map[string]string{
	"signin": "signin.html", "error": "error.html", "confirm": "confirm.html",
	"queue": "queue.html", "endpoints": "endpoints.html", "endpoint": "endpoint.html",
	"keys": "keys.html", "key": "key.html", "webhooks": "webhooks.html", "webhook": "webhook.html",
	"accounts": "accounts.html", "users": "users.html", "sessions": "sessions.html", "audit": "audit.html",
}

func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for name, file := range pageFiles {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+file)
		if err != nil {
			return nil, fmt.Errorf("console: parsing %s: %w", file, err)
		}
		out[name] = t
	}
	return out, nil
}
