// Package agent is the composition root of the edgetrust agent: it keeps the
// device's identity, stays connected to the broker (register, receive pushed
// decisions, refresh the device token), records its state on disk and serves
// secure session logins on the local socket.
//
// Run retries forever with capped exponential backoff and full jitter (the
// first connection of a process is jittered too): a refused API key, an
// unreachable broker or a lost connection is recorded in state.json
// (last_error) and retried. A key that fails its format or checksum is
// never sent: each try records that instead, without dialing. Only a deleted endpoint stops registering, until
// the process is restarted (SPEC E4a).
//
// Trust, once given, is kept without an administrator: device tokens that
// cannot be refreshed (refresh token expired, or its chain revoked, SPEC T2)
// are renewed by registering again on the connection the key proved (E4).
// While the broker cannot be reached, state.json says so (unreachable_since,
// and last_error begins "broker unreachable: ") and logins are answered with
// user tokens already held while they are valid, otherwise
// broker_unreachable (S3c). A broker that answers unavailable (it cannot
// read fresh state) counts as unreachable: logins on its connection are
// answered from the tokens held.
//
// Config.Broker may list several brokers sharing one database
// ("a:7443,b:7443"): the agent is connected to one at a time and, when a
// session ends, tries the next one after the same jittered backoff; the
// endpoint is the same on every broker, so no new approval is needed.
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
	"github.com/edgetrust/edgetrust/agent/config"
	"github.com/edgetrust/edgetrust/agent/localapi"
	"github.com/edgetrust/edgetrust/agent/reconnect"
	"github.com/edgetrust/edgetrust/agent/state"
	"github.com/edgetrust/edgetrust/internal/logfield"
	"github.com/edgetrust/edgetrust/protocol"
)

// DefaultType is the client type when Config.Type is empty.
const DefaultType = protocol.ClientDesktop

// Defaults of zero Config fields.
const (
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 60 * time.Second
)

// Config configures New. Zero optional fields mean their defaults.
type Config struct {
	Broker            string // HOST:PORT, or several separated by commas (config.ParseBrokers); required
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

	// rnd draws backoff delays, uniform in [0, n); nil = math/rand/v2.
	// Tests replace it to see the schedule.
	rnd func(n int64) int64
}

// Agent is a configured agent; call Run.
type Agent struct {
	cfg     Config
	log     *zap.Logger
	tls     *tls.Config
	brokers []string // from cfg.Broker, in order
	next    int      // index in brokers of the broker the next session dials

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
	if !protocol.ValidClientType(cfg.Type) {
		return nil, fmt.Errorf("agent.New: unknown client type %q (valid: %s)", cfg.Type, strings.Join(protocol.ClientTypes(), ", "))
	}
	brokers, err := config.ParseBrokers(cfg.Broker)
	if err != nil {
		return nil, fmt.Errorf("agent.New: broker address %w", err)
	}
	host := ""
	if len(brokers) == 1 {
		// Several brokers: Dial names each one's own host.
		host, _, _ = net.SplitHostPort(brokers[0])
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
		log:       log,
		tls:       tc,
		brokers:   brokers,
		cache:     make(map[cacheKey]cachedToken),
		reconnect: make(chan struct{}, 1),
		now:       time.Now,
	}, nil
}

// Run runs the agent until ctx ends; then it returns nil. It returns an
// error at once when the identity or state file is corrupt or the identity
// was lost (wrapping state.ErrCorrupt; see state.Open), or when the local
// socket cannot be served.
func (a *Agent) Run(ctx context.Context) error {
	id, st, err := state.Open(a.cfg.StateDir)
	if errors.Is(err, state.ErrCorrupt) {
		return fmt.Errorf("%w; the agent will not replace it with a new identity (that would be a new endpoint needing a new approval): restore the files from a backup, or move the state directory away to register as a new endpoint", err)
	}
	if err != nil {
		return fmt.Errorf("loading agent state: %w", err)
	}
	a.mu.Lock()
	a.st = st
	a.st.Broker = a.brokers[0]
	if a.cfg.AccountID != "" {
		a.st.AccountID = a.cfg.AccountID
	}
	a.saveLocked() // status shows the broker from the start
	a.mu.Unlock()
	a.log = a.log.With(zap.String(logfield.ClientID, id.ClientID))
	a.log.Info("agent starting",
		zap.String(logfield.StateDir, a.cfg.StateDir),
		zap.String(logfield.APIKey, protocol.MaskKey(a.cfg.APIKey)),
		zap.String(logfield.State, st.State))

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

	// The loop and its backoff are package reconnect's, which
	// edgetrust-bench's reconnect storm runs too.
	loop := reconnect.Loop{Min: a.cfg.MinBackoff, Max: a.cfg.MaxBackoff, Rand: a.cfg.rnd, Now: a.now,
		Ended: func(err error, retryIn time.Duration) {
			a.recordError(err)
			a.log.Warn("broker session failed; retrying", zap.String("reason", a.describe(err)), zap.Duration(logfield.RetryIn, retryIn))
		}}
	loop.Run(ctx, func(ctx context.Context) (time.Time, error) {
		if a.isDeleted() {
			<-ctx.Done()
			return time.Time{}, ctx.Err()
		}
		registeredAt, err := a.session(ctx, id)
		if ctx.Err() != nil {
			return registeredAt, err
		}
		a.moveOn()
		if errors.Is(err, errDeleted) {
			a.log.Warn("endpoint deleted on the broker; not registering again until restarted")
			<-ctx.Done()
		}
		return registeredAt, err
	})
	cancel()
	if err := <-apiErr; err != nil {
		return err
	}
	a.log.Info("agent stopped")
	return nil
}

var errDeleted = errors.New("the endpoint was deleted on the broker")

// errMalformedKey is why a session does not dial: the configured key fails
// its format or checksum (SPEC K3), so every broker would refuse it, and
// each try would only add a refusal to the broker's audit (issue 12,
// point 5).
var errMalformedKey = errors.New("the API key given to the agent is malformed: not an etk_ value with a valid checksum (mistyped or cut short?), so the agent does not send it to the broker; check the key given to the agent and install it again")

// session connects, registers and follows the broker until the connection
// ends. It returns when registration succeeded (zero if not) and why the
// session ended.
//
// When the device tokens cannot be refreshed (the refresh token expired,
// was refused with invalid_grant because its chain was revoked, or a login's
// device token was refused), the agent registers again on the same
// connection: the broker has proven the endpoint's key with this
// connection's HELLO, so a trusted endpoint gets fresh tokens without an
// administrator (SPEC E4, T2).
//
// It is one function, longer than most, because it is one connection's life
// in order (dial, hello, register, wait, serve); splitting it would scatter
// the state each step hands to the next.
func (a *Agent) session(ctx context.Context, id state.Identity) (registeredAt time.Time, err error) {
	if _, err := protocol.ParseKey(a.cfg.APIKey); err != nil {
		return time.Time{}, errMalformedKey
	}
	addr := a.broker()
	conn, err := brokerclient.Dial(ctx, brokerclient.Config{
		Addr:     addr,
		TLS:      a.tls,
		Key:      id.Key,
		ClientID: id.ClientID,
		Logger:   a.log.Named("brokerclient"), // it names the broker
		Software: "edgetrust-agent/" + a.cfg.Version,
	})
	if err != nil {
		return time.Time{}, err
	}
	defer conn.Close()
	// A stale request from a previous session must not end this one. It is
	// dropped before register makes conn the one logins use: a login
	// refused from then on asks this session to renew, and is heard.
	select {
	case <-a.reconnect:
	default:
	}
	reg, err := a.register(ctx, conn)
	if err != nil {
		return time.Time{}, err
	}
	registeredAt = a.now()
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
	renew := func(why string) error {
		a.log.Info("registering again on this connection for new device tokens", zap.String("reason", why))
		reg, err := a.register(ctx, conn)
		if err != nil {
			return fmt.Errorf("registering again (%s): %w", why, err)
		}
		if reg.State == protocol.StateDeleted {
			return errDeleted
		}
		schedule(reg.Tokens)
		return nil
	}

	for {
		select {
		case <-ctx.Done():
			return registeredAt, ctx.Err()
		case <-a.reconnect:
			if err := renew("the broker refused the device token of a login"); err != nil {
				return registeredAt, err
			}
		case d, ok := <-conn.Decisions():
			if !ok {
				return registeredAt, fmt.Errorf("connection to broker lost: %w", conn.Err())
			}
			a.log.Info("decision", zap.String(logfield.State, d.State))
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
				if err := renew("the refresh token has expired"); err != nil {
					return registeredAt, err
				}
				continue
			}
			tok, err := conn.Refresh(ctx, rt)
			var pe *protocol.Error
			switch {
			case errors.As(err, &pe) && pe.Code == protocol.CodeInvalidGrant:
				// Expired, spent, or its chain revoked (T2): the key still
				// proves who we are.
				if err := renew("the broker refused the refresh token (invalid_grant)"); err != nil {
					return registeredAt, err
				}
			case err != nil:
				return registeredAt, fmt.Errorf("refreshing the device token: %w", err)
			default:
				a.log.Debug("device token refreshed", zap.Int64(logfield.ExpiresIn, tok.ExpiresIn))
				a.setTokens(tok)
				schedule(tok)
			}
		}
	}
}

// broker returns the broker the next session dials, recorded in the state
// (status shows it).
func (a *Agent) broker() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.brokers[a.next]
	if a.st.Broker != b {
		a.st.Broker = b
		a.saveLocked()
	}
	return b
}

// moveOn makes the next session dial the next broker of the list (the same
// one when there is one): after a lost connection, an unreachable or
// unavailable broker, another one sharing the database may serve.
func (a *Agent) moveOn() {
	a.mu.Lock()
	a.next = (a.next + 1) % len(a.brokers)
	a.mu.Unlock()
}

// register sends REGISTER on conn and records the answer.
func (a *Agent) register(ctx context.Context, conn *brokerclient.Conn) (*protocol.Registered, error) {
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
		return nil, err
	}
	a.apply(reg.EndpointID, reg.State, reg.AccountID, reg.Tokens, conn)
	a.log.Info("registered", zap.String(logfield.EndpointID, reg.EndpointID), zap.String(logfield.State, reg.State),
		zap.String(logfield.Broker, conn.Addr()))
	return reg, nil
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
		a.log.Warn("broker sent an unknown state; ignoring it", zap.String(logfield.State, st))
	} else {
		a.st.State = st
	}
	a.st.LastError = ""
	a.st.UnreachableSince = time.Time{}
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
	switch {
	case !unreachable(err):
		a.st.UnreachableSince = time.Time{}
	case a.st.UnreachableSince.IsZero():
		a.st.UnreachableSince = a.now().UTC().Truncate(time.Second)
	}
	var pe *protocol.Error
	refused := errors.As(err, &pe) && pe.Code == protocol.CodeInvalidClient
	if (refused || errors.Is(err, errMalformedKey)) && a.st.State != state.Deleted {
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

// unreachable reports whether a session failed without an answer from the
// broker: it could not be reached, the connection was lost, or it could not
// be verified. A refusal (*protocol.Error) is an answer, except unavailable:
// the broker cannot read fresh state, which is no answer about this
// endpoint. A malformed key never asked.
func unreachable(err error) bool {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Code == protocol.CodeUnavailable
	}
	return err != nil && !errors.Is(err, errDeleted) && !errors.Is(err, errMalformedKey)
}

// describe turns err into one line for last_error and logs, without the
// API key. Failures without an answer from the broker begin with
// "broker unreachable: ".
func (a *Agent) describe(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if unreachable(err) {
		msg = "broker unreachable: " + msg
	}
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
		msg = strings.ReplaceAll(msg, a.cfg.APIKey, protocol.MaskKey(a.cfg.APIKey))
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
	margin    time.Duration // see cacheMargin
}

// cacheMargin is how much life a cached user token must have left to be
// handed out while the broker is unreachable: a quarter of its lifetime, at
// most 30 s, so that the caller can still use it.
func cacheMargin(life time.Duration) time.Duration { return min(30*time.Second, life/4) }

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
	case st.State != state.Trusted && conn == nil:
		return nil, &localapi.Error{Code: localapi.CodeNotTrusted, Description: notTrustedText(st.State)}
	}
	key := cacheKey{u.UID, typ}
	if conn == nil {
		return a.cached(key)
	}
	// Connected but not trusted: the broker still hears the login, so that
	// it decides and audits it (issue 12, point 4); it sends no device token.
	l := protocol.Login{APIKey: a.cfg.APIKey, DeviceToken: st.AccessToken, Type: typ, Username: u.Username}
	switch typ {
	case protocol.LoginSessionUserDomain:
		l.Domain = u.Domain
	case protocol.LoginUPN:
		l.UPN = u.UPN
		l.Domain = u.Domain
	}
	tok, err := conn.Login(ctx, l)
	if err != nil {
		var pe *protocol.Error
		if unreachable(err) {
			// No answer, or the broker cannot read fresh state (unavailable):
			// as if it could not be reached (S3c); the connection stays.
			a.log.Warn("login request failed", zap.String("reason", a.describe(err)))
			if st.State != state.Trusted {
				return nil, &localapi.Error{Code: localapi.CodeNotTrusted, Description: notTrustedText(st.State)}
			}
			return a.cached(key)
		}
		if !errors.As(err, &pe) {
			return nil, err
		}
		if st.State != state.Trusted && pe.Code == protocol.CodeAccessDenied {
			return nil, &localapi.Error{Code: localapi.CodeNotTrusted, Description: notTrustedText(st.State)}
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
			life := seconds(tok.ExpiresIn)
			a.cache[key] = cachedToken{tok: *tok, expiresAt: a.now().Add(life), margin: cacheMargin(life)}
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
	if !ok || left < c.margin || a.st.State != state.Trusted {
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
