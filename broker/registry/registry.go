// Package registry holds edgetrust's domain and use cases: accounts, API
// keys, endpoints and their trust, tokens and logins. Transports (QUIC, HTTP)
// call it; it calls the interfaces it declares (Store, Signer, Bus, Clock).
// It imports no transport, logger or database package.
//
// Every use case runs in one store transaction together with its audit
// rows; events go to the Bus only after the commit, so a pushed decision is
// always a durable one. A decision made on another broker reaches this one's
// agents through the same Bus (a shared bus publishes it locally).
package registry

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/edgetrust/edgetrust/broker/token"
)

// Clock tells the time; tests inject a fake one.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Signer mints and verifies access tokens (implemented by *token.Issuer).
type Signer interface {
	Mint(c token.Claims) (string, error)
	Verify(tok string) (*token.Claims, error)
}

// Config configures a Registry. Store and Signer are required; every other
// zero value means the default.
type Config struct {
	Store  Store
	Signer Signer
	Bus    Bus   // nil = NewLocalBus()
	Clock  Clock // nil = the system clock

	DeviceTokenTTL time.Duration // 0 = 15 minutes (SPEC T2)
	UserTokenTTL   time.Duration // 0 = 1 hour
	RefreshTTL     time.Duration // 0 = 90 days
	PendingTTL     time.Duration // 0 = 72 hours (SPEC E3)

	// SignInRate and SignInBurst limit admin sign-in attempts per address
	// and per username (SPEC S3b). 0 = 1 every 2 s, burst 10.
	SignInRate  rate.Limit
	SignInBurst int
}

// Registry implements the use cases. It is safe for concurrent use.
type Registry struct {
	store  Store
	signer Signer
	bus    Bus
	clock  Clock

	deviceTTL, userTTL, refreshTTL, pendingTTL time.Duration

	signIn *limiterSet
	dpop   dpopNonces // SPEC T3: the key of DPoP nonces (dpop.go)
}

// New returns a Registry.
func New(cfg Config) (*Registry, error) {
	if cfg.Store == nil {
		return nil, errors.New("registry.New: Config.Store is nil")
	}
	if cfg.Signer == nil {
		return nil, errors.New("registry.New: Config.Signer is nil")
	}
	r := &Registry{
		store: cfg.Store, signer: cfg.Signer, bus: cfg.Bus, clock: cfg.Clock,
		deviceTTL:  orDefault(cfg.DeviceTokenTTL, 15*time.Minute),
		userTTL:    orDefault(cfg.UserTokenTTL, time.Hour),
		refreshTTL: orDefault(cfg.RefreshTTL, 90*24*time.Hour),
		pendingTTL: orDefault(cfg.PendingTTL, 72*time.Hour),
	}
	if r.bus == nil {
		r.bus = NewLocalBus()
	}
	if r.clock == nil {
		r.clock = systemClock{}
	}
	lim, burst := cfg.SignInRate, cfg.SignInBurst
	if lim == 0 {
		lim = rate.Every(2 * time.Second)
	}
	if burst == 0 {
		burst = 10
	}
	r.signIn = newLimiterSet(lim, burst)
	return r, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Bus returns the bus the registry publishes to.
func (r *Registry) Bus() Bus { return r.bus }

func (r *Registry) now() time.Time { return r.clock.Now().UTC() }

func newID() string { return uuid.NewString() }

// audit appends one audit row in tx.
func audit(tx Tx, at time.Time, actor, action, account, target, outcome string, remote netip.Addr, detail map[string]string) error {
	ev := &AuditEvent{Time: at, Actor: actor, Action: action, AccountID: account, Target: target, Outcome: outcome, Detail: detail}
	if remote.IsValid() {
		ev.Remote = remote.String()
	}
	if err := tx.AppendAudit(ev); err != nil {
		return fmt.Errorf("writing audit %s: %w", action, err)
	}
	return nil
}

// ancestors returns the account and its ancestors, nearest first.
func ancestors(tx Tx, accountID string) ([]*Account, error) {
	return walkUp(accountID, tx.GetAccount)
}

// walkUp follows parent links from id through get, refusing loops.
func walkUp(id string, get func(string) (*Account, error)) ([]*Account, error) {
	var out []*Account
	for id != "" {
		if len(out) > 64 || slices.ContainsFunc(out, func(a *Account) bool { return a.ID == id }) {
			return nil, fmt.Errorf("account tree loops at %s", id)
		}
		a, err := get(id)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
		id = a.ParentID
	}
	return out, nil
}

func accountIDs(chain []*Account) []string {
	ids := make([]string, len(chain))
	for i, a := range chain {
		ids[i] = a.ID
	}
	return ids
}

// internal wraps an unexpected failure.
func internal(what string, err error) error {
	if KindOf(err) != KindInternal {
		return err
	}
	return E(KindInternal, "internal error", fmt.Errorf("%s: %w", what, err))
}

// TokenPair is an access token with its refresh token.
type TokenPair struct {
	AccessToken      string
	TokenType        string // "Bearer"
	ExpiresIn        time.Duration
	RefreshToken     string
	RefreshExpiresIn time.Duration
}

// refreshPrefix marks edgetrust refresh tokens for secret scanners.
const refreshPrefix = "etr_"

// lifetimes are the token lifetimes that apply to one account (SPEC T2).
type lifetimes struct{ device, user, refresh time.Duration }

// lifetimesOf returns the account's own token lifetimes, the broker's
// defaults where it sets none.
func (r *Registry) lifetimesOf(tx Tx, accountID string) (lifetimes, error) {
	a, err := tx.GetAccount(accountID)
	if errors.Is(err, ErrNotFound) {
		return r.lifetimesFrom(nil), nil
	}
	if err != nil {
		return lifetimes{}, internal("looking up account", err)
	}
	return r.lifetimesFrom(a), nil
}

// lifetimesFrom returns the token lifetimes of account a (nil = the
// broker's defaults).
func (r *Registry) lifetimesFrom(a *Account) lifetimes {
	lt := lifetimes{device: r.deviceTTL, user: r.userTTL, refresh: r.refreshTTL}
	if a == nil {
		return lt
	}
	lt.device = orDefault(a.Settings.DeviceTokenTTL, lt.device)
	lt.user = orDefault(a.Settings.UserTokenTTL, lt.user)
	lt.refresh = orDefault(a.Settings.RefreshTTL, lt.refresh)
	return lt
}

// issued is a token pair issued in a transaction whose access token is not
// signed yet. The refresh token is stored in the transaction; the access
// token is signed by mint once that transaction has committed, so that
// signing (Ed25519 and JSON) never holds the store's single writer.
type issued struct {
	claims token.Claims
	pair   TokenPair // without AccessToken
}

// mint signs the access token of is, which an Update issued and that Update
// returned nil (is is committed); a nil is gives a nil pair. A token is
// handed out only through mint, so never before its refresh token is
// durable.
func (r *Registry) mint(is *issued) (*TokenPair, error) {
	if is == nil {
		return nil, nil
	}
	access, err := r.signer.Mint(is.claims)
	if err != nil {
		return nil, internal("minting token", err)
	}
	tp := is.pair
	tp.AccessToken = access
	return &tp, nil
}

// issue issues, in tx, an access token for c and a refresh token in chain
// (a new chain when chain is ""), with the lifetimes of c's account. The
// caller mints the access token once tx has committed.
func (r *Registry) issue(tx Tx, now time.Time, c token.Claims, chain string) (*issued, error) {
	lt, err := r.lifetimesOf(tx, c.Account)
	if err != nil {
		return nil, err
	}
	return r.issueWith(tx, now, lt, c, chain)
}

// issueWith is issue with the lifetimes of c's account already known.
func (r *Registry) issueWith(tx Tx, now time.Time, lt lifetimes, c token.Claims, chain string) (*issued, error) {
	ttl := lt.user
	if c.Type == token.TypeDevice {
		ttl = lt.device
	}
	c.IssuedAt = now
	c.ExpiresAt = now.Add(ttl)
	if chain == "" {
		chain = newID()
	}
	if c.Type == token.TypeUser {
		c.Session = chain // ending the session (S6) ends this token at once
	}
	secret, hash := token.NewOpaque(refreshPrefix)
	rt := &RefreshToken{
		ID: newID(), Hash: hash, ChainID: chain, AccountID: c.Account,
		IssuedAt: now, ExpiresAt: now.Add(lt.refresh), EndpointID: c.Endpoint,
	}
	switch c.Type {
	case token.TypeDevice:
		rt.SubjectType, rt.SubjectID = SubjectEndpoint, c.Subject
	default:
		rt.SubjectType, rt.SubjectID = SubjectUser, c.Subject
	}
	if err := tx.CreateRefreshToken(rt); err != nil {
		return nil, fmt.Errorf("storing refresh token: %w", err)
	}
	return &issued{claims: c, pair: TokenPair{TokenType: "Bearer", ExpiresIn: ttl, RefreshToken: secret, RefreshExpiresIn: lt.refresh}}, nil
}
