package web

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Client addresses (SPEC R14). The address a request came from decides
// allowed-IP checks (SPEC K8), sign-in throttling per address and what the
// audit and the endpoint list record. It is the TCP peer, unless the peer
// is a proxy the operator listed (Config.TrustedProxies, serve
// --trusted-proxy): then Forwarded (RFC 7239) or, without it,
// X-Forwarded-For names it, read from the right, skipping every hop that
// is itself a listed proxy. Anyone else can write those headers, so from
// any other peer they are ignored — and removed, so that no handler can
// read them by mistake.

// ParseTrustedProxy parses one --trusted-proxy value: a CIDR prefix
// ("10.0.0.0/8", "fd00::/8") or a single address ("192.0.2.7").
func ParseTrustedProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q: want an address or CIDR prefix, e.g. 10.0.0.0/8", s)
		}
		return netip.PrefixFrom(p.Addr().Unmap(), unmappedBits(p)).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q: want an address or CIDR prefix, e.g. 10.0.0.0/8", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// unmappedBits is p's length once an IPv4-mapped IPv6 prefix is taken as
// the IPv4 prefix it is.
func unmappedBits(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return max(p.Bits()-96, 0)
	}
	return p.Bits()
}

// trusted reports whether a is in one of the prefixes.
func trusted(set []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range set {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddr returns the address a request comes from: peer, unless peer
// is in trustedSet and the forwarding headers of h name another. Forwarded
// is read when present, X-Forwarded-For otherwise; each header's lines are
// taken in order. The answer is the right-most hop that is not in
// trustedSet; when every hop is, the left-most. A right-most untrusted hop
// that is no address ("unknown", an obfuscated name, garbage) leaves the
// last trusted hop that recorded it: nothing further left can be believed.
func ClientAddr(peer netip.Addr, h http.Header, trustedSet []netip.Prefix) netip.Addr {
	peer = peer.Unmap()
	if !peer.IsValid() || !trusted(trustedSet, peer) {
		return peer
	}
	var hops []string
	if v := h.Values("Forwarded"); len(v) > 0 {
		hops = forwardedFor(v)
	} else {
		for _, line := range h.Values("X-Forwarded-For") {
			hops = append(hops, strings.Split(line, ",")...)
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			return client
		}
		client = a
		if !trusted(trustedSet, a) {
			return a
		}
	}
	return client
}

// forwardedFor returns the for= values of Forwarded header lines (RFC
// 7239 section 4), one per element, in order; an element without for=
// gives "" (no address).
func forwardedFor(lines []string) []string {
	var out []string
	for _, line := range lines {
		for _, elem := range splitQuoted(line, ',') {
			v := ""
			for _, pair := range splitQuoted(elem, ';') {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
					v = strings.Trim(strings.TrimSpace(val), `"`)
				}
			}
			out = append(out, v)
		}
	}
	return out
}

// splitQuoted splits s at sep outside double quotes.
func splitQuoted(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			quoted = !quoted
		case s[i] == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// parseHop parses one hop: an address, with or without a port, IPv6 with
// or without brackets.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

type peerKey struct{}

// Peer returns the address of the TCP peer of a request served by a Mux
// (a proxy, when the client address came from a forwarding header), or
// the zero Addr outside a Mux.
func Peer(ctx context.Context) netip.Addr {
	a, _ := ctx.Value(peerKey{}).(netip.Addr)
	return a
}

// withClientAddr returns r as handlers see it: RemoteAddr is the client's
// address (ClientAddr; port 0 when it came from a header), the peer is in
// the context (Peer), and the forwarding headers are gone.
func (m *Mux) withClientAddr(r *http.Request) *http.Request {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r
	}
	peer := ap.Addr().Unmap()
	client := ClientAddr(peer, r.Header, m.trusted)
	r.Header.Del("Forwarded")
	r.Header.Del("X-Forwarded-For")
	r = r.WithContext(context.WithValue(r.Context(), peerKey{}, peer))
	if client != peer {
		r.RemoteAddr = netip.AddrPortFrom(client, 0).String()
	}
	return r
}
