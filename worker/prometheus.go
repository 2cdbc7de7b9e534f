package main

import (
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
	"go.uber.org/zap"
)

// promMetrics is the worker's Prometheus registry and the SDK metrics handler that feeds
// it: what the SDK records (and what activities and workflows record through their metrics
// handler) goes through a tally scope into the registry, which /metrics serves.
type promMetrics struct {
	registry *prometheus.Registry
	// handler goes into client.Options.MetricsHandler.
	handler client.MetricsHandler
	scope   io.Closer
}

// timerBuckets are the histogram buckets of SDK timers, in seconds: tally's defaults (1 ms
// to 10 s) and longer ones, because archive activities run for minutes to hours.
var timerBuckets = []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600}

// newPromMetrics makes the registry, with the Go runtime and process collectors, and the
// SDK handler. Tally hands counters and gauges to the registry every interval.
func newPromMetrics(logger *zap.Logger, interval time.Duration) *promMetrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var once sync.Once
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:              reg,
		DefaultTimerType:        tallyprom.HistogramTimerType,
		DefaultHistogramBuckets: timerBuckets,
		// A metric recorded under one name with two different sets of tags cannot be
		// registered twice; the reporter would panic by default.
		OnRegisterError: func(err error) {
			once.Do(func() { logger.Warn("A metric could not be registered (logged once)", zap.Error(err)) })
		},
	})
	// Names and tags sanitized to [a-zA-Z0-9_], counters suffixed _total and timers
	// _seconds, as the SDK recommends for Prometheus (the same names as the other SDKs).
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
		// tally's own series counts (tally_internal_*) are of no use here.
		OmitCardinalityMetrics: true,
	}, interval)
	return &promMetrics{
		registry: reg,
		handler:  sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)),
		scope:    closer,
	}
}

// httpHandler serves the registry in the Prometheus text format; a collector that fails
// leaves out its metrics, not the others.
func (m *promMetrics) httpHandler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Close reports what tally still holds and stops its reporting loop.
func (m *promMetrics) Close() error { return m.scope.Close() }
