package broker

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/webhook"
)

// CheckWebhookCIDR parses one --webhook-allow-cidr value.
func CheckWebhookCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address prefix: want e.g. 10.20.0.0/16 or 127.0.0.1/32", s)
	}
	return p.Masked(), nil
}

// webhookSealer returns the key that seals webhook secrets: on a shared
// store one derived from the cluster key (every broker opens what another
// sealed); otherwise DATA_DIR/keys/webhook-secrets.key, which a backup
// copies with the database. nil (webhooks cannot be configured) on a
// shared store without a cluster key.
func (b *Broker) webhookSealer(shared bool) (registry.SecretSealer, error) {
	var key []byte
	var err error
	switch {
	case shared && len(b.cfg.ClusterKey) == 0:
		b.log.Warn("webhooks cannot be configured: brokers sharing a store seal their secrets with the cluster key; give --cluster-key-file")
		return nil, nil
	case shared:
		key, err = webhook.KeyFromClusterKey(b.cfg.ClusterKey)
	default:
		key, err = webhook.LoadOrCreateKey(filepath.Join(b.cfg.DataDir, "keys", webhook.KeyFile))
	}
	if err != nil {
		return nil, fmt.Errorf("preparing the webhook secret key: %w", err)
	}
	return webhook.NewSealer(key)
}

// CheckWebhookCA checks a --webhook-ca file: readable, with at least one
// PEM certificate.
func CheckWebhookCA(path string) error {
	_, err := webhookRoots(path)
	return err
}

// webhookRoots returns the roots receivers' certificates are checked
// against: the system's, plus Config.WebhookCAFile's.
func webhookRoots(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--webhook-ca: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--webhook-ca %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// newWebhookWorker builds the delivery worker of this broker.
// observe, when not nil, is told each attempt's outcome (a metric); the
// Config's WebhookObserve is told too.
func (b *Broker) newWebhookWorker(reg *registry.Registry, observe func(outcome string)) (*webhook.Worker, error) {
	roots, err := webhookRoots(b.cfg.WebhookCAFile)
	if err != nil {
		return nil, err
	}
	return webhook.New(webhook.Config{Outbox: reg, Logger: b.log.Named("webhook"), Allow: b.cfg.WebhookAllow,
		RootCAs: roots, Observe: func(outcome string) {
			if observe != nil {
				observe(outcome)
			}
			if b.cfg.WebhookObserve != nil {
				b.cfg.WebhookObserve(outcome)
			}
		}})
}
