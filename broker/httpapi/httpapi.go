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
// Admin routes take a user access token ("Authorization: Bearer") or an API
// key with full API access ("X-API-Key" or "Authorization: ApiKey", SPEC
// K1, K11). Every authentication failure answers the same 401 body. The
// permission checks are the registry's: a resource of an account the caller
// cannot see answers 404, never 403, so ids cannot be probed.
package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strings"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// Config configures an API. Registry is required; nil Logger means
// zap.NewNop(); nil JWKS makes /.well-known/jwks.json answer 404.
type Config struct {
	Registry *registry.Registry
	// JWKS is the JSON Web Key Set of the token signing keys, served as is.
	JWKS   []byte
	Logger *zap.Logger
	// OAuth configures the OAuth device registration API (oauth.go).
	OAuth OAuthConfig
}

// API serves the broker's HTTP API. It is safe for concurrent use.
type API struct {
	reg  *registry.Registry
	jwks []byte
	log  *zap.Logger
	h    http.Handler
}

// maxBody bounds a request body; maxBulkBody that of a bulk endpoint
// action, which may name up to 100,000 ids.
const (
	maxBody     = 64 << 10
	maxBulkBody = 4 << 20
)

// Log field names.
const (
	logMethod = "method"
	logPath   = "path"
	logStatus = "status"
	logKind   = "kind"
	logError  = "error"
	logRemote = "remote"
	logUser   = "user_id"
	logReason = "key_refusal_reason"
	logPanic  = "panic"
)

const bulkPath = "/api/v1/endpoints/bulk"

// New returns an API.
func New(cfg Config) (*API, error) {
	if cfg.Registry == nil {
		return nil, errors.New("httpapi.New: Config.Registry is nil")
	}
	a := &API{reg: cfg.Registry, jwks: cfg.JWKS, log: cfg.Logger}
	if a.log == nil {
		a.log = zap.NewNop()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.health)
	mux.HandleFunc("GET /readyz", a.health)
	mux.HandleFunc("GET /.well-known/jwks.json", a.getJWKS)

	mux.HandleFunc("POST /api/v1/signin", a.signIn)
	mux.HandleFunc("POST /api/v1/signin/refresh", a.refresh)

	mux.HandleFunc("POST /api/v1/keys", a.authed(a.createKey))
	mux.HandleFunc("GET /api/v1/keys", a.authed(a.listKeys))
	mux.HandleFunc("GET /api/v1/endpoints", a.authed(a.listEndpoints))
	mux.HandleFunc("GET /api/v1/endpoints/{id}", a.authed(a.getEndpoint))
	mux.HandleFunc("POST /api/v1/endpoints/{id}/approve", a.authed(a.decide(registry.ActionApprove)))
	mux.HandleFunc("POST /api/v1/endpoints/{id}/reject", a.authed(a.decide(registry.ActionReject)))
	mux.HandleFunc("POST /api/v1/endpoints/{id}/untrust", a.authed(a.decide(registry.ActionUntrust)))
	mux.HandleFunc("DELETE /api/v1/endpoints/{id}", a.authed(a.deleteEndpoint))
	mux.HandleFunc("POST "+bulkPath, a.authed(a.bulkEndpoints))

	mux.HandleFunc("GET /api/v1/keys/{id}", a.authed(a.getKey))
	mux.HandleFunc("PATCH /api/v1/keys/{id}", a.authed(a.updateKey))
	mux.HandleFunc("DELETE /api/v1/keys/{id}", a.authed(a.deleteKey))
	mux.HandleFunc("POST /api/v1/keys/{id}/values", a.authed(a.addKeyValue))
	mux.HandleFunc("POST /api/v1/keys/{id}/regenerate", a.authed(a.regenerateKeyValue))
	mux.HandleFunc("DELETE /api/v1/keys/{id}/values/{value_id}", a.authed(a.revokeKeyValue))
	mux.HandleFunc("POST /api/v1/edge-devices", a.authed(a.addEdgeDevice))
	mux.HandleFunc("DELETE /api/v1/edge-devices/{value_id}", a.authed(a.removeEdgeDevice))

	mux.HandleFunc("POST /api/v1/accounts", a.authed(a.createAccount))
	mux.HandleFunc("GET /api/v1/accounts", a.authed(a.listAccounts))
	mux.HandleFunc("GET /api/v1/accounts/{id}", a.authed(a.getAccount))
	mux.HandleFunc("PATCH /api/v1/accounts/{id}", a.authed(a.updateAccount))

	mux.HandleFunc("POST /api/v1/users", a.authed(a.createUser))
	mux.HandleFunc("GET /api/v1/users", a.authed(a.listUsers))
	mux.HandleFunc("GET /api/v1/users/{id}", a.authed(a.getUser))
	mux.HandleFunc("PATCH /api/v1/users/{id}", a.authed(a.updateUser))
	mux.HandleFunc("DELETE /api/v1/users/{id}", a.authed(a.deleteUser))
	mux.HandleFunc("POST /api/v1/users/{id}/grants", a.authed(a.grant))
	mux.HandleFunc("DELETE /api/v1/users/{id}/grants", a.authed(a.ungrant))

	mux.HandleFunc("POST /api/v1/roles", a.authed(a.createRole))
	mux.HandleFunc("GET /api/v1/roles", a.authed(a.listRoles))
	mux.HandleFunc("DELETE /api/v1/roles/{id}", a.authed(a.deleteRole))

	mux.HandleFunc("GET /api/v1/audit", a.authed(a.listAudit))

	a.mountOAuth(mux, cfg.OAuth) // /oauth/v1, its metadata, and key changes (oauth.go)

	// Anything else under /api answers a JSON 404 rather than the mux's text.
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, registry.E(registry.KindNotFound, "no such API route: "+r.Method+" "+r.URL.Path, nil))
	})
	a.h = a.harden(mux)
	return a, nil
}

// Handler returns the HTTP handler of the API.
func (a *API) Handler() http.Handler { return a.h }

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
				a.log.Error("panic serving request", zap.String(logMethod, r.Method), zap.String(logPath, r.URL.Path), zap.Any(logPanic, v))
				a.writeError(w, r, errors.New("panic"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// principalHandler is a handler for a signed-in user.
type principalHandler func(w http.ResponseWriter, r *http.Request, p *registry.Principal)

// unauthenticatedMessage is the one body of every authentication failure
// of the admin API, whatever the credential and the reason: the reason goes
// only to the log (and, for API keys, the audit).
const unauthenticatedMessage = "missing, invalid or expired credentials: send \"Authorization: Bearer <access token>\" " +
	"(sign in at /api/v1/signin) or an API key with full API access as \"X-API-Key: <value>\""

// authed authenticates the caller: a user access token as "Authorization:
// Bearer", or an API key with full API access (SPEC K1, K11) as "X-API-Key"
// or "Authorization: ApiKey". The query form rest_api_key is not accepted
// here: every admin client can set headers. Credentials are never logged.
func (a *API) authed(next principalHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := a.authenticate(r)
		if err != nil {
			if k := registry.KindOf(err); k != registry.KindUnauthenticated && k != registry.KindInvalidClient {
				a.writeError(w, r, err) // e.g. the store failed: not the caller's fault
				return
			}
			a.writeError(w, r, registry.E(registry.KindUnauthenticated, unauthenticatedMessage, err))
			return
		}
		next(w, r, p)
	}
}

// authenticate returns the principal of the request's credentials. Exactly
// one credential must be sent.
func (a *API) authenticate(r *http.Request) (*registry.Principal, error) {
	authz := r.Header.Get("Authorization")
	scheme, cred, hasAuth := strings.Cut(authz, " ")
	cred = strings.TrimSpace(cred)
	keys := r.Header.Values("X-API-Key")
	switch {
	case authz != "" && len(keys) > 0, len(keys) > 1:
		return nil, registry.E(registry.KindUnauthenticated, "several credentials sent", nil)
	case len(keys) == 1:
		key := strings.TrimSpace(keys[0])
		if key == "" {
			return nil, registry.E(registry.KindUnauthenticated, "empty X-API-Key", nil)
		}
		return a.reg.AuthenticateKey(r.Context(), key, remote(r))
	case hasAuth && cred != "" && strings.EqualFold(scheme, "Bearer"):
		return a.reg.Authenticate(r.Context(), cred)
	case hasAuth && cred != "" && strings.EqualFold(scheme, "ApiKey"):
		return a.reg.AuthenticateKey(r.Context(), cred, remote(r))
	case authz != "":
		return nil, registry.E(registry.KindUnauthenticated, "unsupported Authorization scheme", nil)
	default:
		return nil, registry.E(registry.KindUnauthenticated, "no credentials", nil)
	}
}

// remote returns the caller's address, or the zero Addr.
func remote(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func (a *API) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, api.HealthResponse{Status: "ok"})
}

func (a *API) getJWKS(w http.ResponseWriter, r *http.Request) {
	if len(a.jwks) == 0 {
		a.writeError(w, r, registry.E(registry.KindNotFound, "no signing keys are published", nil))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=300")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(a.jwks)
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
