package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/web"
)

func prefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		p, err := web.ParseTrustedProxy(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func TestClientAddr(t *testing.T) {
	proxies := prefixes(t, "10.0.0.0/8", "fd00::/8", "192.0.2.7")
	cases := []struct {
		name    string
		peer    string
		headers map[string][]string
		want    string
	}{
		{"no headers", "198.51.100.1", nil, "198.51.100.1"},
		{"spoofed X-Forwarded-For from an untrusted peer", "198.51.100.1",
			map[string][]string{"X-Forwarded-For": {"10.1.2.3"}}, "198.51.100.1"},
		{"spoofed Forwarded from an untrusted peer", "198.51.100.1",
			map[string][]string{"Forwarded": {"for=10.1.2.3"}}, "198.51.100.1"},
		{"listed proxy: X-Forwarded-For counts", "10.0.0.5",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9"}}, "203.0.113.9"},
		{"listed single address", "192.0.2.7",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9"}}, "203.0.113.9"},
		{"the right-most untrusted hop wins over a forged left part", "10.0.0.5",
			map[string][]string{"X-Forwarded-For": {"1.1.1.1, 203.0.113.9, 10.9.9.9"}}, "203.0.113.9"},
		{"several header lines are one list", "10.0.0.5",
			map[string][]string{"X-Forwarded-For": {"1.1.1.1", "203.0.113.9", "10.9.9.9"}}, "203.0.113.9"},
		{"every hop trusted: the left-most", "10.0.0.5",
			map[string][]string{"X-Forwarded-For": {"10.3.3.3, 10.9.9.9"}}, "10.3.3.3"},
		{"garbage hop: the proxy that recorded it", "10.0.0.5",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9, nonsense, 10.9.9.9"}}, "10.9.9.9"},
		{"garbage next to the peer: the peer", "10.0.0.5",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9, nonsense"}}, "10.0.0.5"},
		{"empty header", "10.0.0.5", map[string][]string{"X-Forwarded-For": {""}}, "10.0.0.5"},
		{"address with a port", "10.0.0.5",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9:4711"}}, "203.0.113.9"},
		{"Forwarded with quoted IPv6 and port", "10.0.0.5",
			map[string][]string{"Forwarded": {`for="[2001:db8:cafe::17]:4711";proto=https, for=10.2.2.2;by=10.0.0.5`}}, "2001:db8:cafe::17"},
		{"Forwarded is preferred to X-Forwarded-For", "10.0.0.5",
			map[string][]string{"Forwarded": {"For=203.0.113.9"}, "X-Forwarded-For": {"198.51.100.77"}}, "203.0.113.9"},
		{"Forwarded obfuscated identifier", "10.0.0.5",
			map[string][]string{"Forwarded": {"for=_hidden, for=unknown"}}, "10.0.0.5"},
		{"IPv6 proxy, mapped IPv4 client", "fd00::1",
			map[string][]string{"X-Forwarded-For": {"::ffff:203.0.113.9"}}, "203.0.113.9"},
		{"IPv4-mapped peer is the IPv4 proxy", "::ffff:10.0.0.5",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9"}}, "203.0.113.9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for k, vs := range c.headers {
				for _, v := range vs {
					h.Add(k, v)
				}
			}
			got := web.ClientAddr(netip.MustParseAddr(c.peer), h, proxies)
			if d := cmp.Diff(c.want, got.String()); d != "" {
				t.Errorf("client (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseTrustedProxy(t *testing.T) {
	cases := []struct{ in, want string }{
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"192.0.2.7", "192.0.2.7/32"},
		{"fd00::/8", "fd00::/8"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"nonsense", "error"},
		{"10.0.0.0/33", "error"},
		{"", "error"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			p, err := web.ParseTrustedProxy(c.in)
			got := p.String()
			if err != nil {
				got = "error"
			}
			if d := cmp.Diff(c.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// TestMuxGivesHandlersTheClientAddr runs requests through a Mux on a real
// listener (the peer is 127.0.0.1) with and without 127.0.0.1 listed.
func TestMuxGivesHandlersTheClientAddr(t *testing.T) {
	type seen struct{ Remote, Peer, XFF, Forwarded string }
	cases := []struct {
		name    string
		trusted []netip.Prefix
		want    seen
	}{
		{"untrusted peer: headers ignored and removed", nil, seen{Remote: "127.0.0.1", Peer: "127.0.0.1"}},
		{"listed proxy: the header names the client", prefixes(t, "127.0.0.0/8"), seen{Remote: "203.0.113.9:0", Peer: "127.0.0.1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := web.New(web.Config{TrustedProxies: c.trusted})
			got := make(chan seen, 1)
			m.Handle("GET /who", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				remote := r.RemoteAddr
				if ap, err := netip.ParseAddrPort(remote); err == nil && ap.Port() != 0 {
					remote = ap.Addr().String() // the peer's own port varies
				}
				got <- seen{Remote: remote, Peer: web.Peer(r.Context()).String(), XFF: r.Header.Get("X-Forwarded-For"), Forwarded: r.Header.Get("Forwarded")}
			}))
			srv := httptest.NewServer(m)
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL+"/who", nil)
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if d := cmp.Diff(c.want, <-got); d != "" {
				t.Errorf("what the handler saw (-want +got):\n%s", d)
			}
		})
	}
}

// FuzzClientAddr: ClientAddr never panics, believes no header from a peer
// that is not a listed proxy, and otherwise answers the peer or an address
// that a header names.
func FuzzClientAddr(f *testing.F) {
	f.Add("10.0.0.5", "203.0.113.9, 10.9.9.9", "")
	f.Add("10.0.0.5", "", `for="[2001:db8::17]:4711";proto=https, for=10.2.2.2`)
	f.Add("198.51.100.1", "10.1.2.3", "for=10.1.2.3")
	f.Add("10.0.0.5", "nonsense,,,", `for="unterminated`)
	f.Add("::ffff:10.0.0.5", "::ffff:203.0.113.9", "")
	proxies := prefixes(f, "10.0.0.0/8", "fd00::/8")
	f.Fuzz(func(t *testing.T, peer, xff, fwd string) {
		p, err := netip.ParseAddr(peer)
		if err != nil {
			return
		}
		h := http.Header{}
		if xff != "" {
			h.Set("X-Forwarded-For", xff)
		}
		if fwd != "" {
			h.Set("Forwarded", fwd)
		}
		got := web.ClientAddr(p, h, proxies)
		if got == p.Unmap() {
			return
		}
		trustedPeer := false
		for _, pr := range proxies {
			trustedPeer = trustedPeer || pr.Contains(p.Unmap())
		}
		if !trustedPeer {
			t.Fatalf("peer %s is no proxy, yet the client is %s", p, got)
		}
		if !got.IsValid() || got.Is4In6() || !containsAddr(xff+fwd, got) {
			t.Fatalf("client %s is named by no header (%q, %q)", got, xff, fwd)
		}
	})
}

// containsAddr reports whether s names a in some spelling (IPv6 text has
// several).
func containsAddr(s string, a netip.Addr) bool {
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(` ,;="[]`, r) }) {
		if b, err := netip.ParseAddr(f); err == nil && b.Unmap() == a {
			return true
		}
		if ap, err := netip.ParseAddrPort(f); err == nil && ap.Addr().Unmap() == a {
			return true
		}
	}
	return false
}
