package protocol

import "slices"

// This file owns the words both sides of edgetrust share — client types,
// login types, event types — and, in key.go, the API key format and
// the one way a key value is masked for a log. The broker, the agent, the HTTP API types and edgetrustctl import
// them from here; none declares its own copy. Endpoint states are above
// (StatePending …), as they appear on the wire.

// Client types an endpoint registers as (SPEC E1).
const (
	ClientDesktop          = "desktop_client"
	ClientServer           = "server" // a secondary gateway
	ClientPrinter          = "printer"
	ClientEmbeddedTerminal = "embedded_terminal"
	ClientEdgeBridge       = "edge_bridge"
	ClientChromeExtension  = "chrome_extension"
	ClientMobileDevice     = "mobile_device"
)

// ClientTypes returns every client type, in the order of SPEC E1.
func ClientTypes() []string {
	return []string{ClientDesktop, ClientServer, ClientPrinter, ClientEmbeddedTerminal,
		ClientEdgeBridge, ClientChromeExtension, ClientMobileDevice}
}

// ValidClientType reports whether t is a client type of SPEC E1.
func ValidClientType(t string) bool { return slices.Contains(ClientTypes(), t) }

// Login types (SPEC S1). The first three are session types: the operating
// system tells who is logged in.
const (
	LoginSessionUser       = "session_user"
	LoginSessionUserDomain = "session_user_domain"
	LoginUPN               = "upn"
	LoginPassword          = "password"
	LoginCardID            = "card_id"
	LoginShortID           = "short_id"
)

// LoginTypes returns every login type, in the order of SPEC S1.
func LoginTypes() []string {
	return []string{LoginSessionUser, LoginSessionUserDomain, LoginUPN, LoginPassword, LoginCardID, LoginShortID}
}

// SessionLoginType reports whether t is a session login type (SPEC S3:
// the agent derives the user from the kernel).
func SessionLoginType(t string) bool {
	return t == LoginSessionUser || t == LoginSessionUserDomain || t == LoginUPN
}

// Event types delivered to live watchers and webhooks (SPEC E7).
const (
	EventEndpointPending   = "endpoint.pending"
	EventEndpointTrusted   = "endpoint.trusted"
	EventEndpointRejected  = "endpoint.rejected"
	EventEndpointUntrusted = "endpoint.untrusted"
	EventEndpointDeleted   = "endpoint.deleted"
	// EventEndpointKeyChange: an endpoint's key change was asked for or decided (SPEC E4).
	EventEndpointKeyChange = "endpoint.key_change"
	// EventEndpointCloneSuspected: two copies of an endpoint's identity
	// were seen refreshing from one token (SPEC R24, docs/clones.md).
	EventEndpointCloneSuspected = "endpoint.clone_suspected"
	EventAPIKeyCreated          = "apikey.created"
	EventAPIKeyUpdated          = "apikey.updated"
	EventAPIKeyDeleted          = "apikey.deleted"
	// EventAPIKeyExpiring: a key or one of its values expires within a week.
	EventAPIKeyExpiring = "apikey.expiring"
)

// EndpointEvent returns the event type of an endpoint entering state (one
// of the State constants).
func EndpointEvent(state string) string { return "endpoint." + state }
