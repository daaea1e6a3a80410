// Package httpapi is the broker's HTTP handler: health checks, the JWKS and
// the public/admin API under /api/v1 (SPEC §6). It turns requests into
// registry calls and registry errors into HTTP answers, in one function
// (status). The JSON types are those of protocol/api.
//
// Every answer is JSON. Request bodies are limited to 64 KiB; unknown JSON
// fields are ignored (forward compatibility) but a field of the wrong type
// is refused naming the field. Error bodies carry only the registry's public
// message; the full error goes to the log.
//
// Routes other than sign-in and device login (login.go) take a user access
// token ("Authorization: Bearer"), optionally with an API key, or an API
// key alone that allows unauthenticated requests, acting as its run-as
// identity (SPEC S5); on admin routes a key also needs full API access
// (K1). A refused key answers one 403 body (K8), every other
// authentication failure one 401 body. The permission checks are the
// registry's: a resource of an account the caller cannot see answers 404,
// never 403, so ids cannot be probed.
package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/web"
	"github.com/edgetrust/edgetrust/internal/logfield"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// Config configures an API. Registry is required; nil Logger means
// zap.NewNop(); nil JWKS makes /.well-known/jwks.json answer 404.
type Config struct {
	Registry *registry.Registry
	// JWKS is the JSON Web Key Set of the token signing keys, served as is.
	JWKS []byte
	// JWKSFunc, when set, is asked for the set at every request instead
	// (brokers sharing a database publish every broker's keys, and the
	// set grows when another broker starts).
	JWKSFunc func() []byte
	// JWKSMaxAge is the JWKS's Cache-Control max-age (0 = 10 minutes): a
	// rotation publishes a key at least this long before it signs.
	JWKSMaxAge time.Duration
	Logger     *zap.Logger
	// OAuth configures the OAuth device registration API (oauth.go).
	OAuth OAuthConfig
	// Version is the broker's version, shown by /healthz ("" = "dev").
	Version string
	// Events tunes the event stream (events.go).
	Events EventsConfig
	// SessionAuth, if set, authenticates a request to the event stream
	// that carries no Authorization or X-API-Key header (the console's
	// session cookie). No other route consults it.
	SessionAuth func(*http.Request) (*registry.Principal, error)
}

// API serves the broker's HTTP API. It is safe for concurrent use.
type API struct {
	reg      *registry.Registry
	jwks     []byte
	jwksFunc func() []byte
	jwksAge  time.Duration
	log      *zap.Logger
	h        http.Handler
	ver      string
	routes   *web.RouteMux

	events      EventsConfig
	sessionAuth func(*http.Request) (*registry.Principal, error)
}

// maxBody bounds a request body; maxBulkBody that of a bulk endpoint
// action, which may name up to 100,000 ids.
const (
	maxBody     = 64 << 10
	maxBulkBody = 4 << 20
)

const bulkPath = "/api/v1/endpoints/bulk"

// New returns an API.
func New(cfg Config) (*API, error) {
	if cfg.Registry == nil {
		return nil, errors.New("httpapi.New: Config.Registry is nil")
	}
	a := &API{reg: cfg.Registry, jwks: cfg.JWKS, jwksFunc: cfg.JWKSFunc, log: cfg.Logger, ver: cfg.Version,
		events: cfg.Events, sessionAuth: cfg.SessionAuth, jwksAge: cfg.JWKSMaxAge}
	if a.jwksAge <= 0 {
		a.jwksAge = 5 * time.Minute
	}
	if a.log == nil {
		a.log = zap.NewNop()
	}
	mux := web.NewRouteMux() // remembers its routes (Routes)
	a.routes = mux
	mux.HandleFunc("GET /healthz", a.health)
	mux.HandleFunc("GET /readyz", a.ready)
	mux.HandleFunc("GET /.well-known/jwks.json", a.getJWKS)

	mux.HandleFunc("POST /api/v1/signin", a.signIn)
	mux.HandleFunc("POST /api/v1/signin/refresh", a.refresh)
	mux.HandleFunc("POST "+api.PathLogin, a.login) // its own credentials (login.go)

	mux.HandleFunc("GET /api/v1/sessions", a.authedSelf(a.listSessions))
	mux.HandleFunc("DELETE /api/v1/sessions", a.authedSelf(a.endSessions))
	mux.HandleFunc("DELETE /api/v1/sessions/{id}", a.authedSelf(a.endSession))

	mux.HandleFunc("POST /api/v1/accounts", a.authed(a.createAccount))
	mux.HandleFunc("GET /api/v1/accounts", a.authed(a.listAccounts))
	mux.HandleFunc("GET /api/v1/accounts/{id}", a.authed(a.getAccount))
	mux.HandleFunc("PATCH /api/v1/accounts/{id}", a.authed(a.updateAccount))

	mux.HandleFunc("POST /api/v1/users", a.authed(a.createUser))
	mux.HandleFunc("GET /api/v1/users", a.authed(a.listUsers))
	mux.HandleFunc("GET /api/v1/users/{id}", a.authed(a.getUser))
	mux.HandleFunc("PATCH /api/v1/users/{id}", a.authed(a.updateUser))
	mux.HandleFunc("DELETE /api/v1/users/{id}", a.authed(a.deleteUser))

	mux.HandleFunc("POST /api/v1/roles", a.authed(a.createRole))
	mux.HandleFunc("GET /api/v1/roles", a.authed(a.listRoles))
	mux.HandleFunc("DELETE /api/v1/roles/{id}", a.authed(a.deleteRole))
	mux.HandleFunc("POST /api/v1/users/{id}/grants", a.authed(a.grant))
	mux.HandleFunc("DELETE /api/v1/users/{id}/grants", a.authed(a.ungrant))

	mux.HandleFunc("POST /api/v1/keys", a.authed(a.createKey))
	mux.HandleFunc("GET /api/v1/keys", a.authed(a.listKeys))
	mux.HandleFunc("GET /api/v1/keys/{id}", a.authed(a.getKey))
	mux.HandleFunc("PATCH /api/v1/keys/{id}", a.authed(a.updateKey))
	mux.HandleFunc("DELETE /api/v1/keys/{id}", a.authed(a.deleteKey))
	mux.HandleFunc("POST /api/v1/keys/{id}/values", a.authed(a.addKeyValue))
	mux.HandleFunc("POST /api/v1/keys/{id}/regenerate", a.authed(a.regenerateKeyValue))
	mux.HandleFunc("DELETE /api/v1/keys/{id}/values/{value_id}", a.authed(a.revokeKeyValue))
	mux.HandleFunc("POST /api/v1/edge-devices", a.authed(a.addEdgeDevice))
	mux.HandleFunc("DELETE /api/v1/edge-devices/{value_id}", a.authed(a.removeEdgeDevice))

	mux.HandleFunc("GET /api/v1/endpoints", a.authed(a.listEndpoints))
	mux.HandleFunc("GET /api/v1/endpoints/{id}", a.authed(a.getEndpoint))
	mux.HandleFunc("POST /api/v1/endpoints/{id}/approve", a.authed(a.decide(registry.ActionApprove)))
	mux.HandleFunc("POST /api/v1/endpoints/{id}/reject", a.authed(a.decide(registry.ActionReject)))
	mux.HandleFunc("POST /api/v1/endpoints/{id}/untrust", a.authed(a.decide(registry.ActionUntrust)))
	mux.HandleFunc("POST /api/v1/endpoints/{id}/clear-clone", a.authed(a.clearCloneMark))
	mux.HandleFunc("DELETE /api/v1/endpoints/{id}", a.authed(a.deleteEndpoint))
	mux.HandleFunc("POST "+bulkPath, a.authed(a.bulkEndpoints))
	mux.HandleFunc("GET /api/v1/key-changes", a.authed(a.listKeyChanges))
	mux.HandleFunc("POST /api/v1/endpoints/{id}/approve-key-change", a.authed(a.decideKeyChange(true)))
	mux.HandleFunc("POST /api/v1/endpoints/{id}/reject-key-change", a.authed(a.decideKeyChange(false)))

	mux.HandleFunc("POST /api/v1/webhooks", a.authed(a.createWebhook))
	mux.HandleFunc("GET /api/v1/webhooks", a.authed(a.listWebhooks))
	mux.HandleFunc("GET /api/v1/webhooks/{id}", a.authed(a.getWebhook))
	mux.HandleFunc("DELETE /api/v1/webhooks/{id}", a.authed(a.deleteWebhook))
	mux.HandleFunc("POST /api/v1/webhooks/{id}/rotate-secret", a.authed(a.rotateWebhookSecret))
	mux.HandleFunc("GET /api/v1/webhooks/{id}/deliveries", a.authed(a.listWebhookDeliveries))
	mux.HandleFunc("POST /api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", a.authed(a.redeliverWebhook))

	mux.HandleFunc("GET /api/v1/audit", a.authed(a.listAudit))
	mux.HandleFunc("POST "+api.PathRotateSigningKey, a.authed(a.rotateSigningKey))
	mux.HandleFunc("GET "+api.PathSigningKeys, a.authed(a.listSigningKeys))
	mux.HandleFunc("GET "+api.PathEvents, a.streamEvents) // its own authentication (events.go)

	a.mountOAuth(mux, cfg.OAuth) // /oauth/v1 and its metadata (oauth.go)

	// Anything else under /api answers a JSON 404 rather than the mux's text.
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, registry.E(registry.KindNotFound, "no such API route: "+r.Method+" "+r.URL.Path, nil))
	})
	a.h = a.harden(mux)
	return a, nil
}

// Handler returns the HTTP handler of the API.
func (a *API) Handler() http.Handler { return a.h }

// Routes returns the patterns of every route the API serves.
func (a *API) Routes() []string { return a.routes.Patterns() }

// harden sets the security headers, limits request bodies and turns a
// panic into a logged 500.
func (a *API) harden(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if strings.HasPrefix(r.URL.Path, "/api/") {
			h.Set("Cache-Control", "no-store")
		}
		if r.Body != nil {
			limit := int64(maxBody)
			if r.URL.Path == bulkPath {
				limit = maxBulkBody
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.log.Error("panic serving request", zap.String(logfield.Method, r.Method), zap.String(logfield.Path, r.URL.Path), zap.Any(logfield.Panic, v))
				a.writeError(w, r, errors.New("panic"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// principalHandler is a handler for a signed-in user.
type principalHandler func(w http.ResponseWriter, r *http.Request, p *registry.Principal)

// unauthenticatedMessage is the one body of every authentication failure
// of the API that is not an API key's refusal, whatever the credential and
// the reason: the reason goes only to the log.
const unauthenticatedMessage = "missing, invalid or expired credentials: send \"Authorization: Bearer <user access token>\" " +
	"(sign in at /api/v1/signin, or log in through a device at /api/v1/login), with or without \"X-API-Key: <value>\"; " +
	"or only an API key that allows unauthenticated requests"

// authed authenticates the caller of an admin route (SPEC S5, K1, K11): a
// user access token as "Authorization: Bearer", an API key as "X-API-Key"
// or "Authorization: ApiKey", or both a key (X-API-Key) and a token. A key
// needs full API access here; without a token it must also allow
// unauthenticated requests, and the caller acts as its run-as identity.
// Every refusal of a key answers the one 403 body of SPEC K8; every other
// failure the one 401 body. The query form rest_api_key is not accepted:
// every API client can set headers. Credentials are never logged.
func (a *API) authed(next principalHandler) http.HandlerFunc { return a.authedAs(true, next) }

// authedSelf is authed for a user's own routes (their sessions): a key
// needs no full API access there.
func (a *API) authedSelf(next principalHandler) http.HandlerFunc { return a.authedAs(false, next) }

func (a *API) authedAs(admin bool, next principalHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := a.authenticate(r, admin)
		if err != nil {
			switch registry.KindOf(err) {
			case registry.KindUnauthenticated:
				a.writeError(w, r, registry.E(registry.KindUnauthenticated, unauthenticatedMessage, err))
			default:
				a.writeError(w, r, err) // a key's refusal (one body), or the store failed
			}
			return
		}
		next(w, r, p)
	}
}

// authenticate returns the principal of the request's credentials.
func (a *API) authenticate(r *http.Request, admin bool) (*registry.Principal, error) {
	c, err := callCredentials(r.Header)
	if err != nil {
		return nil, err
	}
	c.Remote, c.Admin = remote(r), admin
	return a.reg.AuthenticateCall(r.Context(), c)
}

// callCredentials reads the API key and the user token of a request: at
// most one key (X-API-Key or Authorization: ApiKey) and at most one token
// (Authorization: Bearer).
func callCredentials(h http.Header) (registry.CallCredentials, error) {
	var c registry.CallCredentials
	unauth := func(msg string) (registry.CallCredentials, error) {
		return registry.CallCredentials{}, registry.E(registry.KindUnauthenticated, msg, nil)
	}
	authzs, keys := h.Values("Authorization"), h.Values("X-API-Key")
	if len(authzs) > 1 || len(keys) > 1 {
		return unauth("several Authorization or X-API-Key headers")
	}
	if len(keys) == 1 {
		if c.APIKey = strings.TrimSpace(keys[0]); c.APIKey == "" {
			return unauth("empty X-API-Key")
		}
	}
	if len(authzs) == 1 {
		scheme, cred, _ := strings.Cut(authzs[0], " ")
		cred = strings.TrimSpace(cred)
		switch {
		case cred == "":
			return unauth("empty Authorization credentials")
		case strings.EqualFold(scheme, "Bearer"):
			c.UserToken = cred
		case strings.EqualFold(scheme, "ApiKey") && c.APIKey == "":
			c.APIKey = cred
		case strings.EqualFold(scheme, "ApiKey"):
			return unauth("two API keys sent")
		default:
			return unauth("unsupported Authorization scheme")
		}
	}
	return c, nil
}

// remote returns the caller's address, or the zero Addr.
func remote(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// writeJSON writes v as the JSON body of an answer with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // answers are JSON, never HTML; nosniff is set
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"internal_error","error_description":"internal error"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// timePtr returns nil for the zero time, so it is null in JSON.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// timeParam parses an RFC 3339 query parameter; absent is the zero time.
func timeParam(q url.Values, name string) (time.Time, error) {
	s := q.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, invalid("%s %q is not an RFC 3339 time like 2030-01-01T00:00:00Z", name, s)
	}
	return t, nil
}
