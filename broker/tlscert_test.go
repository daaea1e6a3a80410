package broker

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestCertificateKeepsItsKeyAcrossRenewal(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	names := certNames("10.0.0.5", []string{"broker.example"})
	c1, fp1, err := loadOrCreateCert(dir, names, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"127.0.0.1", "::1", "10.0.0.5"} {
		if !slices.ContainsFunc(c1.Leaf.IPAddresses, net.ParseIP(want).Equal) {
			t.Errorf("certificate lacks IP %s: %v", want, c1.Leaf.IPAddresses)
		}
	}
	for _, want := range []string{"localhost", "broker.example"} {
		if !slices.Contains(c1.Leaf.DNSNames, want) {
			t.Errorf("certificate lacks name %s: %v", want, c1.Leaf.DNSNames)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "broker.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}

	cases := []struct {
		name    string
		names   []string
		at      time.Time
		reissue bool
	}{
		{"same names, same day", names, now, false},
		{"a new name", append(slices.Clone(names), "extra.example"), now, true},
		{"near expiry", names, now.Add(certValidity - 10*24*time.Hour), true},
	}
	prevSerial := c1.Leaf.SerialNumber
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, fp, err := loadOrCreateCert(dir, c.names, c.at)
			if err != nil {
				t.Fatal(err)
			}
			if fp != fp1 {
				t.Fatalf("fingerprint changed: %s -> %s", fp1, fp)
			}
			reissued := got.Leaf.SerialNumber.Cmp(prevSerial) != 0
			if reissued != c.reissue {
				t.Fatalf("reissued = %v, want %v", reissued, c.reissue)
			}
			prevSerial = got.Leaf.SerialNumber
		})
	}
}

func TestListenPairPicksOnePortForUDPAndTCP(t *testing.T) {
	udp, tcp, err := listenPair("127.0.0.1", "0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	defer tcp.Close()
	up := udp.LocalAddr().(*net.UDPAddr).Port
	tp := tcp.Addr().(*net.TCPAddr).Port
	if up != tp || up == 0 {
		t.Fatalf("UDP port %d, TCP port %d", up, tp)
	}
	// The same port again is taken: a clear error, not a silent other port.
	if _, _, err := listenPair("127.0.0.1", itoa(up)); err == nil {
		t.Fatal("second bind on a used port succeeded")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
