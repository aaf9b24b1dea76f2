package shop

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sony/gobreaker/v2"
)

// Outcomes of a checkout, the `outcome` label of checkout_requests_total.
const (
	outcomePaid     = "paid"     // payments charged
	outcomeFallback = "fallback" // resilient build: payments failed or breaker open, answered 200 deferred
	outcomeError    = "error"    // fragile build: payments failed, answered 502
)

// LatencyBuckets are the upper bounds (seconds) of checkout_request_duration_seconds:
// fine around the example's 250 ms p99 objective, so histogram_quantile is close.
var LatencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .15, .2, .25, .3, .5, 1, 2.5, 5, 10}

// metrics is what checkout exports at GET /metrics (Prometheus text format):
//
//	checkout_requests_total{outcome="paid|fallback|error"}   counter
//	checkout_request_duration_seconds_bucket{le=...}         histogram of GET /checkout
//	checkout_breaker_state{name="payments"}                  resilient build only: 0 closed, 1 half-open, 2 open
//
// Each checkout has its own registry, so several run in one test process.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "checkout_requests_total",
			Help: "Checkout requests by outcome.",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "checkout_request_duration_seconds",
			Help:    "Time to answer GET /checkout.",
			Buckets: LatencyBuckets,
		}),
	}
	for _, o := range []string{outcomePaid, outcomeFallback, outcomeError} {
		m.requests.WithLabelValues(o) // exported from the start, at 0
	}
	m.reg.MustRegister(m.requests, m.latency)
	return m
}

// exportBreaker adds checkout_breaker_state for b, read at each scrape.
func (m *metrics) exportBreaker(b *gobreaker.CircuitBreaker[string]) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "checkout_breaker_state",
		Help:        "State of the circuit breaker: 0 closed, 1 half-open, 2 open.",
		ConstLabels: prometheus.Labels{"name": b.Name()},
	}, func() float64 { return float64(b.State()) }))
}

func (m *metrics) count(outcome string) { m.requests.WithLabelValues(outcome).Inc() }

// timed observes how long h takes to answer.
func (m *metrics) timed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h(w, r)
		m.latency.Observe(time.Since(start).Seconds())
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
