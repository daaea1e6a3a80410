// Package logfield names the fields of edgetrust's structured logs, once
// for the broker and the agent, so that one query finds one thing in every
// log ("endpoint_id" is always the endpoint, whoever logged it). Secrets
// never go into a field by name; they are logged only through masking
// types (protocol.MaskKey).
package logfield

// Field names, grouped by what they describe.
const (
	// Requests and connections.
	Method   = "method"
	Path     = "path"
	Status   = "status"
	Duration = "duration"
	Remote   = "remote"
	Peer     = "peer" // the TCP peer when a listed proxy named the client (Remote)
	Frame    = "frame"
	Seq      = "seq"
	Panic    = "panic"

	// Outcomes.
	Kind          = "kind"
	Error         = "error"
	Reason        = "reason"
	KeyRefusal    = "key_refusal_reason"
	RetryIn       = "retry_in"
	ExpiresIn     = "expires_in"
	MigrationVer  = "migration_version"
	MigrationName = "migration_name"
	Attempt       = "attempt"

	// Who and what.
	AccountID  = "account_id"
	ParentID   = "parent_id"
	OldName    = "old_name"
	NewName    = "new_name"
	UserID     = "user_id"
	User       = "user"
	UID        = "uid"
	EndpointID = "endpoint_id"
	ClientID   = "client_id"
	State      = "state"
	Type       = "type"
	Code       = "code"
	APIKey     = "api_key" // always a masked value
	Broker     = "broker"
	Addr       = "addr"
	Socket     = "socket"
	StateDir   = "state_dir"
	// Store is the broker's store: "sqlite", or a PostgreSQL URL without
	// its password and query.
	Store = "store"
	// Channel is a PostgreSQL NOTIFY channel.
	Channel = "channel"
)

// Webhooks (SPEC E7).
const (
	WebhookID  = "webhook_id"
	DeliveryID = "delivery_id"
)
