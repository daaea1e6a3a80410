package broker

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// certCheckEvery is how often a serving broker checks whether its
// certificate is due for renewal.
const certCheckEvery = time.Hour

// liveCert is the certificate the broker presents, renewed while it
// serves (a broker may run longer than the 30 days between a renewal's
// due date and expiry). A certificate is only used when a connection is
// made, so renewing it drops no agent; renew keeps the key, so the SPKI
// fingerprint agents pin never changes, and a renewal that would change it
// is refused (only the operator's own files may change key).
type liveCert struct {
	cur         atomic.Pointer[tls.Certificate]
	fingerprint string
	// renew returns the certificate to present now (re-issued when due)
	// and its SPKI fingerprint.
	renew func(ctx context.Context) (tls.Certificate, string, error)
	// mayChangeKey: the operator's files, which the operator renews.
	mayChangeKey bool
	log          *zap.Logger
}

func newLiveCert(cert tls.Certificate, fingerprint string, renew func(context.Context) (tls.Certificate, string, error), mayChangeKey bool, log *zap.Logger) *liveCert {
	l := &liveCert{fingerprint: fingerprint, renew: renew, mayChangeKey: mayChangeKey, log: log}
	l.cur.Store(&cert)
	return l
}

// get is the tls.Config's GetCertificate.
func (l *liveCert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return l.cur.Load(), nil }

// check presents the certificate renew returns when it is another one;
// it reports whether it changed.
func (l *liveCert) check(ctx context.Context) (bool, error) {
	cert, fp, err := l.renew(ctx)
	if err != nil {
		return false, err
	}
	if fp != l.fingerprint && !l.mayChangeKey {
		return false, fmt.Errorf("the renewed certificate has another key (sha256:%s, want sha256:%s): kept the current one", fp, l.fingerprint)
	}
	old := l.cur.Load()
	if len(old.Certificate) > 0 && len(cert.Certificate) > 0 && string(old.Certificate[0]) == string(cert.Certificate[0]) {
		return false, nil
	}
	l.cur.Store(&cert)
	l.fingerprint = fp
	l.log.Info("renewed the TLS certificate", zap.String("fingerprint", "sha256:"+fp), zap.Time("not_after", cert.Leaf.NotAfter))
	return true, nil
}

// run checks every `every` until ctx ends; a failed check is logged and
// tried again at the next.
func (l *liveCert) run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := l.check(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("renewing the TLS certificate", zap.Error(err))
		}
	}
}
