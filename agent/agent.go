// Package agent is the composition root of the edgetrust agent: it keeps the
// device's identity, stays connected to the broker (register, receive pushed
// decisions, refresh the device token), records its state on disk and serves
// secure session logins on the local socket.
//
// Run retries forever with capped exponential backoff and full jitter: a
// refused API key, an unreachable broker or a lost connection is recorded in
// state.json (last_error) and retried. Only a deleted endpoint stops
// registering, until the process is restarted (SPEC E4a).
package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/agent/brokerclient"
	"github.com/edgetrust/edgetrust/agent/localapi"
	"github.com/edgetrust/edgetrust/agent/state"
	"github.com/edgetrust/edgetrust/protocol"
)

// Client types an endpoint may register as (SPEC E1).
var ClientTypes = []string{
	"desktop_client", "server", "printer", "embedded_terminal",
	"edge_bridge", "chrome_extension", "mobile_device",
}

// DefaultType is the client type when Config.Type is empty.
const DefaultType = "desktop_client"

// ValidClientType reports whether t is one of ClientTypes.
func ValidClientType(t string) bool {
	for _, c := range ClientTypes {
		if c == t {
			return true
		}
	}
	return false
}

// Defaults of zero Config fields.
const (
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 60 * time.Second
)

// Log field names.
const (
	fieldBroker     = "broker"
	fieldClientID   = "client_id"
	fieldEndpointID = "endpoint_id"
	fieldState      = "state"
	fieldRetryIn    = "retry_in"
	fieldAPIKey     = "api_key"
	fieldStateDir   = "state_dir"
	fieldExpiresIn  = "expires_in"
)

// Config configures New. Zero optional fields mean their defaults.
type Config struct {
	Broker            string // HOST:PORT; required
	StateDir          string // required
	APIKey            string // required; never logged or stored
	AccountID         string // target account when the key belongs to an ancestor
	Type              string // client type; "" = DefaultType
	Description       string
	BrokerCA          string // PEM file; exclusive with BrokerFingerprint
	BrokerFingerprint string // sha256:HEX of the broker key
	Socket            string // local API socket; "" = localapi.DefaultSocket
	Logger            *zap.Logger
	MinBackoff        time.Duration // 0 = 500ms
	MaxBackoff        time.Duration // 0 = 60s
	Version           string        // software version reported to the broker; "" = "dev"
}

// Agent is a configured agent; call Run.
type Agent struct {
	cfg Config
	log *zap.Logger
	tls *tls.Config

	mu      sync.Mutex
	st      state.State
	conn    *brokerclient.Conn // set while registered on a live connection
	deleted bool               // deleted during this process: never register again
	cache   map[cacheKey]cachedToken

	reconnect chan struct{} // asks the current session to re-register
	now       func() time.Time
}

// New checks cfg and returns an Agent. It fails on a missing required field,
// an unknown client type, a bad broker address, both BrokerCA and
// BrokerFingerprint set, a malformed fingerprint or an unreadable CA file.
func New(cfg Config) (*Agent, error) {
	switch {
	case cfg.Broker == "":
		return nil, errors.New("agent.New: Config.Broker is empty")
	case cfg.StateDir == "":
		return nil, errors.New("agent.New: Config.StateDir is empty")
	case cfg.APIKey == "":
		return nil, errors.New("agent.New: Config.APIKey is empty")
	}
	if cfg.Type == "" {
		cfg.Type = DefaultType
	}
	if !ValidClientType(cfg.Type) {
		return nil, fmt.Errorf("agent.New: unknown client type %q (valid: %s)", cfg.Type, strings.Join(ClientTypes, ", "))
	}
	host, _, err := net.SplitHostPort(cfg.Broker)
	if err != nil || host == "" {
		return nil, fmt.Errorf("agent.New: broker address %q is not HOST:PORT", cfg.Broker)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.Socket == "" {
		cfg.Socket = localapi.DefaultSocket
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	tc, err := brokerclient.TLSConfig(host, cfg.BrokerCA, cfg.BrokerFingerprint)
	if err != nil {
		return nil, fmt.Errorf("agent.New: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Agent{
		cfg:       cfg,
		log:       log.With(zap.String(fieldBroker, cfg.Broker)),
		tls:       tc,
		cache:     make(map[cacheKey]cachedToken),
		reconnect: make(chan struct{}, 1),
		now:       time.Now,
	}, nil
}

// Run runs the agent until ctx ends; then it returns nil. It returns an
// error at once when the identity or state file is corrupt (wrapping
// state.ErrCorrupt) or the local socket cannot be served.
func (a *Agent) Run(ctx context.Context) error {
	id, err := state.LoadOrCreateIdentity(a.cfg.StateDir)
	if errors.Is(err, state.ErrCorrupt) {
		return fmt.Errorf("%w; the device identity cannot be rebuilt automatically: restore the file, or move it away to register as a new endpoint", err)
	}
	if err != nil {
		return fmt.Errorf("loading device identity: %w", err)
	}
	st, err := state.Load(a.cfg.StateDir)
	if errors.Is(err, state.ErrCorrupt) {
		return fmt.Errorf("%w; restore it, or move it away and the agent will register again", err)
	}
	if err != nil {
		return fmt.Errorf("loading agent state: %w", err)
	}
	a.mu.Lock()
	a.st = st
	a.st.Broker = a.cfg.Broker
	if a.cfg.AccountID != "" {
		a.st.AccountID = a.cfg.AccountID
	}
	a.saveLocked() // status shows the broker from the start
	a.mu.Unlock()
	a.log = a.log.With(zap.String(fieldClientID, id.ClientID))
	a.log.Info("agent starting",
		zap.String(fieldStateDir, a.cfg.StateDir),
		zap.String(fieldAPIKey, MaskAPIKey(a.cfg.APIKey)),
		zap.String(fieldState, st.State))

	api, err := localapi.New(localapi.Config{
		Socket: a.cfg.Socket,
		Login:  a.login,
		Status: a.status,
		Logger: a.log.Named("localapi"),
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	apiErr := make(chan error, 1)
	go func() {
		err := api.Run(ctx)
		if err != nil {
			cancel()
		}
		apiErr <- err
	}()

	bo := &backoff{min: a.cfg.MinBackoff, max: a.cfg.MaxBackoff}
	stable := min(10*time.Second, a.cfg.MaxBackoff)
	for ctx.Err() == nil {
		if a.isDeleted() {
			<-ctx.Done()
			break
		}
		registeredAt, err := a.session(ctx, id)
		if ctx.Err() != nil {
			break
		}
		if errors.Is(err, errDeleted) {
			a.log.Warn("endpoint deleted on the broker; not registering again until restarted")
			continue
		}
		// Reset after a registration that held; a broker that accepts and
		// drops at once must not be hammered at the minimum delay.
		if !registeredAt.IsZero() && a.now().Sub(registeredAt) >= stable {
			bo.reset()
		}
		a.recordError(err)
		d := bo.next()
		a.log.Warn("broker session failed; retrying", zap.String("reason", a.describe(err)), zap.Duration(fieldRetryIn, d))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	cancel()
	if err := <-apiErr; err != nil {
		return err
	}
	a.log.Info("agent stopped")
	return nil
}

var (
	errDeleted = errors.New("the endpoint was deleted on the broker")
	errRenew   = errors.New("device token needs renewal; re-registering")
)

// session connects, registers and follows the broker until the connection
// ends. It returns when registration succeeded (zero if not) and why the
// session ended.
func (a *Agent) session(ctx context.Context, id state.Identity) (registeredAt time.Time, err error) {
	conn, err := brokerclient.Dial(ctx, brokerclient.Config{
		Addr:     a.cfg.Broker,
		TLS:      a.tls,
		Key:      id.Key,
		ClientID: id.ClientID,
		Logger:   a.log.Named("brokerclient"),
		Software: "edgetrust-agent/" + a.cfg.Version,
	})
	if err != nil {
		return time.Time{}, err
	}
	defer conn.Close()
	host, _ := os.Hostname()
	reg, err := conn.Register(ctx, protocol.Register{
		APIKey:      a.cfg.APIKey,
		AccountID:   a.cfg.AccountID,
		ClientType:  a.cfg.Type,
		Description: a.cfg.Description,
		Hostname:    host,
		OS:          osString(),
		Version:     a.cfg.Version,
	})
	if err != nil {
		return time.Time{}, err
	}
	registeredAt = a.now()
	// A stale request from a previous session must not end this one.
	select {
	case <-a.reconnect:
	default:
	}
	a.apply(reg.EndpointID, reg.State, reg.AccountID, reg.Tokens, conn)
	a.log.Info("registered", zap.String(fieldEndpointID, reg.EndpointID), zap.String(fieldState, reg.State))
	defer a.detach(conn)
	if reg.State == protocol.StateDeleted {
		return registeredAt, errDeleted
	}

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var refreshC <-chan time.Time
	schedule := func(t *protocol.Tokens) {
		timer.Stop()
		refreshC = nil
		if t != nil && t.ExpiresIn > 0 {
			timer.Reset(seconds(t.ExpiresIn) / 2)
			refreshC = timer.C
		}
	}
	schedule(reg.Tokens)

	for {
		select {
		case <-ctx.Done():
			return registeredAt, ctx.Err()
		case <-a.reconnect:
			return registeredAt, errRenew
		case d, ok := <-conn.Decisions():
			if !ok {
				return registeredAt, fmt.Errorf("connection to broker lost: %w", conn.Err())
			}
			a.log.Info("decision", zap.String(fieldState, d.State))
			a.apply(d.EndpointID, d.State, "", d.Tokens, conn)
			if d.State == protocol.StateDeleted {
				return registeredAt, errDeleted
			}
			if d.Tokens != nil || d.State != protocol.StateTrusted {
				schedule(d.Tokens)
			}
		case <-refreshC:
			refreshC = nil
			rt := a.refreshToken()
			if rt == "" {
				return registeredAt, errRenew
			}
			tok, err := conn.Refresh(ctx, rt)
			if err != nil {
				var pe *protocol.Error
				if errors.As(err, &pe) && pe.Code == protocol.CodeInvalidGrant {
					return registeredAt, fmt.Errorf("refreshing the device token: %w; re-registering", err)
				}
				return registeredAt, fmt.Errorf("refreshing the device token: %w", err)
			}
			a.log.Debug("device token refreshed", zap.Int64(fieldExpiresIn, tok.ExpiresIn))
			a.setTokens(tok)
			schedule(tok)
		}
	}
}

// apply records a registration or decision and saves it at once (status
// must reflect a decision within a second).
func (a *Agent) apply(endpointID, st, accountID string, tok *protocol.Tokens, conn *brokerclient.Conn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if endpointID != "" {
		a.st.EndpointID = endpointID
	}
	if accountID != "" {
		a.st.AccountID = accountID
	}
	if !state.ValidState(st) {
		a.log.Warn("broker sent an unknown state; ignoring it", zap.String(fieldState, st))
	} else {
		a.st.State = st
	}
	a.st.LastError = ""
	if a.st.State == state.Trusted {
		if tok != nil {
			a.setTokensLocked(tok)
		}
	} else {
		a.clearTokensLocked()
	}
	if a.st.State == state.Deleted {
		a.deleted = true
		a.conn = nil
	} else {
		a.conn = conn
	}
	a.saveLocked()
}

// detach forgets conn when its session ends.
func (a *Agent) detach(conn *brokerclient.Conn) {
	a.mu.Lock()
	if a.conn == conn {
		a.conn = nil
	}
	a.mu.Unlock()
}

// seconds converts a lifetime the broker sent, clamped so that a huge value
// cannot overflow into a negative (at once) duration.
func seconds(n int64) time.Duration {
	return time.Duration(min(n, int64(math.MaxInt64/time.Second))) * time.Second
}

func (a *Agent) setTokens(tok *protocol.Tokens) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.setTokensLocked(tok)
	a.saveLocked()
}

func (a *Agent) setTokensLocked(tok *protocol.Tokens) {
	now := a.now()
	a.st.AccessToken = tok.AccessToken
	a.st.AccessExpiresAt = time.Time{}
	if tok.ExpiresIn > 0 {
		a.st.AccessExpiresAt = now.Add(seconds(tok.ExpiresIn)).UTC().Truncate(time.Second)
	}
	if tok.RefreshToken != "" {
		a.st.RefreshToken = tok.RefreshToken
		a.st.RefreshExpiresAt = time.Time{}
		if tok.RefreshExpiresIn > 0 {
			a.st.RefreshExpiresAt = now.Add(seconds(tok.RefreshExpiresIn)).UTC().Truncate(time.Second)
		}
	}
}

func (a *Agent) clearTokensLocked() {
	a.st.AccessToken, a.st.RefreshToken = "", ""
	a.st.AccessExpiresAt, a.st.RefreshExpiresAt = time.Time{}, time.Time{}
	clear(a.cache) // user tokens must not outlive the device's trust
}

func (a *Agent) refreshToken() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.st.RefreshExpiresAt.IsZero() && !a.now().Before(a.st.RefreshExpiresAt) {
		return ""
	}
	return a.st.RefreshToken
}

func (a *Agent) isDeleted() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.deleted
}

func (a *Agent) recordError(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.st.LastError = a.describe(err)
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Code == protocol.CodeInvalidClient && a.st.State != state.Deleted {
		// The key is refused (SPEC §6): the agent is not registered now,
		// whatever it was. The broker keeps the endpoint's trust (K12), so a
		// good key later re-registers it, signed, without a new approval.
		a.st.State = state.Unregistered
		a.clearTokensLocked()
	}
	a.saveLocked()
}

func (a *Agent) saveLocked() {
	a.st.UpdatedAt = a.now().UTC()
	if err := state.Save(a.cfg.StateDir, a.st); err != nil {
		a.log.Error("saving state", zap.Error(err))
	}
}

// describe turns err into one line for last_error and logs, without the
// API key.
func (a *Agent) describe(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	var pe *protocol.Error
	if errors.As(err, &pe) {
		switch pe.Code {
		case protocol.CodeInvalidClient:
			msg = "the broker refused the API key (invalid_client); check the key given to the agent"
		case protocol.CodeRateLimited:
			msg = "the broker asks the agent to slow down (rate_limited)"
		}
		if pe.Message != "" && pe.Code == protocol.CodeInvalidClient {
			msg += ": " + pe.Message
		}
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if a.cfg.APIKey != "" {
		msg = strings.ReplaceAll(msg, a.cfg.APIKey, MaskAPIKey(a.cfg.APIKey))
	}
	if len(msg) > 400 {
		msg = msg[:400] + "..."
	}
	return msg
}

func (a *Agent) status() state.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.st.Status()
	connected := a.conn != nil
	s.Connected = &connected
	return s
}

type cacheKey struct{ uid, typ string }

type cachedToken struct {
	tok       protocol.Tokens
	expiresAt time.Time
}

// cacheMargin is how much life a cached user token must have left to be
// handed out while the broker is unreachable.
const cacheMargin = 30 * time.Second

// login performs a secure session login for u (SPEC S2, S3, S3c).
func (a *Agent) login(ctx context.Context, u localapi.OSUser, typ string) (*protocol.Tokens, error) {
	a.mu.Lock()
	st, conn, deleted := a.st, a.conn, a.deleted
	a.mu.Unlock()
	switch {
	case deleted || st.State == state.Deleted:
		return nil, &localapi.Error{Code: localapi.CodeEndpointDeleted, Description: "this endpoint was deleted on the broker; restart or reinstall the agent to register it again"}
	case st.State == state.Unregistered && conn == nil:
		desc := "the agent is not registered with the broker yet"
		if st.LastError != "" {
			desc += " (last error: " + st.LastError + ")"
		}
		return nil, &localapi.Error{Code: localapi.CodeBrokerUnreachable, Description: desc}
	case st.State != state.Trusted:
		return nil, &localapi.Error{Code: localapi.CodeNotTrusted, Description: notTrustedText(st.State)}
	}
	key := cacheKey{u.UID, typ}
	if conn == nil {
		return a.cached(key)
	}
	l := protocol.Login{APIKey: a.cfg.APIKey, DeviceToken: st.AccessToken, Type: typ, Username: u.Username}
	switch typ {
	case localapi.TypeSessionUserDomain:
		l.Domain = u.Domain
	case localapi.TypeUPN:
		l.UPN = u.UPN
		l.Domain = u.Domain
	}
	tok, err := conn.Login(ctx, l)
	if err != nil {
		var pe *protocol.Error
		if !errors.As(err, &pe) {
			a.log.Warn("login request failed", zap.String("reason", a.describe(err)))
			return a.cached(key)
		}
		if pe.Code == protocol.CodeInvalidGrant {
			select { // re-register for a new device token
			case a.reconnect <- struct{}{}:
			default:
			}
		}
		return nil, err
	}
	if tok.ExpiresIn > 0 {
		a.mu.Lock()
		if a.st.State == state.Trusted {
			a.cache[key] = cachedToken{tok: *tok, expiresAt: a.now().Add(seconds(tok.ExpiresIn))}
		}
		a.mu.Unlock()
	}
	return tok, nil
}

// cached returns a still-valid user token already issued for key, or
// broker_unreachable (SPEC S3c).
func (a *Agent) cached(key cacheKey) (*protocol.Tokens, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.cache[key]
	left := c.expiresAt.Sub(a.now())
	if !ok || left < cacheMargin || a.st.State != state.Trusted {
		delete(a.cache, key)
		return nil, &localapi.Error{Code: localapi.CodeBrokerUnreachable, Description: "the broker cannot be reached now and no valid token is cached; try again later"}
	}
	tok := c.tok
	tok.ExpiresIn = int64(left / time.Second)
	tok.RefreshToken, tok.RefreshExpiresIn = "", 0 // single-use: handed out once already
	return &tok, nil
}

func notTrustedText(st string) string {
	switch st {
	case state.Pending:
		return "this endpoint is pending: an administrator has not approved it yet"
	case state.Rejected:
		return "this endpoint is rejected on the broker; ask an administrator to approve it"
	case state.Untrusted:
		return "this endpoint is untrusted on the broker; ask an administrator to trust it again"
	}
	return "this endpoint is " + st + ", not trusted"
}

// MaskAPIKey returns a form of key safe to log: the public id of an
// "etk_<id>_<secret>" key, or its first four characters.
func MaskAPIKey(key string) string {
	if rest, ok := strings.CutPrefix(key, "etk_"); ok {
		if id, _, ok := strings.Cut(rest, "_"); ok && id != "" {
			return "etk_" + id + "_****"
		}
	}
	// Not an edgetrust key: possibly a mistyped one, so none of it is shown.
	return "****"
}

// osString is the OS reported at registration: GOOS and, where cheap, the
// kernel release.
func osString() string {
	if runtime.GOOS == "linux" {
		if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
			if rel := strings.TrimSpace(string(b)); rel != "" {
				return runtime.GOOS + " " + rel
			}
		}
	}
	return runtime.GOOS
}
