// Package localapi is the agent's local HTTP API on a Unix socket (a named
// pipe on Windows): secure session logins (SPEC S3) and status.
//
// Who the caller is comes from the operating system, never from the
// request: the socket file is world-writable (0666) on purpose, and a
// request body naming a user is ignored. The kernel tells the caller's uid
// through the socket's peer credentials on Linux (SO_PEERCRED) and macOS
// (LOCAL_PEERCRED). On Windows the agent impersonates the pipe's client for
// a moment and reads the user SID from the impersonation token; a client
// that connects anonymously is refused. Elsewhere every login answers
// peer_credentials_unavailable. Clients connect with Dial.
//
// Endpoints:
//
//	POST /v1/login   {"type": "session_user|session_user_domain|upn"}
//	                 -> 200 {"access_token","token_type","expires_in","username",...}
//	GET  /v1/status  -> 200 the agent's status (never tokens)
//
// Errors are {"error": CODE, "error_description": ONE LINE} with a status
// chosen by ErrorFor.
package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/user"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/agent/state"
	"github.com/edgetrust/edgetrust/internal/logfield"
	"github.com/edgetrust/edgetrust/protocol"
)

// ValidLoginType reports whether t is a login type of the local API: the
// session types of SPEC S3 (protocol.SessionLoginType), whose user the
// kernel tells.
func ValidLoginType(t string) bool { return protocol.SessionLoginType(t) }

// Error codes of the local API (the "error" member of an error answer).
const (
	CodeInvalidRequest         = "invalid_request"
	CodePeerUnavailable        = "peer_credentials_unavailable"
	CodeUnknownUser            = "unknown_user"
	CodeAccessDenied           = "access_denied"
	CodeLoginRefused           = "login_refused"
	CodeNotTrusted             = "not_trusted"
	CodeEndpointDeleted        = "endpoint_deleted"
	CodeInvalidClient          = "invalid_client"
	CodeBrokerUnreachable      = "broker_unreachable"
	CodeTemporarilyUnavailable = "temporarily_unavailable"
	CodeRateLimited            = "rate_limited"
	CodeBrokerError            = "broker_error"
	CodeServerError            = "server_error"
)

// OSUser is the user on the calling end of the socket, as the kernel and the
// OS user database tell.
type OSUser struct {
	UID      string
	Username string // without domain
	Domain   string // DNS domain of the host (or of the account name), or ""
	UPN      string // Username@Domain, or Username@short-hostname without a domain
}

// LoginFunc obtains a user token for u. Errors should be *Error or
// *protocol.Error; anything else answers broker_unreachable.
type LoginFunc func(ctx context.Context, u OSUser, typ string) (*protocol.Tokens, error)

// Error is an error with a local API code. Status 0 means ErrorFor's choice
// for Code.
type Error struct {
	Code        string
	Description string
	Status      int
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

// Config configures New.
type Config struct {
	// Socket is the socket path (on Windows a pipe name such as
	// \\.\pipe\edgetrust-agent); "" means DefaultSocket.
	Socket string
	// Login performs a login. Required.
	Login LoginFunc
	// Status returns the agent's status. Required.
	Status func() state.Status
	// Logger; nil means no logging.
	Logger *zap.Logger
	// LookupUser resolves a uid; nil means os/user.LookupId.
	LookupUser func(uid string) (*user.User, error)
	// Hostname returns the host name; nil means os.Hostname.
	Hostname func() (string, error)
}

// Server serves the local API on a Unix socket or named pipe.
type Server struct {
	cfg  Config
	log  *zap.Logger
	path string
	ln   net.Listener
	srv  *http.Server
}

// New checks cfg and binds the socket: it creates the parent directory
// (0755), refuses a directory that anyone but root or the agent's own user
// could write (or a symbolic link, or one under such a directory), replaces
// a stale socket file (but refuses to replace anything that is not a
// socket, or a socket another process still serves) and creates the socket
// 0666 whatever the umask. On Windows it creates the named pipe, failing when another
// process already serves that name. Call Run to serve, or Close to release
// the socket.
func New(cfg Config) (*Server, error) {
	if cfg.Login == nil {
		return nil, errors.New("localapi.New: Config.Login is nil")
	}
	if cfg.Status == nil {
		return nil, errors.New("localapi.New: Config.Status is nil")
	}
	if cfg.Socket == "" {
		cfg.Socket = DefaultSocket
	}
	if cfg.LookupUser == nil {
		cfg.LookupUser = user.LookupId
	}
	if cfg.Hostname == nil {
		cfg.Hostname = os.Hostname
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{cfg: cfg, log: log.With(zap.String(logfield.Socket, cfg.Socket)), path: cfg.Socket}
	ln, err := listen(cfg.Socket)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/login", s.handleLogin)
	mux.HandleFunc("/v1/status", s.handleStatus)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &Error{Code: CodeInvalidRequest, Description: "unknown path " + r.URL.Path, Status: http.StatusNotFound})
	})
	s.srv = &http.Server{
		Handler:           mux,
		ConnContext:       connContext,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          zap.NewStdLog(log),
	}
	return s, nil
}

// Path returns the socket path.
func (s *Server) Path() string { return s.path }

// Run serves until ctx ends, then shuts down (waiting up to 5 s for requests
// in flight) and removes the socket. It returns nil after ctx ends.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	s.log.Info("local API listening")
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(sctx); err != nil {
			s.srv.Close()
		}
		<-errc
		s.removeSocket()
		return nil
	case err := <-errc:
		s.removeSocket()
		return fmt.Errorf("local API: %w", err)
	}
}

// Close releases the socket of a Server that is not running.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.ln.Close()
	s.removeSocket()
	return err
}

func (s *Server) removeSocket() {
	if err := removeSocket(s.path); err != nil {
		s.log.Warn("removing socket", zap.Error(err))
	}
}

type peerKey struct{}

// peer identifies the caller of one connection, once, when a login first
// needs it: a named pipe's client can be impersonated only after data was
// read from it, that is once a request has arrived.
type peer struct {
	conn net.Conn
	once sync.Once
	uid  string
	err  error
}

func (p *peer) identify() (string, error) {
	p.once.Do(func() { p.uid, p.err = peerOf(p.conn) })
	return p.uid, p.err
}

func connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, peerKey{}, &peer{conn: c})
}

type loginRequest struct {
	Type string `json:"type"`
}

type loginResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token,omitempty"`
	RefreshExpiresIn int64  `json:"refresh_expires_in,omitempty"`
	Username         string `json:"username"`
	Domain           string `json:"domain,omitempty"`
	UPN              string `json:"upn,omitempty"`
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, &Error{Code: CodeInvalidRequest, Description: "use POST", Status: http.StatusMethodNotAllowed})
		return
	}
	p, _ := r.Context().Value(peerKey{}).(*peer)
	var uid string
	err := errors.New("no connection")
	if p != nil {
		uid, err = p.identify()
	}
	if err != nil || uid == "" {
		s.log.Warn("peer credentials unavailable", zap.Error(err))
		writeError(w, &Error{Code: CodePeerUnavailable, Description: oneLine(fmt.Sprintf("the agent cannot identify the calling user: %v", err)), Status: http.StatusForbidden})
		return
	}
	// The body may only choose the login type; anything naming a user is
	// ignored (SPEC S3).
	var req loginRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, &Error{Code: CodeInvalidRequest, Description: "the body must be a JSON object like {\"type\": \"session_user\"}"})
		return
	}
	if req.Type == "" {
		req.Type = protocol.LoginSessionUser
	}
	if !ValidLoginType(req.Type) {
		writeError(w, &Error{Code: CodeInvalidRequest, Description: fmt.Sprintf("unknown login type %q; use session_user, session_user_domain or upn", req.Type)})
		return
	}
	u, err := s.cfg.LookupUser(uid)
	if err != nil {
		s.log.Warn("looking up peer uid", zap.String(logfield.UID, uid), zap.Error(err))
		writeError(w, &Error{Code: CodeUnknownUser, Description: "no local user has uid " + uid})
		return
	}
	host, _ := s.cfg.Hostname()
	osu := ResolveUser(uid, u.Username, host)
	log := s.log.With(zap.String(logfield.UID, uid), zap.String(logfield.User, osu.Username), zap.String(logfield.Type, req.Type))
	tok, err := s.cfg.Login(r.Context(), osu, req.Type)
	if err != nil {
		e := ErrorFor(err)
		log.Info("login refused", zap.String(logfield.Code, e.Code), zap.Error(err))
		writeError(w, e)
		return
	}
	log.Info("login")
	tt := tok.TokenType
	if tt == "" {
		tt = "Bearer"
	}
	writeJSON(w, http.StatusOK, loginResponse{
		AccessToken: tok.AccessToken, TokenType: tt, ExpiresIn: tok.ExpiresIn,
		RefreshToken: tok.RefreshToken, RefreshExpiresIn: tok.RefreshExpiresIn,
		Username: osu.Username, Domain: osu.Domain, UPN: osu.UPN,
	})
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, &Error{Code: CodeInvalidRequest, Description: "use GET", Status: http.StatusMethodNotAllowed})
		return
	}
	writeJSON(w, http.StatusOK, s.cfg.Status())
}

// ResolveUser builds the OSUser of account name (as the user database
// gives it) on host hostname. "DOMAIN\user" and "user@domain" names carry
// their own domain; otherwise the domain is the DNS domain of hostname (the
// part after its first dot), or "" for a bare host name.
func ResolveUser(uid, name, hostname string) OSUser {
	u := OSUser{UID: uid, Username: name}
	if i := strings.IndexByte(name, '\\'); i >= 0 {
		u.Domain, u.Username = name[:i], name[i+1:]
	} else if i := strings.LastIndexByte(name, '@'); i > 0 {
		u.Username, u.Domain = name[:i], name[i+1:]
	} else if i := strings.IndexByte(hostname, '.'); i > 0 {
		u.Domain = strings.TrimSuffix(hostname[i+1:], ".")
	} else {
		// A machine outside any domain: its local accounts belong to the
		// machine itself, as Windows names them HOST\user.
		u.Domain = hostname
	}
	switch short, _, _ := strings.Cut(hostname, "."); {
	case u.Domain != "":
		u.UPN = u.Username + "@" + u.Domain
	case short != "":
		u.UPN = u.Username + "@" + short
	default:
		u.UPN = u.Username
	}
	return u
}

// ErrorFor maps an error of a LoginFunc to the local API error and status:
// *Error as is; *protocol.Error by its code; anything else (timeouts,
// network errors) as broker_unreachable. Descriptions are one line.
func ErrorFor(err error) *Error {
	var le *Error
	if errors.As(err, &le) {
		e := *le
		if e.Status == 0 {
			e.Status = statusFor(e.Code)
		}
		e.Description = oneLine(e.Description)
		return &e
	}
	var pe *protocol.Error
	if errors.As(err, &pe) {
		code, desc := CodeBrokerError, "the broker failed ("+pe.Code.String()+"); try again later"
		switch pe.Code {
		case protocol.CodeAccessDenied:
			code, desc = CodeAccessDenied, "the broker does not trust this device now"
		case protocol.CodeLoginRefused:
			code, desc = CodeLoginRefused, "this device may not log this user in"
		case protocol.CodeUnknownUser:
			code, desc = CodeUnknownUser, "the broker does not know this user"
		case protocol.CodeInvalidClient:
			code, desc = CodeInvalidClient, "the broker refused the agent's API key; reinstall the agent with a valid key"
		case protocol.CodeInvalidGrant:
			code, desc = CodeTemporarilyUnavailable, "the device token was refused; the agent is renewing it, try again in a few seconds"
		case protocol.CodeRateLimited:
			code, desc = CodeRateLimited, "too many logins; try again later"
		}
		if pe.Message != "" {
			desc += ": " + pe.Message
		}
		return &Error{Code: code, Description: oneLine(desc), Status: statusFor(code)}
	}
	return &Error{Code: CodeBrokerUnreachable, Description: "the broker cannot be reached now; try again later", Status: statusFor(CodeBrokerUnreachable)}
}

func statusFor(code string) int {
	switch code {
	case CodeInvalidRequest:
		return http.StatusBadRequest
	case CodeAccessDenied, CodeLoginRefused, CodeNotTrusted, CodeEndpointDeleted, CodeInvalidClient, CodePeerUnavailable:
		return http.StatusForbidden
	case CodeUnknownUser:
		return http.StatusNotFound
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeBrokerUnreachable, CodeTemporarilyUnavailable:
		return http.StatusServiceUnavailable
	case CodeBrokerError:
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func writeError(w http.ResponseWriter, e *Error) {
	st := e.Status
	if st == 0 {
		st = statusFor(e.Code)
	}
	writeJSON(w, st, errorBody{Error: e.Code, Description: oneLine(e.Description)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
