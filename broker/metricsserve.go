package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/metrics"
	"github.com/edgetrust/edgetrust/internal/logfield"
)

// Prometheus metrics (issue 16, docs/metrics.md): served in plain HTTP on
// their own address (Config.MetricsListen), an operator's network, and on
// the public HTTPS port only when asked (Config.MetricsPublic): they name
// the top-level accounts and are not for the internet.

// newMetrics returns the broker's metrics, or nil when neither address
// serves them (the registry then observes nothing).
func (b *Broker) newMetrics() *metrics.Metrics {
	if b.cfg.MetricsListen == "" && !b.cfg.MetricsPublic {
		return nil
	}
	return metrics.New(metrics.Config{Version: b.cfg.Version})
}

// listenMetrics binds Config.MetricsListen (nil listener when unset), so
// that a taken port fails the start before anything serves.
func (b *Broker) listenMetrics() (net.Listener, error) {
	if b.cfg.MetricsListen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", b.cfg.MetricsListen)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen %s: %w", b.cfg.MetricsListen, err)
	}
	return ln, nil
}

// metricsTask serves m on ln in plain HTTP until ctx ends.
func (b *Broker) metricsTask(m *metrics.Metrics, ln net.Listener) task {
	return task{"metrics", func(ctx context.Context) error {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10,
			ErrorLog: zap.NewStdLog(b.log.Named("metrics"))}
		b.log.Info("serving metrics", zap.String(logfield.Addr, ln.Addr().String()))
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		select {
		case err := <-errc:
			return fmt.Errorf("metrics: %w", err)
		case <-ctx.Done():
		}
		shutCtx, cancel := context.WithTimeout(context.Background(), b.cfg.ShutdownGrace)
		defer cancel()
		if err := srv.Shutdown(shutCtx); err != nil {
			srv.Close()
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("metrics: %w", err)
		}
		return nil
	}}
}
