package registry

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an Error; each transport maps a Kind to its status or wire
// code in exactly one function.
type Kind int

// Error kinds.
const (
	KindInternal Kind = iota
	// KindInvalid: the request is malformed (bad field, bad type).
	KindInvalid
	// KindInvalidClient: the API key was refused (SPEC K8). Every reason
	// looks the same to the caller.
	KindInvalidClient
	// KindUnauthenticated: no valid user credentials or token.
	KindUnauthenticated
	// KindNotFound: no such resource visible to the caller.
	KindNotFound
	// KindPermission: the caller sees the resource but may not do this.
	KindPermission
	// KindConflict: the transition is not allowed from the current state.
	KindConflict
	// KindAccessDenied: the endpoint is not trusted now (or was rejected).
	KindAccessDenied
	// KindPending: the endpoint awaits approval (authorization_pending).
	KindPending
	// KindExpired: the device code expired (expired_token).
	KindExpired
	// KindInvalidGrant: refresh token or device token unusable.
	KindInvalidGrant
	// KindUnknownUser: session login for an unknown user where creation is off.
	KindUnknownUser
	// KindLoginRefused: the device may not vouch for this user (S3a).
	KindLoginRefused
	// KindRateLimited: too many attempts.
	KindRateLimited
	// KindQuota: a licensed quota would be exceeded.
	KindQuota
	// KindUnavailable: the broker cannot read fresh state (its database or
	// the cluster's change feed has been out of reach for longer than the
	// bound), so it refuses rather than answer from what may be stale.
	KindUnavailable
	// KindLimited: too many failed key presentations from the caller's
	// address or for the key's public id (issue 15). Every reason looks the
	// same; RetryAfter tells when to try again. HTTP 429 with Retry-After
	// (OAuth: slow_down), QUIC CodeKeyLimited.
	KindLimited
)

var kindNames = map[Kind]string{
	KindInternal: "internal", KindInvalid: "invalid", KindInvalidClient: "invalid_client",
	KindUnauthenticated: "unauthenticated", KindNotFound: "not_found", KindPermission: "permission",
	KindConflict: "conflict", KindAccessDenied: "access_denied", KindPending: "authorization_pending",
	KindExpired: "expired_token", KindInvalidGrant: "invalid_grant", KindUnknownUser: "unknown_user",
	KindLoginRefused: "login_refused", KindRateLimited: "rate_limited", KindQuota: "quota",
	KindUnavailable: "unavailable", KindLimited: "limited",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is the registry's one error type. Msg is safe to show to the caller;
// Err (the cause) is for logs only and never reaches a client.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an *Error.
func E(kind Kind, msg string, cause error) *Error { return &Error{Kind: kind, Msg: msg, Err: cause} }

// KindOf returns the Kind of the first *Error in err's chain, or KindInternal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// PublicMessage returns the text safe to show a client for err.
func PublicMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Kind != KindInternal {
		return e.Msg
	}
	return "internal error"
}

// retryAfter is the cause of a KindLimited or KindRateLimited error that
// says when to try again.
type retryAfter struct {
	after time.Duration
	cause error
}

func (r *retryAfter) Error() string {
	if r.cause != nil {
		return fmt.Sprintf("retry after %s: %v", r.after, r.cause)
	}
	return fmt.Sprintf("retry after %s", r.after)
}

func (r *retryAfter) Unwrap() error { return r.cause }

// RetryAfter returns how long a limited caller should wait (for the
// Retry-After header or the QUIC error's retry_after), rounded up to whole
// seconds, or 0 when err says nothing about it.
func RetryAfter(err error) time.Duration {
	var ra *retryAfter
	if !errors.As(err, &ra) {
		return 0
	}
	return (ra.after + time.Second - 1).Truncate(time.Second)
}
