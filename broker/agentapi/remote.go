package agentapi

import "net/netip"

// remote is the agent's address now. A QUIC connection outlives its
// address (RFC 9000 section 9: NAT rebinding, a client that migrates), so
// every request reads it afresh from quic-go rather than keeping the one
// of the handshake: a connection that moves to an address its key does not
// allow is refused on its next request (SPEC R14, K8), and the audit and
// "last seen from" name where the request came from.
func (ss *session) remote() netip.Addr { return remoteAddr(ss.conn.RemoteAddr()) }
