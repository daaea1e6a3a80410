package packaging

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/edgetrust/edgetrust/broker/metrics"
)

// metricName finds the edgetrust metric names in a PromQL expression.
var metricName = regexp.MustCompile(`\bedgetrust_[a-z0-9_]+`)

// knownMetrics are the metric names docs/metrics.md lists in its table,
// and those the broker's registry gathers.
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if m := regexp.MustCompile("^\\| `(edgetrust_[a-z0-9_]+)` \\|").FindStringSubmatch(line); m != nil {
			known[m[1]] = true
		}
	}
	fams, err := metrics.New(metrics.Config{}).Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "edgetrust_") && !known[f.GetName()] {
			t.Errorf("%s is registered but not in docs/metrics.md", f.GetName())
			known[f.GetName()] = true
		}
	}
	if len(known) < 10 {
		t.Fatalf("docs/metrics.md lists only %v: has its table changed?", known)
	}
	return known
}

// checkNames fails for each metric name in expr that is neither documented
// nor registered; a histogram's series (_bucket, _count, _sum) name it.
func checkNames(t *testing.T, where, expr string, known map[string]bool) int {
	t.Helper()
	names := metricName.FindAllString(expr, -1)
	for _, n := range names {
		base := n
		for _, suf := range []string{"_bucket", "_count", "_sum"} {
			if b, ok := strings.CutSuffix(n, suf); ok && known[b] {
				base = b
			}
		}
		if !known[base] {
			t.Errorf("%s uses %s, which docs/metrics.md does not list and the broker does not register", where, n)
		}
	}
	return len(names)
}

// TestDashboard: the Grafana dashboard is JSON, and every metric its
// panels query is one the broker exports (or documents).
func TestDashboard(t *testing.T) {
	data, err := os.ReadFile("grafana/edgetrust-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard without title, uid or panels: %+v", dash)
	}
	known := knownMetrics(t)
	used := 0
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			used += checkNames(t, "panel "+p.Title, tg.Expr, known)
		}
	}
	if used == 0 {
		t.Error("the dashboard uses no edgetrust metric")
	}
}

// TestAlertRules: the alerting rules parse as YAML in Prometheus's rule
// file shape, cover what issue 16 asks for, and name only metrics the
// broker exports (or documents: webhook deliveries are counted by the
// webhook sender under the name agreed in docs/metrics.md).
func TestAlertRules(t *testing.T) {
	data, err := os.ReadFile("prometheus/edgetrust-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.UnmarshalWithOptions(data, &file, yaml.Strict()); err != nil {
		t.Fatalf("the rules are not YAML of Prometheus's rule file shape: %v", err)
	}
	known := knownMetrics(t)
	var alerts []string
	exprs := map[string]string{}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %+v: want alert, expr, a severity label and a summary", r)
			}
			alerts = append(alerts, r.Alert)
			exprs[r.Alert] = r.Expr
			checkNames(t, "alert "+r.Alert, r.Expr, known)
		}
	}
	for alert, metric := range map[string]string{
		"EdgetrustBrokerFailingClosed":      "edgetrust_fail_closed",
		"EdgetrustPushLatencyHigh":          "edgetrust_push_latency_seconds_bucket",
		"EdgetrustPendingQueueGrowing":      "edgetrust_pending_endpoints_all",
		"EdgetrustWebhookDeliveriesFailing": `edgetrust_webhook_deliveries_total{outcome="failure"}`,
	} {
		if !slices.Contains(alerts, alert) {
			t.Errorf("no alert %s", alert)
		} else if !strings.Contains(exprs[alert], metric) {
			t.Errorf("alert %s: expr %q does not use %s", alert, exprs[alert], metric)
		}
	}
}
