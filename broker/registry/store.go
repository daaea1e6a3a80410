package registry

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"
)

// Errors a Store returns; implementations wrap them so errors.Is works.
var (
	// ErrNotFound: no row with that id (or hash).
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique constraint or a conditional update did not hold.
	ErrConflict = errors.New("conflict")
	// ErrLimitReached: a use-limited thing had no uses left.
	ErrLimitReached = errors.New("use limit reached")
	// ErrUnwritable: the store cannot write now (its disk is full or
	// read-only, or failed): the Update was not made. Reads may still
	// work, and writes again once the fault clears. The registry answers
	// KindUnavailable.
	ErrUnwritable = errors.New("the store cannot write: disk full, read-only or failing")
)

// Store keeps the registry's state. Every implementation passes the
// conformance suite in broker/store/storetest.
type Store interface {
	// Update runs fn in one read-write transaction and commits it when fn
	// returns nil; it rolls back and returns fn's error otherwise. A
	// committed Update is durable.
	//
	// Concurrent Updates behave as if serialised: the outcome is that of
	// some order in which each ran alone, seeing every write committed
	// before it. The registry relies on this for read-then-write rules
	// (CountEndpoints then CreateEndpoint against a quota, reading an
	// endpoint's state and recording the decision taken from it). A store
	// whose database does not serialise by itself (PostgreSQL below
	// SERIALIZABLE) must make it so: SERIALIZABLE isolation, or a lock
	// every Update takes first.
	//
	// fn may therefore be run more than once: a store may roll fn's
	// transaction back after a serialisation failure and run fn again in a
	// new one. fn must have no effect outside the transaction that a second
	// run would repeat or leave stale: it publishes no event and sends
	// nothing (that is done after Update returns), and it (re)sets at its
	// start every variable of the caller it assigns, so the values of an
	// abandoned run do not survive. A store returns fn's own error without
	// running it again.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction (a consistent snapshot).
	View(ctx context.Context, fn func(Tx) error) error
	// Close releases the store.
	Close() error
}

// Tx is the set of operations inside a transaction: one small interface
// per entity, composed. A Tx belongs to the goroutine running fn and only
// until fn returns: it is not safe for concurrent use. Methods that look up
// one row return an error wrapping ErrNotFound when it does not exist. Zero
// time.Time values are stored as NULL and read back as zero.
type Tx interface {
	AccountTx
	UserTx
	RoleTx
	KeyTx
	EndpointTx
	RefreshTokenTx
	AuditTx
	MetaTx
	OAuthTx   // device codes, key changes, token state of the HTTP device flow (store_oauth.go)
	WebhookTx // webhooks and their deliveries (webhooks.go)
	LimitTx   // counts of failed attempts merged between brokers (ratelimit.go)
}

// LimitTx keeps the counts of failed attempts that brokers sharing a store
// merge (ratelimit.go, MergeFailures), one row per (Window, Scope).
type LimitTx interface {
	// AddFailureCounts adds each row's Count to the stored count of its
	// (Window, Scope), creating it at Count.
	AddFailureCounts(rows []FailureCount) error
	// ListFailureCounts returns the counts of windows starting at or after
	// since, ordered by Window, then Scope.
	ListFailureCounts(since time.Time) ([]FailureCount, error)
	// DeleteFailureCounts deletes the counts of windows starting before
	// before and returns how many it deleted.
	DeleteFailureCounts(before time.Time) (int, error)
}

// AccountTx keeps accounts.
type AccountTx interface {
	CreateAccount(a *Account) error // ErrConflict on a duplicate id
	GetAccount(id string) (*Account, error)
	ListAccounts() ([]Account, error) // ordered by CreatedAt, then ID
	UpdateAccount(a *Account) error
}

// UserTx keeps users. (AccountID, Username, Domain) is unique,
// case-insensitively on Username and Domain.
type UserTx interface {
	CreateUser(u *User) error // ErrConflict on a duplicate
	GetUser(id string) (*User, error)
	// FindUsers returns users matching every non-empty field of f.
	FindUsers(f UserFilter) ([]User, error)
	UpdateUser(u *User) error
	// DeleteUser deletes a user and its grants. ErrNotFound when missing.
	DeleteUser(id string) error
}

// RoleTx keeps roles and the grants of them to users.
type RoleTx interface {
	CreateRole(r *Role) error // ErrConflict on a duplicate id
	GetRole(id string) (*Role, error)
	ListRoles() ([]Role, error) // built-in first, then by CreatedAt, ID
	UpdateRole(r *Role) error   // Name and Permissions; ErrNotFound when missing
	// DeleteRole deletes a role and every grant of it. ErrNotFound when missing.
	DeleteRole(id string) error
	CreateGrant(g *Grant) error // ErrConflict on a duplicate (user, role, account)
	ListGrants(userID string) ([]Grant, error)
	// DeleteGrant deletes one grant. ErrNotFound when there is no such grant.
	DeleteGrant(userID, roleID, accountID string) error
}

// KeyTx keeps API keys and their values.
type KeyTx interface {
	CreateAPIKey(k *APIKey) error
	GetAPIKey(id string) (*APIKey, error)
	ListAPIKeys(accountID string) ([]APIKey, error) // "" = all; ordered by CreatedAt, ID
	UpdateAPIKey(k *APIKey) error
	// ListAPIKeysRunningAs lists the keys whose RunAsUserID is userID (SPEC
	// K10); "" lists none.
	ListAPIKeysRunningAs(userID string) ([]APIKey, error)
	// DeleteAPIKey deletes a key and all its values. Endpoints that registered
	// with it keep their KeyID and KeyValueID (SPEC K12), and the values'
	// public ids are kept as deleted (GetDeletedKeyValue). ErrNotFound when
	// missing.
	DeleteAPIKey(id string) error
	// GetDeletedKeyValue returns what is kept of a value whose key was
	// deleted, by its public id; ErrNotFound for any other public id.
	GetDeletedKeyValue(publicID string) (*DeletedKeyValue, error)
	// CountAPIKeys counts the keys of one account (SPEC K9).
	CountAPIKeys(accountID string) (int, error)
	CreateKeyValue(v *KeyValue) error // ErrConflict on a duplicate id or public id
	GetKeyValue(id string) (*KeyValue, error)
	GetKeyValueByPublicID(publicID string) (*KeyValue, error)
	ListKeyValues(keyID string) ([]KeyValue, error) // ordered by CreatedAt, ID
	// UpdateKeyValue replaces PublicID, SecretHash, Description, ExpiresAt,
	// RevokedAt, UseLimit and EdgeDevice of a value (regenerate, revoke);
	// usage fields are left alone. ErrNotFound when missing; ErrConflict on a
	// duplicate public id.
	UpdateKeyValue(v *KeyValue) error
	// RecordKeyUse sets LastUsedAt/From. With consume it also adds one to
	// UseCount in the same conditional update, only while UseLimit is 0 or
	// UseCount < UseLimit; when no use is left it changes nothing and
	// returns ErrLimitReached.
	RecordKeyUse(valueID string, at time.Time, from string, consume bool) error
}

// DeletedKeyValue is what the store keeps of a value whose key was deleted:
// enough to name it when it is presented again, never its secret's hash.
type DeletedKeyValue struct {
	PublicID  string
	KeyID     string
	AccountID string
}

// EndpointTx keeps endpoints.
type EndpointTx interface {
	CreateEndpoint(e *Endpoint) error // ErrConflict when the id exists
	GetEndpoint(id string) (*Endpoint, error)
	// ListEndpoints is ordered by RegisteredAt, then ID. With f.After it
	// returns ErrNotFound when there is no endpoint with that id.
	ListEndpoints(f EndpointFilter) ([]Endpoint, error)
	UpdateEndpoint(e *Endpoint) error // replaces every field
	// TransitionEndpoint sets State to `to` and the last decision to d,
	// only when the current state is one of `from`, in one conditional
	// update; a transition to StateTrusted is an approval and also sets
	// ApprovedBy and ApprovedAt. It returns ErrNotFound when there is no
	// such endpoint and ErrConflict when its state is not one of `from`.
	TransitionEndpoint(id string, from []State, to State, d Decision) error
	// SetEndpointCloneSuspected sets CloneSuspectedAt (zero clears it) and
	// nothing else; ErrNotFound when there is no such endpoint.
	SetEndpointCloneSuspected(id string, at time.Time) error
	// TouchEndpoint sets LastSeenAt/From.
	TouchEndpoint(id string, at time.Time, from string) error
	DeleteEndpoint(id string) error
	// CountEndpoints counts the endpoints of one account (SPEC K9).
	CountEndpoints(accountID string) (int, error)
	// CountEndpointsByAccount counts the endpoints in state, per account
	// id; an account with none is absent (metrics: pending per account).
	CountEndpointsByAccount(state State) (map[string]int, error)
	// CountPendingByKeyValue and CountPendingByAccount count the pending
	// endpoints registered with a key value, and of an account (SPEC R8:
	// the caps on the pending queue); 0 for an unknown id.
	CountPendingByKeyValue(valueID string) (int, error)
	CountPendingByAccount(accountID string) (int, error)
}

// RefreshTokenTx keeps refresh tokens. (Reading one without consuming it,
// and the chains they form, are in OAuthTx.)
type RefreshTokenTx interface {
	CreateRefreshToken(t *RefreshToken) error
	// ConsumeRefreshToken marks the token with this hash used at `at`, in one
	// conditional update that requires it unused, unrevoked and unexpired.
	// It returns the token on success; ErrNotFound when no token has this
	// hash; the token and ErrConflict when it exists but was used, revoked
	// or has expired (so the caller can revoke its chain).
	ConsumeRefreshToken(hash []byte, at time.Time) (*RefreshToken, error)
	// ListRefreshSuccessors returns the tokens issued in exchange for the
	// token parentID (their ParentID), in no particular order; none is an
	// empty list.
	ListRefreshSuccessors(parentID string) ([]RefreshToken, error)
	// RevokeRefreshChain revokes every unrevoked token of a chain.
	RevokeRefreshChain(chainID string, at time.Time) error
	// RevokeRefreshTokensOf revokes every unrevoked token of a subject, and
	// for endpoints also the user tokens issued through that endpoint.
	RevokeRefreshTokensOf(subjectType, subjectID string, at time.Time) error
	// PurgeRefreshTokens deletes every refresh token that expired before
	// `before` (used, revoked or not) and returns how many it deleted.
	PurgeRefreshTokens(before time.Time) (int, error)
}

// AuditTx keeps the audit log.
type AuditTx interface {
	AppendAudit(e *AuditEvent) error               // sets e.ID
	ListAudit(f AuditFilter) ([]AuditEvent, error) // ordered by ID (descending with f.Desc)

	// ListAuditChanges returns, in commit order, up to limit (<= 0: no
	// limit) audit events committed after the position `after` (the zero
	// ChangeCursor is the start of the log), and the cursor to pass next
	// time: the position of the last event returned, or `after` when none
	// was. Events of one Update come in ID order.
	//
	// A reader that passes back each cursor it got reads every committed
	// event exactly once, however the Updates that appended them
	// overlapped: an event that commits after a read comes after the
	// cursor that read returned, even when its ID is lower than the IDs the
	// read returned. The live event stream, the resynchronisation of a
	// cluster and a webhook outbox read the log through it.
	//
	// IDs are not commit order on every store: PostgreSQL hands out
	// sequence values at insert, so a transaction holding ID 7 may commit
	// after one holding ID 8, and a reader that went on from 8 would never
	// see 7. Such a store must order by a position fixed in commit order,
	// e.g. a sequence taken under a lock held to commit (the lock
	// serialising Updates does), or the inserting transaction's xid8 read
	// only below pg_snapshot_xmin(pg_current_snapshot()) so that no
	// transaction still open can commit below the cursor. Holding an event
	// back until it is safe to return is allowed; skipping or repeating one
	// is not.
	// Each row's Cursor is set to its own place, so a reader may stop
	// after any row and go on from there.
	ListAuditChanges(after ChangeCursor, limit int) ([]AuditEvent, ChangeCursor, error)
	// LastChangeCursor returns the end of the log: a cursor after which
	// ListAuditChanges returns exactly the events that commit after this
	// call (none committed before it). A live watcher starts there
	// ("from now") without reading the log from the start.
	LastChangeCursor() (ChangeCursor, error)
}

// ChangeCursor is a position in the commit order of the audit log
// (AuditTx.ListAuditChanges). Zero is the start; otherwise it is opaque:
// pass back what a store returned, to the same store.
type ChangeCursor int64

// MetaTx holds small broker-wide settings (e.g. "bootstrap.done").
type MetaTx interface {
	GetMeta(key string) (string, error)
	SetMeta(key, value string) error
}

// UserFilter selects users; empty fields match anything. Every field but
// AccountID compares case-insensitively (card and short ids as the registry
// keeps them unique per account, SPEC S4).
type UserFilter struct {
	AccountID string
	Username  string
	Domain    string
	UPN       string
	CardID    string
	ShortID   string
}

// Decision is a trust decision on an endpoint: what (an Action's name),
// by whom (an actor), when.
type Decision struct {
	Action string
	By     string
	At     time.Time
}

// EndpointFilter selects endpoints; zero fields match anything.
type EndpointFilter struct {
	AccountIDs []string
	IDs        []string
	State      State
	Type       string
	KeyID      string
	// From selects endpoints whose RegisteredFrom lies in the prefix.
	From             netip.Prefix
	RegisteredBefore time.Time
	RegisteredAfter  time.Time
	// SeenBefore/SeenAfter select by LastSeenAt, both exclusive (SPEC E6,
	// E8). An endpoint never seen counts as seen when it registered, so one
	// that registered and went silent becomes stale.
	SeenBefore time.Time
	SeenAfter  time.Time
	// Text matches a substring of id, hostname or description (case-insensitive).
	Text  string
	Limit int // 0 = no limit
	// After is a cursor: the id of an endpoint, whose position in the
	// list's order (RegisteredAt, ID) the list starts after. It need not
	// match the other fields.
	After string
}

// FiltersInGo reports whether f has fields a SQL store applies in Go after
// its query (From and Text: a prefix test and a case-insensitive substring
// are awkward to index). Such a store then must not limit its query, and
// passes the rows to KeepMatching.
func (f *EndpointFilter) FiltersInGo() bool { return f.From.IsValid() || f.Text != "" }

// KeepMatching keeps, in order, the endpoints of es that match f's From
// and Text, at most f.Limit of them (0 = all); it reuses es's array and
// returns nil for none. Both SQL stores use it, so they agree on what
// matches.
func (f *EndpointFilter) KeepMatching(es []Endpoint) []Endpoint {
	text := strings.ToLower(f.Text)
	out := es[:0]
	for _, e := range es {
		if f.From.IsValid() && !prefixHolds(f.From, e.RegisteredFrom) {
			continue
		}
		if text != "" && !strings.Contains(strings.ToLower(e.ID), text) &&
			!strings.Contains(strings.ToLower(e.Hostname), text) &&
			!strings.Contains(strings.ToLower(e.Description), text) {
			continue
		}
		out = append(out, e)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// prefixHolds reports whether the address in s (an IP, or IP:port) lies in
// p. IPv4-mapped IPv6 addresses count as IPv4.
func prefixHolds(p netip.Prefix, s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return false
		}
		a = ap.Addr()
	}
	return p.Contains(a.WithZone("").Unmap())
}

// AuditFilter selects audit events; zero fields match anything.
type AuditFilter struct {
	AccountIDs []string
	Action     string // exact, or a prefix ending in "." ("endpoint.")
	Actor      string // exact
	Target     string // exact
	Outcome    string // exact
	// Endpoint selects one endpoint's whole history: events whose target is
	// "endpoint:<id>" or the bare id (rows written before issue 12), or
	// whose actor is "endpoint:<id>".
	Endpoint string
	Since    time.Time // inclusive
	Until    time.Time // exclusive
	AfterID  int64     // exclusive
	BeforeID int64     // exclusive
	// Desc orders the events newest first (by ID, descending); Limit then
	// keeps the newest.
	Desc  bool
	Limit int
}
