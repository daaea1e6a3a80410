package broker

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/store/sqlite"
)

// TestMetricsAddresses: --metrics-listen serves /metrics in plain HTTP on
// its own address (printed), and --metrics-public also on the HTTPS port.
func TestMetricsAddresses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		public bool
	}{{"own address only", false}, {"also public", true}} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "edgetrust.db")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			rb, done := startShared(t, st, Config{BootstrapAdminPassword: "metrics-test-password", MetricsListen: "127.0.0.1:0", MetricsPublic: tc.public})
			waitListening(t, rb, done)
			maddr := rb.out.get("metrics listening ")
			if maddr == "" {
				t.Fatal(`no "metrics listening HOST:PORT" line`)
			}
			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
			t.Cleanup(hc.CloseIdleConnections)
			get := func(url string) (int, string) {
				resp, err := hc.Get(url)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
				return resp.StatusCode, string(b)
			}
			if code, body := get("http://" + maddr + "/metrics"); code != 200 || !strings.Contains(body, "edgetrust_build_info") {
				t.Errorf("GET http://%s/metrics: %d, build_info %v", maddr, code, strings.Contains(body, "edgetrust_build_info"))
			}
			if _, body := get("https://" + rb.addr + "/metrics"); strings.Contains(body, "edgetrust_build_info") != tc.public {
				t.Errorf("the public port serves metrics: %v, want %v", !tc.public, tc.public)
			}
		})
	}
}
