// Package webhook is the broker's webhook delivery worker (SPEC E7). It
// turns the registry's change feed into deliveries (the registry's
// outbox, in the store), claims due ones under a lease, POSTs each one
// signed as Standard Webhooks signs (protocol/api: SignWebhook) through an
// HTTP client that refuses internal destinations at dial time (guard.go)
// and follows no redirect, and records every attempt: a 2xx delivers, any
// other outcome retries with capped exponential backoff for a day.
//
// Deliveries are made at least once: a worker that stops mid-delivery
// leaves the row leased, and another worker (or itself after a restart)
// takes it once the lease ends. Several brokers on one PostgreSQL store
// share the work; a lease keeps them from sending the same delivery at
// once.
package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/internal/logfield"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// Outbox is what the worker needs of the registry (*registry.Registry).
type Outbox interface {
	EnqueueWebhookDeliveries(ctx context.Context) (queued int, more bool, err error)
	ClaimWebhookDeliveries(ctx context.Context, owner string, lease time.Duration, limit int) ([]registry.DueDelivery, error)
	RecordWebhookAttempt(ctx context.Context, owner string, d registry.WebhookDelivery, a registry.WebhookAttempt) error
	LastChange(ctx context.Context) (registry.ChangeCursor, error)
	WebhookWake() <-chan struct{}
	Bus() registry.Bus
}

// Outcomes passed to Config.Observe.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)

// Config configures a Worker. Outbox is required; zero values mean the
// defaults.
type Config struct {
	Outbox Outbox
	Logger *zap.Logger // nil = no logging
	// Owner names this worker in the leases it takes ("" = a random id).
	Owner string
	// Allow lists internal prefixes deliveries may reach anyway
	// (--webhook-allow-cidr); none by default.
	Allow []netip.Prefix
	// RootCAs verifies receivers' certificates (nil = the system roots;
	// --webhook-ca adds private ones).
	RootCAs *x509.CertPool
	// PollInterval is how often the worker looks for due deliveries and
	// new changes when nothing wakes it (0 = 2 s).
	PollInterval time.Duration
	// Timeout bounds one attempt (0 = 10 s); Lease, how long a claimed
	// delivery stays this worker's (0 = 1 minute; at least 2×Timeout).
	Timeout, Lease time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed attempt:
	// MinBackoff doubled after each failure, at most MaxBackoff (0 = 10 s
	// and 1 hour). RetryFor is how long a delivery is retried before it
	// fails for good (0 = 24 hours).
	MinBackoff, MaxBackoff, RetryFor time.Duration
	// Concurrency bounds the deliveries sent at once (0 = 8).
	Concurrency int
	// Observe, when set, is told the outcome of every attempt
	// (OutcomeSuccess or OutcomeFailure): the hook the metric
	// edgetrust_webhook_deliveries_total{outcome} counts through. It must
	// not block.
	Observe func(outcome string)
	// Now tells the time (nil = time.Now); only the signature timestamp
	// and the retry window read it.
	Now func() time.Time
}

// Worker delivers webhooks. Run it once per broker.
type Worker struct {
	cfg    Config
	log    *zap.Logger
	client *http.Client
}

// New checks cfg and returns a Worker.
func New(cfg Config) (*Worker, error) {
	if cfg.Outbox == nil {
		return nil, errors.New("webhook.New: Config.Outbox is nil")
	}
	if cfg.Owner == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		cfg.Owner = "worker-" + hex.EncodeToString(b)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.PollInterval, 2*time.Second)
	def(&cfg.Timeout, 10*time.Second)
	def(&cfg.Lease, time.Minute)
	cfg.Lease = max(cfg.Lease, 2*cfg.Timeout)
	def(&cfg.MinBackoff, 10*time.Second)
	def(&cfg.MaxBackoff, time.Hour)
	def(&cfg.RetryFor, 24*time.Hour)
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &Worker{cfg: cfg, log: cfg.Logger}
	if w.log == nil {
		w.log = zap.NewNop()
	}
	w.client = NewClient(Guard{Allow: cfg.Allow}, cfg.RootCAs, cfg.Timeout)
	return w, nil
}

// NewClient returns the HTTP client of deliveries: every address it
// dials passes g, it uses no proxy from the environment (the guard would
// check the proxy, not the receiver), follows no redirect (a 3xx is a
// failed attempt) and gives up after timeout.
func NewClient(g Guard, roots *x509.CertPool, timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, Control: g.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Backoff returns the wait after the n-th failed attempt (n >= 1):
// lo doubled n-1 times, at most hi.
func Backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// Run delivers until ctx ends, then returns nil. A failure to read or
// write the store is logged and retried at the next poll.
func (w *Worker) Run(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	stop := w.cfg.Outbox.Bus().SubscribeFunc("", func(registry.Event) { poke() })
	defer stop()
	t := time.NewTicker(w.cfg.PollInterval)
	defer t.Stop()
	last := registry.ChangeCursor(-1)
	for {
		last = w.pass(ctx, last)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-wake:
		case <-w.cfg.Outbox.WebhookWake():
		}
	}
}

// pass queues the deliveries of new changes (when the feed moved past
// last), then sends every due delivery; it returns the feed's end it saw.
func (w *Worker) pass(ctx context.Context, last registry.ChangeCursor) registry.ChangeCursor {
	end, err := w.cfg.Outbox.LastChange(ctx)
	if err != nil {
		w.warn(ctx, "reading the change feed", err)
		return last
	}
	if end != last {
		for ctx.Err() == nil {
			_, more, err := w.cfg.Outbox.EnqueueWebhookDeliveries(ctx)
			if err != nil {
				w.warn(ctx, "queueing webhook deliveries", err)
				end = last // try again at the next pass
				break
			}
			if !more {
				break
			}
		}
	}
	for ctx.Err() == nil {
		due, err := w.cfg.Outbox.ClaimWebhookDeliveries(ctx, w.cfg.Owner, w.cfg.Lease, w.cfg.Concurrency)
		if err != nil {
			w.warn(ctx, "claiming webhook deliveries", err)
			break
		}
		if len(due) == 0 {
			break
		}
		var wg sync.WaitGroup
		for _, d := range due {
			wg.Go(func() { w.deliver(ctx, d) })
		}
		wg.Wait()
	}
	return end
}

func (w *Worker) warn(ctx context.Context, what string, err error) {
	if ctx.Err() == nil {
		w.log.Warn("webhooks: "+what, zap.Error(err))
	}
}

// deliver makes one attempt at d and records it. An attempt cut short by
// the broker stopping is not recorded: the lease runs out and the
// delivery is made again. One that ended before is recorded even so (a
// receiver that answered is not sent the delivery again for nothing).
func (w *Worker) deliver(ctx context.Context, due registry.DueDelivery) {
	d := due.Delivery
	status, err := w.send(ctx, due)
	if err != nil && ctx.Err() != nil {
		return
	}
	a := registry.WebhookAttempt{Status: status, Delivered: err == nil}
	var wait time.Duration
	outcome := OutcomeSuccess
	if err != nil {
		outcome = OutcomeFailure
		a.Error = err.Error()
		wait = Backoff(d.Attempts+1, w.cfg.MinBackoff, w.cfg.MaxBackoff)
		if retry := w.cfg.Now().Add(wait); retry.Before(d.QueuedAt.Add(w.cfg.RetryFor)) {
			a.RetryAt = retry
		}
	}
	if w.cfg.Observe != nil {
		w.cfg.Observe(outcome)
	}
	fields := []zap.Field{zap.String(logfield.WebhookID, d.WebhookID), zap.String(logfield.DeliveryID, d.ID),
		zap.String(logfield.Type, d.EventType), zap.Int(logfield.Attempt, d.Attempts+1), zap.Int(logfield.Status, status)}
	switch {
	case err == nil:
		w.log.Debug("webhook delivered", fields...)
	case a.RetryAt.IsZero():
		w.log.Warn("webhook delivery failed for good; redeliver it from the delivery log", append(fields, zap.String(logfield.Error, a.Error))...)
	default:
		w.log.Info("webhook delivery failed; will retry", append(fields, zap.String(logfield.Error, a.Error),
			zap.Duration(logfield.RetryIn, wait))...)
	}
	if err := w.cfg.Outbox.RecordWebhookAttempt(context.WithoutCancel(ctx), w.cfg.Owner, d, a); err != nil {
		w.log.Warn("webhooks: recording an attempt", append(fields, zap.Error(err))...)
	}
}

// send POSTs one delivery and returns the status answered. Its error
// names what failed without the URL's path or query, nor the secret.
func (w *Worker) send(ctx context.Context, due registry.DueDelivery) (int, error) {
	d := due.Delivery
	ts := w.cfg.Now().Unix()
	sig, err := api.SignWebhook(due.Secret, d.ID, ts, d.Payload)
	if err != nil {
		return 0, errors.New("the webhook's secret is unusable; rotate it")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, due.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, errors.New("the webhook URL is unusable")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "edgetrust-webhook/1")
	req.Header.Set(api.HeaderWebhookID, d.ID)
	req.Header.Set(api.HeaderWebhookTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(api.HeaderWebhookSignature, sig)
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a token
		}
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return resp.StatusCode, nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return resp.StatusCode, fmt.Errorf("answered %d: redirects are not followed; configure the final URL", resp.StatusCode)
	default:
		return resp.StatusCode, fmt.Errorf("answered %d", resp.StatusCode)
	}
}
