package shop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Defaults of CheckoutConfig.
const (
	DefaultResilientTimeout = 150 * time.Millisecond
	DefaultFragileTimeout   = 5 * time.Second
	DefaultBreakerTimeout   = 2 * time.Second
	DefaultTripAfter        = 3
)

// StateHeader is the response header in which the resilient checkout reports the
// breaker state the request was admitted under: closed, open or half-open.
const StateHeader = "X-Circuit-State"

// CheckoutConfig configures the checkout service.
type CheckoutConfig struct {
	// Addr to listen on (default "127.0.0.1:0").
	Addr string
	// PaymentsURL is the base URL of payments (usually the fault proxy), e.g.
	// "http://127.0.0.1:18081"; checkout calls POST PaymentsURL/charge.
	PaymentsURL string
	// Breaker selects the resilient build: a circuit breaker and a fallback.
	Breaker bool
	// Timeout bounds each payments call (default 150ms with Breaker, 5s without).
	Timeout time.Duration
	// BreakerTimeout is how long the breaker stays open before it lets one probe
	// request through (half-open) (default 2s).
	BreakerTimeout time.Duration
	// TripAfter is the number of consecutive failures that opens the breaker (default 3).
	TripAfter int
	// Logf, when set, receives breaker state changes and payments failing/back lines.
	Logf func(format string, args ...any)
}

func (c *CheckoutConfig) defaults() error {
	if c.PaymentsURL == "" {
		return errors.New("payments URL is required")
	}
	if !strings.HasPrefix(c.PaymentsURL, "http://") && !strings.HasPrefix(c.PaymentsURL, "https://") {
		return fmt.Errorf("payments URL %q must start with http:// or https://", c.PaymentsURL)
	}
	c.PaymentsURL = strings.TrimSuffix(c.PaymentsURL, "/")
	if c.Timeout < 0 || c.BreakerTimeout < 0 || c.TripAfter < 0 {
		return errors.New("timeout, breaker timeout and trip-after must be >= 0")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultFragileTimeout
		if c.Breaker {
			c.Timeout = DefaultResilientTimeout
		}
	}
	if c.BreakerTimeout == 0 {
		c.BreakerTimeout = DefaultBreakerTimeout
	}
	if c.TripAfter == 0 {
		c.TripAfter = DefaultTripAfter
	}
	return nil
}

// checkout serves GET /checkout, /breaker, /metrics and /healthz.
type checkout struct {
	cfg     CheckoutConfig
	client  *http.Client
	breaker *gobreaker.CircuitBreaker[string] // nil in the fragile build

	metrics *metrics

	mu       sync.Mutex
	failures int // consecutive failed payments calls, for the failing/back log lines
}

// StartCheckout starts the checkout service. GET /healthz answers 200 while it
// serves; GET /health says whether it is degraded. GET /checkout charges through
// payments. The resilient build (cfg.Breaker) answers 200 {"status":"paid",...}
// or, when payments fails or the breaker is open, 200
// {"status":"accepted","payment":"deferred"} at once; it reports the breaker in the
// X-Circuit-State header, at GET /breaker (JSON) and at GET /metrics
// (checkout_breaker_state{name="payments"} 0 closed, 1 half-open, 2 open). The
// fragile build waits up to its long timeout and answers 502 on any payments error.
// Both export checkout_requests_total{outcome="paid|fallback|error"} and the
// checkout_request_duration_seconds histogram at GET /metrics.
// It runs until Close is called or ctx is done.
func StartCheckout(ctx context.Context, cfg CheckoutConfig) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, fmt.Errorf("starting checkout: %w", err)
	}
	c := &checkout{cfg: cfg, metrics: newMetrics()}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // never route through HTTP_PROXY: the fault proxy is explicit
	c.client = &http.Client{Transport: tr, Timeout: cfg.Timeout}
	if cfg.Breaker {
		c.breaker = gobreaker.NewCircuitBreaker[string](gobreaker.Settings{
			Name:        "payments",
			MaxRequests: 1,
			Timeout:     cfg.BreakerTimeout,
			ReadyToTrip: func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= uint32(cfg.TripAfter) },
			// A caller that went away says nothing about payments.
			IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
			OnStateChange: func(name string, from, to gobreaker.State) {
				logf(cfg.Logf, "checkout: breaker %s: %s -> %s", name, from, to)
			},
		})
		c.metrics.exportBreaker(c.breaker)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /health", c.handleHealth)
	mux.HandleFunc("GET /checkout", c.metrics.timed(c.handleCheckout))
	mux.HandleFunc("GET /breaker", c.handleBreaker)
	mux.Handle("GET /metrics", c.metrics.handler())
	s, err := serve(ctx, "checkout", cfg.Addr, mux)
	if err != nil {
		tr.CloseIdleConnections()
		return nil, err
	}
	build := "fragile (no breaker)"
	if cfg.Breaker {
		build = fmt.Sprintf("resilient (breaker: trip after %d, half-open after %s)", cfg.TripAfter, cfg.BreakerTimeout)
	}
	s.onClose = tr.CloseIdleConnections
	logf(cfg.Logf, "checkout: listening on %s, payments %s, timeout %s, %s", s.URL, cfg.PaymentsURL, cfg.Timeout, build)
	return s, nil
}

func (c *checkout) handleCheckout(w http.ResponseWriter, r *http.Request) {
	if c.breaker == nil {
		id, err := c.charge(r.Context())
		if err != nil {
			c.metrics.count(outcomeError)
			writeJSON(w, http.StatusBadGateway, map[string]string{"status": "error", "error": err.Error()})
			return
		}
		c.metrics.count(outcomePaid)
		writeJSON(w, http.StatusOK, map[string]string{"status": "paid", "payment": id})
		return
	}
	admitted := c.breaker.State()
	id, err := c.breaker.Execute(func() (string, error) { return c.charge(r.Context()) })
	switch {
	case errors.Is(err, gobreaker.ErrOpenState):
		admitted = gobreaker.StateOpen
	case errors.Is(err, gobreaker.ErrTooManyRequests):
		admitted = gobreaker.StateHalfOpen
	}
	w.Header().Set(StateHeader, admitted.String())
	if err != nil {
		c.metrics.count(outcomeFallback)
		w.Header().Set("X-Fallback-Reason", err.Error())
		writeJSON(w, http.StatusOK, map[string]string{"status": "accepted", "payment": "deferred"})
		return
	}
	c.metrics.count(outcomePaid)
	writeJSON(w, http.StatusOK, map[string]string{"status": "paid", "payment": id})
}

// charge calls POST /charge on payments within the client timeout.
func (c *checkout) charge(ctx context.Context) (string, error) {
	id, err := c.doCharge(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err != nil && c.failures == 0:
		logf(c.cfg.Logf, "checkout: payments failing: %v", err)
		c.failures++
	case err != nil:
		c.failures++
	case c.failures > 0:
		logf(c.cfg.Logf, "checkout: payments back after %d failed calls", c.failures)
		c.failures = 0
	}
	return id, err
}

func (c *checkout) doCharge(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.PaymentsURL+"/charge", http.NoBody)
	if err != nil {
		return "", fmt.Errorf("charging: %w", err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("charging: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("charging: payments answered %d", resp.StatusCode)
	}
	var answer struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&answer); err != nil {
		return "", fmt.Errorf("charging: reading answer: %w", err)
	}
	return answer.ID, nil
}

// handleHealth answers 200 {"status":"ok"}, or, in the resilient build while the
// breaker is not closed, 503 {"status":"degraded"}: payments is being bypassed. The
// fragile build cannot tell and always says ok.
func (c *checkout) handleHealth(w http.ResponseWriter, _ *http.Request) {
	if c.breaker == nil {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	}
	if st := c.breaker.State(); st != gobreaker.StateClosed {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "degraded", "breaker": st.String()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "breaker": gobreaker.StateClosed.String()})
}

func (c *checkout) handleBreaker(w http.ResponseWriter, _ *http.Request) {
	if c.breaker == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "this checkout build has no circuit breaker"})
		return
	}
	n := c.breaker.Counts()
	writeJSON(w, http.StatusOK, map[string]any{
		"name":  c.breaker.Name(),
		"state": c.breaker.State().String(),
		"counts": map[string]uint32{
			"requests":             n.Requests,
			"consecutiveFailures":  n.ConsecutiveFailures,
			"consecutiveSuccesses": n.ConsecutiveSuccesses,
		},
	})
}
