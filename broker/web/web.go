// Package web is the broker's HTTPS front: a parent mux that owns what
// every route shares — security headers, bounds on request bodies, request
// logging and panic recovery — and on which the API (on its prefixes), the
// web console (at "/") and, later, /metrics are mounted. It knows nothing of
// the routes themselves; each mounted handler bounds its own bodies more
// tightly where it wants to.
package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/internal/logfield"
)

// DefaultMaxBody bounds every request body unless Config.MaxBody says
// otherwise: the largest body any mounted handler accepts (a bulk endpoint
// action naming 100,000 ids).
const DefaultMaxBody = 4 << 20

// Config configures a Mux. The zero value means defaults.
type Config struct {
	Logger  *zap.Logger // nil = no logging
	MaxBody int64       // 0 = DefaultMaxBody
	// TrustedProxies are the proxies whose forwarding headers name the
	// client (clientaddr.go); nil = none: the TCP peer is the client.
	TrustedProxies []netip.Prefix
}

// Mux is the parent mux. Mount handlers with Handle before serving.
type Mux struct {
	mux     *http.ServeMux
	log     *zap.Logger
	maxBody int64
	trusted []netip.Prefix
}

// New returns an empty Mux.
func New(cfg Config) *Mux {
	m := &Mux{mux: http.NewServeMux(), log: cfg.Logger, maxBody: cfg.MaxBody, trusted: cfg.TrustedProxies}
	if m.log == nil {
		m.log = zap.NewNop()
	}
	if m.maxBody <= 0 {
		m.maxBody = DefaultMaxBody
	}
	return m
}

// Handle mounts h at pattern (http.ServeMux patterns).
func (m *Mux) Handle(pattern string, h http.Handler) { m.mux.Handle(pattern, h) }

// ServeHTTP serves a request through the shared middleware.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	r = m.withClientAddr(r)
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Strict-Transport-Security", "max-age=31536000")
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, m.maxBody)
	}
	rec := &recorder{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			m.log.Error("panic serving request", zap.String(logfield.Method, r.Method), zap.String(logfield.Path, r.URL.Path), zap.Any(logfield.Panic, v))
			if !rec.wrote {
				http.Error(rec, "internal error", http.StatusInternalServerError)
			}
		}
		// The path only: a query may carry a credential (SPEC K11).
		if ce := m.log.Check(zap.DebugLevel, "request"); ce != nil {
			ce.Write(zap.String(logfield.Method, r.Method), zap.String(logfield.Path, r.URL.Path),
				zap.Int(logfield.Status, rec.statusCode()), zap.Duration(logfield.Duration, time.Since(start)),
				zap.String(logfield.Remote, r.RemoteAddr), zap.Stringer(logfield.Peer, Peer(r.Context())))
		}
	}()
	m.mux.ServeHTTP(rec, r)
}

// recorder remembers the status a handler wrote. Unwrap lets
// http.ResponseController reach the connection (flushes and deadlines of
// an event stream).
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) statusCode() int {
	if !r.wrote {
		return http.StatusOK
	}
	return r.status
}

// ServerConfig bounds an HTTPS server. Zero fields mean defaults.
type ServerConfig struct {
	TLS     *tls.Config // required: the broker's certificate
	Handler http.Handler
	Logger  *zap.Logger
	// Grace is how long in-flight requests may finish after ctx ends before
	// their connections are closed (0 = 1 s).
	Grace time.Duration
}

// Serve serves HTTPS on ln until ctx ends, then shuts down: in-flight
// requests get cfg.Grace, and what is left is closed. It returns nil after
// a shutdown asked for by ctx, or the error that stopped it.
func Serve(ctx context.Context, ln net.Listener, cfg ServerConfig) error {
	if cfg.TLS == nil || cfg.Handler == nil {
		return errors.New("web.Serve: ServerConfig.TLS and Handler are required")
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	grace := cfg.Grace
	if grace <= 0 {
		grace = time.Second
	}
	srv := &http.Server{
		Handler:           cfg.Handler,
		TLSConfig:         cfg.TLS,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          zap.NewStdLog(log),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("https: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close() // requests that outlived the grace (event streams)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("https: %w", err)
	}
	return nil
}
