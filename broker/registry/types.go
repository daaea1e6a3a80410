package registry

import (
	"net/netip"
	"time"

	"github.com/edgetrust/edgetrust/protocol"
)

// State is an endpoint's trust state.
type State string

// Endpoint states (SPEC §3), as protocol names them on the wire.
const (
	StatePending   State = protocol.StatePending
	StateTrusted   State = protocol.StateTrusted
	StateRejected  State = protocol.StateRejected
	StateUntrusted State = protocol.StateUntrusted
	// StateDeleted never appears in the store; it is the state an Event
	// reports when an endpoint was deleted.
	StateDeleted State = protocol.StateDeleted
)

// AccountType places an account in the tree.
type AccountType string

// Account types.
const (
	AccountVendor   AccountType = "vendor"
	AccountCustomer AccountType = "customer"
)

// Account is a node of the vendor -> customer tree. ParentID is empty for the root.
type Account struct {
	ID                string
	ParentID          string
	Name              string
	Type              AccountType
	Disabled          bool
	TrustAllEndpoints bool // SPEC E2
	// DenyUserCreation turns off S7's creation of unknown users on their
	// first session login (default: users are created).
	DenyUserCreation bool
	Settings         AccountSettings
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// AccountSettings are an account's own limits and lifetimes. A zero field
// means "the broker's default" (lifetimes) or "no limit" (quotas, stale time).
type AccountSettings struct {
	DeviceTokenTTL time.Duration // SPEC T2
	UserTokenTTL   time.Duration
	RefreshTTL     time.Duration
	KeyQuota       int // SPEC K9: most API keys the account may hold
	EndpointQuota  int // SPEC K9: most endpoints the account may hold
	// StaleAfter marks endpoints not seen for this long as stale (SPEC E8);
	// with DeleteStale they are deleted instead.
	StaleAfter  time.Duration
	DeleteStale bool
	// RequireEndpointKeys refuses registrations without a public key
	// (SPEC T1).
	RequireEndpointKeys bool
	// RequireDPoP refuses the HCP-Request-Signature fallback for device
	// tokens bound to a key: logins prove possession with DPoP (or QUIC)
	// only (SPEC T3).
	RequireDPoP bool
	// LockOutClones untrusts an endpoint the moment a clone of it is
	// suspected (SPEC R24, docs/clones.md): both copies are refused until
	// an administrator decides. Off (the default), the endpoint is only
	// marked.
	LockOutClones bool

	// PendingPerKeyValue and PendingPerAccount cap the registrations
	// waiting for a decision (SPEC R8) made with one key value, and in the
	// account: past a cap a new pending registration is refused with an
	// error naming it. 0 = DefaultPendingPerKeyValue, DefaultPendingPerAccount.
	PendingPerKeyValue int
	PendingPerAccount  int
}

// The default caps on pending registrations (SPEC R8), and the most an
// account may set.
const (
	DefaultPendingPerKeyValue = 10_000
	DefaultPendingPerAccount  = 50_000
	MaxPendingCap             = 10_000_000
)

// User is a person in an account. PasswordHash is an encoded Argon2id hash, or
// empty for users who cannot sign in with a password.
type User struct {
	ID           string
	AccountID    string
	Username     string
	Domain       string
	UPN          string
	Email        string
	CardID       string // SPEC S4: card number, unique per account when set
	ShortID      string // SPEC S4: short id, unique per account when set
	PasswordHash string
	Source       string // "local", "session" (created by S7), "bootstrap"
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// User sources.
const (
	UserSourceLocal     = "local"
	UserSourceSession   = "session"
	UserSourceBootstrap = "bootstrap"
)

// Permission is one right a role grants (SPEC §1).
type Permission string

// Permissions.
const (
	PermViewAPIKey     Permission = "ViewApiKey"
	PermModifyAPIKey   Permission = "ModifyApiKey"
	PermDeleteAPIKey   Permission = "DeleteApiKey"
	PermViewEndpoint   Permission = "ViewEndpoint"
	PermModifyEndpoint Permission = "ModifyEndpoint"
	PermDeleteEndpoint Permission = "DeleteEndpoint"
	PermViewAccount    Permission = "ViewAccount"
	PermModifyAccount  Permission = "ModifyAccount"
	PermViewUser       Permission = "ViewUser"
	PermModifyUser     Permission = "ModifyUser"
	PermViewAuditLog   Permission = "ViewAuditLog"
)

// AllPermissions lists every permission, in a stable order.
var AllPermissions = []Permission{
	PermViewAPIKey, PermModifyAPIKey, PermDeleteAPIKey,
	PermViewEndpoint, PermModifyEndpoint, PermDeleteEndpoint,
	PermViewAccount, PermModifyAccount, PermViewUser, PermModifyUser,
	PermViewAuditLog,
}

// Role is a named set of permissions. AccountID is empty for built-in roles.
type Role struct {
	ID          string
	AccountID   string
	Name        string
	Permissions []Permission
	BuiltIn     bool
	CreatedAt   time.Time
}

// Built-in role ids (stable; created by Bootstrap).
const (
	RoleAdministrator = "role-administrator"
	RoleApprover      = "role-approver"
	RoleAuditor       = "role-auditor"
)

// Grant gives a user a role at an account; it applies to the account's subtree.
type Grant struct {
	UserID    string
	RoleID    string
	AccountID string
	CreatedAt time.Time
}

// KeyType is an API key's type (SPEC K1).
type KeyType string

// Key types.
const (
	KeyGeneral  KeyType = "general"
	KeyEmbedded KeyType = "embedded"
	KeyChrome   KeyType = "chrome"
	KeyEdge     KeyType = "edge"
)

// APIKey is a credential of an account (SPEC K1). The zero ExpiresAt means
// the key never expires; an empty AllowedIPs admits any address.
type APIKey struct {
	ID                      string
	AccountID               string
	Type                    KeyType
	Name                    string
	Description             string
	Group                   string
	Active                  bool
	AllowUnauthenticated    bool
	AllowUntrustedEndpoints bool
	AutoTrust               bool
	FullAPIAccess           bool
	ExpiresAt               time.Time
	AllowedIPs              []netip.Prefix
	RunAsUserID             string
	RunAsRoleID             string
	// Predefined marks the keys every customer account is created with
	// (SPEC K6): their values are never shown until regenerated.
	Predefined bool
	CreatedBy  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// KeyValue is one value of an API key (SPEC K2). Only SecretHash is stored;
// the value itself is shown once. Zero times mean "never"; UseLimit 0 means
// unlimited.
type KeyValue struct {
	ID           string
	KeyID        string
	PublicID     string
	SecretHash   []byte
	Description  string
	CreatedAt    time.Time
	ExpiresAt    time.Time
	RevokedAt    time.Time
	LastUsedAt   time.Time
	LastUsedFrom string
	UseCount     int64
	UseLimit     int64
	// EdgeDevice names the edge device whose own credential this value is
	// (SPEC K7); "" for ordinary values.
	EdgeDevice string
}

// Endpoint is a registered device; ID is the device's client_id.
type Endpoint struct {
	ID             string
	AccountID      string
	State          State
	Type           string
	Description    string
	Hostname       string
	OS             string
	Version        string
	KeyType        string // "" for endpoints registered without a key (unbound tokens)
	PublicKey      []byte
	KeyThumbprint  string // RFC 7638 SHA-256 thumbprint, base64url: the cnf.jkt of its tokens
	KeyID          string // API key it registered with
	KeyValueID     string
	RegisteredAt   time.Time
	RegisteredFrom string
	// ApprovedBy and ApprovedAt are the endpoint's last approval (an
	// admin's, or automatic trust at registration); only approvals set
	// them, so they survive an untrust (issue 12).
	ApprovedBy string
	ApprovedAt time.Time
	// LastDecision is the last trust decision ("approve", "reject",
	// "untrust"; "" for none yet), LastDecisionBy its actor and
	// LastDecisionAt its time.
	LastDecision   string
	LastDecisionBy string
	LastDecisionAt time.Time
	LastSeenAt     time.Time
	LastSeenFrom   string
	// DeviceCodeHash and DeviceCodeExpiresAt hold a pending registration's
	// device code (SPEC E3) for clients that poll over HTTP.
	DeviceCodeHash      []byte
	DeviceCodeExpiresAt time.Time
	UpdatedAt           time.Time
	// CloneSuspectedAt is when two copies of the endpoint's identity were
	// last seen refreshing from one token (SPEC R24, docs/clones.md); zero
	// for never, or since an administrator cleared the mark.
	CloneSuspectedAt time.Time
	// KeyName is the name of the key KeyID, which ListEndpoints and
	// GetEndpoint set for a caller who may view that key; not stored.
	KeyName string
}

// Subject types of tokens.
const (
	SubjectEndpoint = "endpoint"
	SubjectUser     = "user"
)

// RefreshToken is a single-use opaque refresh token; only its hash is stored.
// Tokens rotated from one another share a ChainID.
type RefreshToken struct {
	ID          string
	Hash        []byte
	ChainID     string
	SubjectType string
	SubjectID   string
	AccountID   string
	EndpointID  string // for user tokens: the endpoint the login came through, if any
	// ParentID is the token this one was issued in exchange for ("" for
	// the first of a chain): two used successors of one parent are two
	// holders of one identity (SPEC R24).
	ParentID  string
	IssuedAt  time.Time
	ExpiresAt time.Time
	UsedAt    time.Time
	RevokedAt time.Time
}

// AuditEvent is an append-only record of a change or a security decision.
// Detail never holds secrets.
type AuditEvent struct {
	ID        int64
	Time      time.Time
	Actor     string // "user:<id>", "key:<id>", "endpoint:<id>", "system"
	Action    string // dotted, stable: "endpoint.approve"
	AccountID string
	Target    string
	Outcome   string // "success" or "failure"
	Remote    string
	Detail    map[string]string
	// ActorName is the username of a "user:<id>" actor that still exists,
	// which ListAudit sets; not stored (the log keeps ids).
	ActorName string
	// Cursor is the row's place in the commit order, which
	// ListAuditChanges sets (passing it back returns the rows after this
	// one); zero from ListAudit.
	Cursor ChangeCursor
}

// Audit outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)
