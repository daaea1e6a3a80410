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
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Clock tells the time; tests inject a fake one.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Signer mints and verifies access tokens (SPEC T1), stated in the
// registry's own terms (Claims) so that the domain needs no JWT library;
// *token.Issuer implements it over go-jose. Verify returns an error
// for a token that is malformed, not signed by a key it publishes, or
// expired.
type Signer interface {
	Mint(c Claims) (string, error)
	Verify(tok string) (*Claims, error)
}

// Claims are the fields of an access token (SPEC T1). Type is TokenDevice
// or TokenUser; a zero ID, IssuedAt or ExpiresAt is filled in by the
// signer.
type Claims struct {
	Issuer    string
	Subject   string
	Audience  string
	ID        string
	IssuedAt  time.Time
	ExpiresAt time.Time
	Account   string // acct
	Type      string // TokenDevice or TokenUser
	JKT       string // cnf.jkt: thumbprint of the key the token is bound to ("" = unbound)
	Endpoint  string // for user tokens: the endpoint the login came through
	// Session is "sid": for user tokens, the session (refresh-token chain)
	// the token belongs to, so ending the session ends the token at once.
	Session string
	// Who a user token names, as OpenID Connect calls it, so that a relying
	// service verifying the token offline knows the user without asking the
	// broker (docs/tokens.md): "preferred_username", and "upn", "email" and
	// "domain" where the user has them. Empty in device tokens.
	PreferredUsername string
	UPN               string
	Email             string
	Domain            string
}

// Token types, carried in an access token's "token_type" claim.
const (
	TokenDevice = "device"
	TokenUser   = "user"
)

// Config configures a Registry. Store and Signer are required; every other
// zero value means the default.
type Config struct {
	Store  Store
	Signer Signer
	Bus    Bus   // nil = NewLocalBus()
	Clock  Clock // nil = the system clock
	// BrokerID names this broker in the events it publishes ("" = a new
	// random id per Registry).
	BrokerID string

	DeviceTokenTTL time.Duration // 0 = 15 minutes (SPEC T2)
	UserTokenTTL   time.Duration // 0 = 1 hour
	RefreshTTL     time.Duration // 0 = 90 days
	PendingTTL     time.Duration // 0 = 72 hours (SPEC E3)

	// KeyFailureLimits limit failed API key presentations per source
	// address and per key public id (zero = DefaultKeyFailureLimits; see
	// admitKey in keycheck.go).
	KeyFailureLimits KeyFailureLimits
	// SignInLimits limit failed password attempts: admin sign-ins (SPEC
	// S3b) and device logins with a password (zero fields = those of
	// DefaultSignInLimits; signin.go).
	SignInLimits SignInLimits
	// OnLimited, if set, is called each time a caller gets a limited
	// answer; kind is "key" or "signin" (for metrics).
	OnLimited func(kind string)

	// Fresh reports whether this broker reads fresh state (nil = always):
	// a broker sharing its store with others returns an error once it has
	// not been able to read the store or follow its change feed for longer
	// than its bound. Registrations and logins are then refused with
	// KindUnavailable rather than answered from what may be stale (issue
	// 14: fail closed).
	Fresh func() error

	// WebhookSealer seals webhook signing secrets (nil = webhooks cannot
	// be configured). CheckWebhookURL, when set, refuses a webhook URL at
	// configuration (the delivery worker's SSRF guard: a literal loopback
	// or private address); it checks again at each dial.
	WebhookSealer   SecretSealer
	CheckWebhookURL func(url string) error

	// Observer is told what happens, for metrics (observer.go); nil =
	// NopObserver.
	Observer Observer

	// SigningKeys rotates the token-signing keys (signingkeys.go; nil =
	// they are not rotated).
	SigningKeys SigningKeys
}

// Registry implements the use cases. It is safe for concurrent use.
type Registry struct {
	store  Store
	signer Signer
	bus    Bus
	clock  Clock

	deviceTTL, userTTL, refreshTTL, pendingTTL time.Duration

	brokerID string
	seq      atomic.Uint64 // the last event's sequence number
	fresh    func() error  // Config.Fresh
	obs      Observer      // Config.Observer, never nil

	signingKeys SigningKeys // Config.SigningKeys

	// Failed key presentations (keycheck.go, ratelimit.go).
	keyLimits           KeyFailureLimits
	addrFails, keyFails *failureCounts
	keyChecks           atomic.Int64 // presentations that reached checkKey
	cache               *readCache   // what logins read, per cache generation (readcache.go)
	onLimited           func(kind string)
	signInGuard         *signInGuard // password attempts (signin.go)
	dpop                dpopNonces   // SPEC T3: the key of DPoP nonces (dpop.go)
	refusals            refusalLog   // folded key refusals (refusals.go)

	sealer      SecretSealer           // Config.WebhookSealer
	checkURL    func(url string) error // Config.CheckWebhookURL
	webhookWake chan struct{}          // WebhookWake
	expiryScan  atomic.Int64           // when warnExpiring last read the keys (Unix ns)
}

// New returns a Registry.
func New(cfg Config) (*Registry, error) {
	if cfg.Store == nil {
		return nil, errors.New("registry.New: Config.Store is nil")
	}
	if cfg.Signer == nil {
		return nil, errors.New("registry.New: Config.Signer is nil")
	}
	st := Store(writableStore{cfg.Store})
	obs := cfg.Observer
	if obs == nil {
		obs = NopObserver{}
	} else {
		st = observedStore{Store: st, obs: obs}
	}
	if cfg.Fresh != nil {
		st = freshStore{Store: st, fresh: cfg.Fresh}
	}
	r := &Registry{
		store: st, signer: cfg.Signer, bus: cfg.Bus, clock: cfg.Clock,
		deviceTTL:   orDefault(cfg.DeviceTokenTTL, 15*time.Minute),
		userTTL:     orDefault(cfg.UserTokenTTL, time.Hour),
		refreshTTL:  orDefault(cfg.RefreshTTL, 90*24*time.Hour),
		pendingTTL:  orDefault(cfg.PendingTTL, 72*time.Hour),
		fresh:       cfg.Fresh,
		obs:         obs,
		signingKeys: cfg.SigningKeys,
		sealer:      cfg.WebhookSealer, checkURL: cfg.CheckWebhookURL,
		webhookWake: make(chan struct{}, 1),
		cache:       newReadCache(),
	}
	if r.bus == nil {
		r.bus = NewLocalBus()
	}
	r.brokerID = cfg.BrokerID
	if r.brokerID == "" {
		r.brokerID = newID()
	}
	if r.clock == nil {
		r.clock = systemClock{}
	}
	r.keyLimits = cfg.KeyFailureLimits
	if r.keyLimits.PerAddress.N <= 0 || r.keyLimits.PerAddress.Per <= 0 {
		r.keyLimits.PerAddress = DefaultKeyFailureLimits.PerAddress
	}
	if r.keyLimits.PerKey.N <= 0 || r.keyLimits.PerKey.Per <= 0 {
		r.keyLimits.PerKey = DefaultKeyFailureLimits.PerKey
	}
	r.addrFails = newFailureCounts("addr:", r.keyLimits.PerAddress.Per)
	r.keyFails = newFailureCounts("key:", r.keyLimits.PerKey.Per)
	r.onLimited = cfg.OnLimited
	r.signInGuard = newSignInGuard(cfg.SignInLimits)
	return r, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// errUnavailable is the client-safe answer of a broker that cannot read
// fresh state.
const errUnavailable = "the broker cannot read fresh state now; try again shortly or use another broker"

// Fresh returns nil when the broker reads fresh state (Config.Fresh), and
// otherwise a KindUnavailable error whose cause (for logs and /readyz)
// says why.
func (r *Registry) Fresh() error {
	if r.fresh == nil {
		return nil
	}
	if err := r.fresh(); err != nil {
		return E(KindUnavailable, errUnavailable, err)
	}
	return nil
}

// freshStore is the store of a registry with a Fresh hook: a store failure
// while the broker cannot read fresh state (the database is down) is
// KindUnavailable, as registrations and logins are then, and not an
// internal error: callers of every route are told to try again shortly or
// another broker (HTTP 503, QUIC unavailable). The failure itself is kept
// as the cause, for the log.
type freshStore struct {
	Store
	fresh func() error
}

func (s freshStore) Update(ctx context.Context, fn func(Tx) error) error {
	return s.failed(s.Store.Update(ctx, fn))
}

func (s freshStore) View(ctx context.Context, fn func(Tx) error) error {
	return s.failed(s.Store.View(ctx, fn))
}

func (s freshStore) failed(err error) error {
	if err == nil || KindOf(err) != KindInternal {
		return err
	}
	if stale := s.fresh(); stale != nil {
		return E(KindUnavailable, errUnavailable, fmt.Errorf("%w: %w", stale, err))
	}
	return err
}

// writableStore answers an Update that failed because the store cannot
// write (ErrUnwritable: a full or read-only disk) with KindUnavailable:
// the change was not made, its audit row neither (they share the
// transaction: audit fails closed), and the caller is told to try again
// shortly (HTTP 503, QUIC unavailable) rather than shown an internal
// error. The cause stays in the chain, for the log.
type writableStore struct{ Store }

// errUnwritable is the client-safe answer of a broker that cannot write.
const errUnwritable = "the broker cannot save changes now; try again shortly"

func (s writableStore) Update(ctx context.Context, fn func(Tx) error) error {
	err := s.Store.Update(ctx, fn)
	if err != nil && errors.Is(err, ErrUnwritable) && KindOf(err) == KindInternal {
		return E(KindUnavailable, errUnwritable, err)
	}
	return err
}

// Bus returns the bus the registry publishes to.
func (r *Registry) Bus() Bus { return r.bus }

func (r *Registry) now() time.Time { return r.clock.Now().UTC() }

// newID returns a new id: a UUIDv7, ordered by time, so that the rows a
// broker writes most (refresh tokens, their chains, users) go to the end of
// their primary-key index instead of a random page of it (issue 17: fewer
// pages written per commit). Ids name things; they are never secrets.
func newID() string { return uuid.Must(uuid.NewV7()).String() }

// internal wraps an unexpected failure.
func internal(what string, err error) error {
	if KindOf(err) != KindInternal {
		return err
	}
	return E(KindInternal, "internal error", fmt.Errorf("%s: %w", what, err))
}
