package registry

import "time"

// DeviceCode is the device code an HTTP registration hands out (SPEC E3):
// the device exchanges it at /oauth/v1/token once its endpoint is trusted.
// Only the hash of the code is stored. The key fields are the key the
// registrant presented ("" = none): the endpoint's key, or the new key of a
// pending key change (E4). A device code is consumed when tokens are issued
// for it.
type DeviceCode struct {
	Hash          []byte
	EndpointID    string
	AccountID     string
	KeyType       string
	PublicKey     []byte
	KeyThumbprint string
	// Interval is the polling interval the registrant was told.
	Interval   time.Duration
	IssuedAt   time.Time
	ExpiresAt  time.Time
	UsedAt     time.Time
	LastPollAt time.Time // the last poll answered authorization_pending
}

// KeyChange is a pending change of an endpoint's public key (SPEC E4): an
// unsigned registration for a known client id with another key, or without
// a key for an endpoint that has none (issue 10). The old key stays in
// force until an admin approves the change. An endpoint has at most one:
// the first stays until it is decided.
type KeyChange struct {
	EndpointID string
	AccountID  string
	KeyType    string // "" for a keyless re-registration
	PublicKey  []byte
	// KeyThumbprint is the new key's RFC 7638 thumbprint, or for a keyless
	// re-registration a "keyless-…" marker naming that one request (its
	// device code carries the same): the fingerprint an admin approves.
	KeyThumbprint string
	KeyID         string // API key of the registration that asked for it
	KeyValueID    string
	// What the registration said about the device; approval applies it.
	Description   string
	Hostname      string
	OS            string
	Version       string
	RequestedAt   time.Time
	RequestedFrom string
}

// OAuthTx is the part of Tx that the HTTP device flow (SPEC E3, E4, T4)
// needs. Device codes and key changes belong to an endpoint: deleting the
// endpoint deletes them.
type OAuthTx interface {
	// PutDeviceCode stores a device code, replacing the code of the same
	// endpoint and key thumbprint (one live code per endpoint and key).
	// ErrNotFound when the endpoint does not exist.
	PutDeviceCode(dc *DeviceCode) error
	// GetDeviceCode returns the code with this hash, or ErrNotFound.
	GetDeviceCode(hash []byte) (*DeviceCode, error)
	// RecordDevicePoll sets LastPollAt to at, in one conditional update that
	// requires LastPollAt to be unset or not after notAfter. It returns
	// ErrConflict when the previous poll was too recent (slow_down) and
	// ErrNotFound when there is no such code.
	RecordDevicePoll(hash []byte, at, notAfter time.Time) error
	// ConsumeDeviceCode sets UsedAt to at, in one conditional update that
	// requires the code unused and unexpired. ErrConflict when it was used
	// or has expired; ErrNotFound when there is no such code.
	ConsumeDeviceCode(hash []byte, at time.Time) error

	// CreateKeyChange stores the pending key change of an endpoint, in one
	// conditional insert that requires the endpoint to have none: it
	// returns ErrConflict, changing nothing, when one is pending (a pending
	// change is never replaced), and ErrNotFound when the endpoint does not
	// exist.
	CreateKeyChange(kc *KeyChange) error
	// GetKeyChange returns the pending key change of an endpoint, or ErrNotFound.
	GetKeyChange(endpointID string) (*KeyChange, error)
	// ListKeyChanges lists the pending key changes of the given accounts
	// (nil = every account), ordered by RequestedAt, then EndpointID.
	ListKeyChanges(accountIDs []string) ([]KeyChange, error)
	// DeleteKeyChange removes an endpoint's pending key change, in one
	// conditional delete that requires its KeyThumbprint to be thumbprint
	// ("" = whichever is pending). ErrNotFound when there is none;
	// ErrConflict, changing nothing, when the pending one has another
	// thumbprint.
	DeleteKeyChange(endpointID, thumbprint string) error
	// RebindDeviceCode moves the device code of an endpoint issued for the
	// thumbprint `from` to the thumbprint `to`, replacing a code the
	// endpoint has for `to` (an approved keyless re-registration: its code
	// now answers for the keyless endpoint). ErrNotFound when the endpoint
	// has no code for `from`.
	RebindDeviceCode(endpointID, from, to string) error

	// GetRefreshToken returns the refresh token with this hash without
	// consuming it, or ErrNotFound.
	GetRefreshToken(hash []byte) (*RefreshToken, error)
	// RevokeAccessToken records that the access token with this jti is
	// revoked until it expires at expiresAt. Revoking twice is not an error.
	RevokeAccessToken(jti string, expiresAt time.Time) error
	// AccessTokenRevoked reports whether the access token with this jti was revoked.
	AccessTokenRevoked(jti string) (bool, error)

	// RecordDPoPProof records that the DPoP proof with this id (a digest of
	// the key thumbprint and the proof's jti, SPEC T3) was seen, and keeps
	// it until expiresAt. It returns ErrConflict, changing nothing, when the
	// id was recorded before, so a proof is accepted once across every
	// broker sharing the store.
	RecordDPoPProof(id string, expiresAt time.Time) error
	// PurgeDPoPProofs deletes the proof ids kept until before `before` and
	// returns how many it deleted.
	PurgeDPoPProofs(before time.Time) (int, error)

	// ListRefreshChains summarises the chains of refresh tokens of one
	// subject that are live at `at` (they hold a token unused, unrevoked and
	// unexpired at `at`): a user's sessions (SPEC S6). Ordered by
	// StartedAt, then ChainID.
	ListRefreshChains(subjectType, subjectID string, at time.Time) ([]RefreshChain, error)
	// GetRefreshChain summarises one chain; Live tells whether it is live
	// at `at`. ErrNotFound when no token has this chain id.
	GetRefreshChain(chainID string, at time.Time) (*RefreshChain, error)
	// RefreshChainRevoked reports whether any token of the chain is revoked
	// (the session was ended, or a spent token of it was reused). A chain
	// without tokens is not revoked.
	RefreshChainRevoked(chainID string) (bool, error)
}

// RefreshChain summarises a chain of refresh tokens rotated from one
// another: one sign-in or login and its refreshes, which the API shows as a
// session (SPEC S6).
type RefreshChain struct {
	ChainID     string
	SubjectType string
	SubjectID   string
	AccountID   string
	EndpointID  string    // the endpoint a user's login came through, if any
	StartedAt   time.Time // IssuedAt of its first token
	RefreshedAt time.Time // IssuedAt of its latest token
	ExpiresAt   time.Time // the latest ExpiresAt of its tokens
	Revoked     bool      // some token of it is revoked
	Live        bool      // it holds a token unused, unrevoked and unexpired
}
