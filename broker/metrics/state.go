package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	pendingDesc = prometheus.NewDesc(Namespace+"_pending_endpoints",
		"Endpoints waiting for an admin's decision, per top-level account (the root, and each vendor directly below it; customers count under their vendor), read from the store at scrape time.",
		[]string{"account_id", "account"}, nil)
	pendingTotalDesc = prometheus.NewDesc(Namespace+"_pending_endpoints_all",
		"Endpoints waiting for an admin's decision, in all accounts.", nil, nil)
	failClosedDesc = prometheus.NewDesc(Namespace+"_fail_closed",
		"1 while the broker refuses registrations and logins because it cannot read fresh state (shared database out of reach; /readyz answers 503), else 0.",
		nil, nil)
	scrapeErrorDesc = prometheus.NewDesc(Namespace+"_pending_scrape_error",
		"1 when the last scrape could not read the pending counts from the store, else 0.", nil, nil)
)

// stateCollector reads the registry at scrape time: pending counts and
// the fail-closed state. Its cost is one read transaction per scrape,
// bounded by timeout, and a bounded number of series (PendingCounts folds
// customers into their top-level account).
type stateCollector struct {
	mu      sync.Mutex
	src     Source
	timeout time.Duration
}

func (c *stateCollector) attach(src Source) {
	c.mu.Lock()
	c.src = src
	c.mu.Unlock()
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- pendingTotalDesc
	ch <- failClosedDesc
	ch <- scrapeErrorDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	src := c.src
	c.mu.Unlock()
	if src == nil {
		return
	}
	closed := 0.0
	if src.Fresh() != nil {
		closed = 1
	}
	ch <- prometheus.MustNewConstMetric(failClosedDesc, prometheus.GaugeValue, closed)
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	groups, err := src.PendingCounts(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.GaugeValue, 0)
	total := 0
	for _, g := range groups {
		total += g.Pending
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(g.Pending), g.AccountID, g.AccountName)
	}
	ch <- prometheus.MustNewConstMetric(pendingTotalDesc, prometheus.GaugeValue, float64(total))
}
