package integration

// Forwarded addresses (issue 15, SPEC R14): X-Forwarded-For and Forwarded
// name the client only when the TCP peer is a proxy listed with
// --trusted-proxy.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/protocol"
)

// httpsFrom is an HTTPS client trusting b whose connections come from
// the local address ip.
func httpsFrom(t *testing.T, b *brokerProc, ip string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(b.caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

func TestForwardedAddressCountsOnlyFromTrustedProxy(t *testing.T) {
	if l, err := net.Listen("tcp", "127.0.0.2:0"); err != nil {
		t.Skipf("127.0.0.2 is not a local address here: %v", err)
	} else {
		l.Close()
	}
	b := startBroker(t, t.TempDir(), "127.0.0.1:0", "--trusted-proxy", "127.0.0.2")
	a := newAdmin(t, b)
	k := a.createKey("--auto-trust", "--allowed-ip", "203.0.113.9/32")

	cases := []struct {
		name   string
		from   string // local address of the TCP connection
		header string // a forwarding header, "Name: value"
		status int
		remote string // the address the audit records
	}{
		{"direct caller claims the allowed address", "127.0.0.1", "X-Forwarded-For: 203.0.113.9", 401, "127.0.0.1"},
		{"direct caller claims it with Forwarded", "127.0.0.1", "Forwarded: for=203.0.113.9", 401, "127.0.0.1"},
		{"listed proxy forwards the allowed client", "127.0.0.2", "X-Forwarded-For: 198.51.100.1, 203.0.113.9", 200, "203.0.113.9"},
		{"listed proxy forwards another client", "127.0.0.2", "Forwarded: for=198.51.100.1", 401, "198.51.100.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := uuid.NewString()
			body := url.Values{"client_id": {id}, "client_secret": {k.Value}, "client_type": {protocol.ClientPrinter}, "response_type": {"device_code"}}.Encode()
			req, err := http.NewRequest("POST", "https://"+b.addr+"/oauth/v1/register", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			name, value, _ := strings.Cut(c.header, ": ")
			req.Header.Set(name, value)
			resp, err := httpsFrom(t, b, c.from).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, answer)
			}
			var events []struct {
				Remote string `json:"remote"`
			}
			a.jsonOut(&events, "audit", "--limit", "1", "--action", "endpoint.")
			if c.status != 200 {
				a.jsonOut(&events, "audit", "--limit", "1", "--outcome", "failure")
			}
			var got []string
			for _, e := range events {
				got = append(got, e.Remote)
			}
			if d := cmp.Diff([]string{c.remote}, got); d != "" {
				t.Errorf("audited address (-want +got):\n%s", d)
			}
		})
	}
	var eps []struct {
		RegisteredFrom string `json:"registered_from"`
	}
	a.jsonOut(&eps, "endpoints", "list")
	if len(eps) != 1 || eps[0].RegisteredFrom != "203.0.113.9" {
		raw, _ := json.Marshal(eps)
		t.Errorf("endpoints %s, want one registered from 203.0.113.9", raw)
	}
}
