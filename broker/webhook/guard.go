package webhook

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// The SSRF guard. Customer admins choose webhook URLs, so a broker must
// not become their way into the operator's network: every destination
// address is checked when the connection is dialled (net.Dialer.Control,
// after name resolution, so a name that resolves to 127.0.0.1 — or is
// rebound to it after the configuration was checked — is refused), and
// redirects are never followed. Loopback, private, link-local, CGNAT,
// unspecified and multicast addresses are refused unless an operator
// allowed a prefix holding them (--webhook-allow-cidr).

// Guard decides which destination addresses a delivery may reach.
type Guard struct {
	// Allow lists prefixes reachable even though they are internal.
	Allow []netip.Prefix
}

// special are internal ranges netip's predicates do not name.
var special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network"
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),  // NAT64: may map to an internal IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

// CheckAddr returns nil when a may be reached, or why not.
func (g Guard) CheckAddr(a netip.Addr) error {
	a = a.WithZone("").Unmap()
	for _, p := range g.Allow {
		if p.Contains(a) {
			return nil
		}
	}
	what := ""
	switch {
	case a.IsLoopback():
		what = "a loopback"
	case a.IsPrivate():
		what = "a private"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		what = "a link-local"
	case a.IsUnspecified():
		what = "an unspecified"
	case a.IsMulticast(), a.IsInterfaceLocalMulticast():
		what = "a multicast"
	}
	for _, p := range special {
		if what == "" && p.Contains(a) {
			what = "an internal"
		}
	}
	if what == "" {
		return nil
	}
	return fmt.Errorf("%s is %s address; webhooks may reach it only if the broker's operator allows it (--webhook-allow-cidr)", a, what)
}

// control is the net.Dialer.Control of deliveries: it runs for each
// address the dialer tries, after resolution.
func (g Guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook destination %q: %w", address, err)
	}
	if !strings.HasPrefix(network, "tcp") {
		return fmt.Errorf("webhook destination over %s refused", network)
	}
	return g.CheckAddr(ap.Addr())
}

// CheckURL refuses, at configuration, a URL whose host is a literal
// address or a localhost name the guard refuses (registry.Config's
// CheckWebhookURL). Other names are checked when dialled.
func (g Guard) CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return g.CheckAddr(netip.MustParseAddr("127.0.0.1"))
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return g.CheckAddr(a)
	}
	if ip := net.ParseIP(host); ip != nil { // forms netip refuses (e.g. with a zone)
		a, _ := netip.AddrFromSlice(ip)
		return g.CheckAddr(a)
	}
	return nil
}
