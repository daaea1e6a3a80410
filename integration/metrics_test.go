package integration

// Prometheus metrics (issue 16): `edgetrust-broker serve --metrics-listen
// HOST:PORT` answers GET http://HOST:PORT/metrics in the Prometheus text
// format, and what agents and admins do moves it.

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// promScrape GETs url and returns one value per series, keyed
// `name{label="value",...}` with labels sorted (histograms: name_count).
func promScrape(t *testing.T, c *http.Client, url string) (map[string]float64, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s: %s, Content-Type %q; want 200 and the Prometheus text format", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: not the Prometheus text format: %v", url, err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+`="`+l.GetValue()+`"`)
			}
			sort.Strings(ls)
			key := name
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[strings.Replace(key, name, name+"_count", 1)] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out, nil
}

func TestMetricsEndpoint(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
	var addr string
	waitFor(t, settle, "the broker's metrics listening line", func() bool {
		for _, l := range strings.Split(b.stdout.String(), "\n") {
			if v, ok := strings.CutPrefix(l, "metrics listening "); ok {
				addr = v
			}
		}
		return addr != ""
	})
	url := "http://" + addr + "/metrics"
	c := &http.Client{Timeout: 10 * time.Second}
	got, err := promScrape(t, c, url)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for k, v := range got {
		found = found || (strings.HasPrefix(k, "edgetrust_build_info{") && v == 1)
	}
	if !found || got["edgetrust_fail_closed"] != 0 || got[`edgetrust_registrations_total{outcome="pending"}`] != 0 {
		t.Fatalf("first scrape: build_info %v, fail_closed %v, pending registrations %v", found, got["edgetrust_fail_closed"], got[`edgetrust_registrations_total{outcome="pending"}`])
	}

	// An agent registers (pending) and stays connected; an admin approves
	// it and the decision is pushed.
	adm := newAdmin(t, b)
	k := adm.createKey()
	ag := startAgent(t, b, k.Value)
	id := ag.waitState(t, "pending", settle).EndpointID
	want := func(what string, keys map[string]float64) {
		t.Helper()
		waitFor(t, settle, what, func() bool {
			got, err := promScrape(t, c, url)
			if err != nil {
				return false
			}
			for k, v := range keys {
				if got[k] != v {
					return false
				}
			}
			return true
		})
	}
	want("a pending registration and a connected agent in /metrics", map[string]float64{
		`edgetrust_registrations_total{outcome="pending"}`: 1,
		`edgetrust_pending_endpoints_all`:                  1,
		`edgetrust_agents_connected`:                       1,
	})
	adm.run("endpoints", "approve", id)
	ag.waitState(t, "trusted", settle)
	want("the approval and its push in /metrics", map[string]float64{
		`edgetrust_decisions_total{action="approve",outcome="success"}`: 1,
		`edgetrust_pending_endpoints_all`:                               0,
		`edgetrust_push_latency_seconds_count`:                          1,
	})

	// Not on the public port unless asked (--metrics-public).
	pem, err := os.ReadFile(b.caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get("https://" + b.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), "edgetrust_build_info") {
		t.Errorf("the public port serves /metrics without --metrics-public")
	}
}
