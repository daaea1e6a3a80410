// Package metrics exports the broker's Prometheus metrics (issue 16;
// docs/metrics.md lists every one). A Metrics is the registry's Observer
// (registry.Observer): the registry and the agent API call it with label
// values from fixed sets, and it counts them; at scrape time it reads the
// pending registrations per top-level account from the registry and
// whether the broker fails closed. It is the only package that imports
// the Prometheus client: the domain stays free of it.
package metrics

import (
	"context"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// Namespace prefixes every metric name.
const Namespace = "edgetrust"

// Source is what a Metrics reads at scrape time: *registry.Registry.
type Source interface {
	PendingCounts(ctx context.Context) ([]registry.PendingGroup, error)
	Fresh() error
}

// Config configures a Metrics. Every field may be zero.
type Config struct {
	Version string // build_info's version ("" = "dev")
	// Source is read at scrape time for the pending counts and the
	// fail-closed state (nil = neither is exported; Attach sets it later).
	Source Source
	// ScrapeTimeout bounds the store read of one scrape (0 = 5 s).
	ScrapeTimeout time.Duration
}

// Metrics holds the broker's collectors. It is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	registrations *prometheus.CounterVec
	decisions     *prometheus.CounterVec
	logins        *prometheus.CounterVec
	keyRefusals   *prometheus.CounterVec
	rateLimited   *prometheus.CounterVec
	webhooks      *prometheus.CounterVec
	storeTx       *prometheus.HistogramVec
	agents        prometheus.Gauge
	push          prometheus.Histogram
	state         *stateCollector
}

var _ registry.Observer = (*Metrics)(nil)

// New returns a Metrics with every collector registered.
func New(cfg Config) *Metrics {
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.ScrapeTimeout <= 0 {
		cfg.ScrapeTimeout = 5 * time.Second
	}
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.registrations = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "registrations_total",
		Help: "Endpoint registrations by outcome: trusted, pending, key_change, reregistered, or the error kind (invalid_client is a refused API key)."},
		[]string{"outcome"})
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "decisions_total",
		Help: "Admin decisions on endpoints (approve, reject, untrust, delete; one per endpoint of a bulk action) by outcome."},
		[]string{"action", "outcome"})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "logins_total",
		Help: "Device logins (user tokens issued through an endpoint or a key) by login type and outcome."},
		[]string{"type", "outcome"})
	m.keyRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "key_refusals_total",
		Help: "API keys refused (SPEC K8) by internal reason; callers all see the same answer."},
		[]string{"reason"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "rate_limited_total",
		Help: "Requests refused by a rate limiter, by the limiter's kind."},
		[]string{"kind"})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "webhook_deliveries_total",
		Help: "Webhook delivery attempts (SPEC E7) by outcome: success or failure."},
		[]string{"outcome"})
	m.storeTx = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "store_transaction_duration_seconds",
		Help:    "Duration of the registry's store transactions (update: read-write, view: read-only), waits for the writer included.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}},
		[]string{"op"})
	m.agents = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "agents_connected",
		Help: "Agents connected over QUIC that proved their key (this broker)."})
	m.push = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "push_latency_seconds",
		Help:    "Time from an admin decision to its push reaching a connected agent's stream.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "build_info",
		Help: "Always 1; the labels name the broker's version and Go version."}, []string{"version", "goversion"})
	build.WithLabelValues(cfg.Version, runtime.Version()).Set(1)
	m.state = &stateCollector{src: cfg.Source, timeout: cfg.ScrapeTimeout}
	m.reg.MustRegister(m.registrations, m.decisions, m.logins, m.keyRefusals, m.rateLimited, m.webhooks, m.storeTx,
		m.agents, m.push, build, m.state,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.initSeries()
	return m
}

// initSeries creates the series of the known label values at zero, so
// that a rate() over them exists before the first event and dashboards
// show 0 rather than "no data".
func (m *Metrics) initSeries() {
	for _, o := range []string{registry.RegisterTrusted, registry.RegisterPending, registry.RegisterKeyChange,
		registry.RegisterReregistered, registry.KindInvalidClient.String()} {
		m.registrations.WithLabelValues(o)
	}
	for _, a := range []registry.Action{registry.ActionApprove, registry.ActionReject, registry.ActionUntrust, registry.ActionDelete} {
		m.decisions.WithLabelValues(string(a), "success")
	}
	for _, t := range protocol.LoginTypes() {
		m.logins.WithLabelValues(t, "success")
	}
	for _, k := range []string{registry.RateLimitSignIn, registry.RateLimitKey} {
		m.rateLimited.WithLabelValues(k)
	}
	for _, o := range []string{"success", "failure"} { // webhook.OutcomeSuccess, OutcomeFailure
		m.webhooks.WithLabelValues(o)
	}
	for _, o := range []string{"update", "view"} {
		m.storeTx.WithLabelValues(o)
	}
}

// Attach sets the Source read at scrape time (the registry is made after
// the Metrics that observes it).
func (m *Metrics) Attach(src Source) { m.state.attach(src) }

// Registerer is where other parts of the broker may register their own
// collectors.
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// Gatherer gathers every metric (tests).
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Handler serves the metrics in the Prometheus text format (or
// OpenMetrics when asked).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true, MaxRequestsInFlight: 4})
}

// Registration implements registry.Observer.
func (m *Metrics) Registration(outcome string) { m.registrations.WithLabelValues(outcome).Inc() }

// Decision implements registry.Observer.
func (m *Metrics) Decision(action, outcome string) {
	m.decisions.WithLabelValues(action, outcome).Inc()
}

// Login implements registry.Observer.
func (m *Metrics) Login(loginType, outcome string) {
	m.logins.WithLabelValues(loginType, outcome).Inc()
}

// KeyRefused implements registry.Observer: the reason becomes a label
// value from a fixed set (reasons.go).
func (m *Metrics) KeyRefused(reason string) { m.keyRefusals.WithLabelValues(ReasonLabel(reason)).Inc() }

// RateLimited implements registry.Observer.
func (m *Metrics) RateLimited(kind string) { m.rateLimited.WithLabelValues(kind).Inc() }

// WebhookDelivery counts one webhook delivery attempt by outcome
// (webhook.OutcomeSuccess or OutcomeFailure).
func (m *Metrics) WebhookDelivery(outcome string) { m.webhooks.WithLabelValues(outcome).Inc() }

// StoreTx implements registry.Observer.
func (m *Metrics) StoreTx(op string, d time.Duration) {
	m.storeTx.WithLabelValues(op).Observe(d.Seconds())
}

// AgentConnected implements registry.Observer.
func (m *Metrics) AgentConnected(delta int) { m.agents.Add(float64(delta)) }

// Pushed implements registry.Observer. A negative latency (the decision
// was made on another broker whose clock is ahead) counts as 0.
func (m *Metrics) Pushed(latency time.Duration) { m.push.Observe(max(latency, 0).Seconds()) }
