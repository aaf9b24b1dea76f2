package shop_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/examples/shop"
	"github.com/faultline-dev/faultline/steadystate"
	"github.com/faultline-dev/faultline/steadystate/circuitbreaker"
)

// answer is one GET /checkout as the tests see it.
type answer struct {
	status  int
	state   string // X-Circuit-State
	body    map[string]string
	latency time.Duration
	err     error
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}

func get(ctx context.Context, url string) answer {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return answer{err: err}
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{err: err, latency: time.Since(start)}
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, state: resp.Header.Get(shop.StateHeader)}
	b, err := io.ReadAll(resp.Body)
	a.latency = time.Since(start)
	if err != nil {
		a.err = err
		return a
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			a.err = err
			return a
		}
		a.body = map[string]string{}
		for k, v := range m {
			if s, ok := v.(string); ok {
				a.body[k] = s
			}
		}
	} else {
		a.body = map[string]string{"text": string(b)}
	}
	return a
}

// logger is t.Logf that goes quiet when the test ends: a handler the server cut off
// at Close may still log after that.
func logger(t *testing.T) func(string, ...any) {
	var mu sync.Mutex
	done := false
	t.Cleanup(func() { mu.Lock(); done = true; mu.Unlock() })
	return func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			t.Logf(format, args...)
		}
	}
}

func startPayments(t *testing.T, cfg shop.PaymentsConfig) *shop.Server {
	t.Helper()
	cfg.Logf = logger(t)
	s, err := shop.StartPayments(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func startCheckout(t *testing.T, cfg shop.CheckoutConfig) *shop.Server {
	t.Helper()
	cfg.Logf = logger(t)
	s, err := shop.StartCheckout(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// eventually calls f every 20ms until it returns true or 5s pass.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestResilientOutage(t *testing.T) {
	ctx := t.Context()
	pay := startPayments(t, shop.PaymentsConfig{})
	co := startCheckout(t, shop.CheckoutConfig{PaymentsURL: pay.URL, Breaker: true, BreakerTimeout: 300 * time.Millisecond})

	a := get(ctx, co.URL+"/checkout")
	if a.err != nil || a.status != 200 || a.body["status"] != "paid" || a.body["payment"] != "ch_1" || a.state != "closed" {
		t.Fatalf("healthy: %+v", a)
	}
	if h := get(ctx, co.URL+"/health"); h.status != 200 || h.body["status"] != "ok" {
		t.Fatalf("/health while closed: %+v", h)
	}
	if m := get(ctx, co.URL+"/metrics"); !strings.Contains(m.body["text"], `checkout_breaker_state{name="payments"} 0`) ||
		!strings.Contains(m.body["text"], `checkout_requests_total{outcome="paid"} 1`) {
		t.Fatalf("metrics while closed: %q", m.body["text"])
	}

	addr := pay.Addr
	if err := pay.Close(); err != nil {
		t.Fatal(err)
	}
	// Payments refuses: every answer is the fallback, and after 3 failures the
	// breaker reports open.
	for i := range 3 {
		a := get(ctx, co.URL+"/checkout")
		if a.err != nil || a.status != 200 || a.body["status"] != "accepted" || a.body["payment"] != "deferred" || a.state != "closed" {
			t.Fatalf("failure %d: %+v", i+1, a)
		}
	}
	a = get(ctx, co.URL+"/checkout")
	if a.status != 200 || a.body["payment"] != "deferred" || a.state != "open" {
		t.Fatalf("after 3 failures: %+v", a)
	}
	if b := get(ctx, co.URL+"/breaker"); b.status != 200 || b.body["state"] != "open" || b.body["name"] != "payments" {
		t.Fatalf("/breaker while open: %+v", b)
	}
	if m := get(ctx, co.URL+"/metrics"); !strings.Contains(m.body["text"], `checkout_breaker_state{name="payments"} 2`) {
		t.Fatalf("metrics while open: %q", m.body["text"])
	}
	if h := get(ctx, co.URL+"/health"); h.status != 503 || h.body["status"] != "degraded" || h.body["breaker"] != "open" {
		t.Fatalf("/health while open: %+v", h)
	}

	// Payments is back on the same address: after the breaker timeout the half-open
	// probe succeeds and the breaker closes.
	startPayments(t, shop.PaymentsConfig{Addr: addr})
	eventually(t, "breaker closes after payments is back", func() bool {
		a := get(ctx, co.URL+"/checkout")
		return a.status == 200 && a.state == "closed" && a.body["status"] == "paid"
	})
}

func TestResilientSlowdown(t *testing.T) {
	ctx := t.Context()
	pay := startPayments(t, shop.PaymentsConfig{Latency: time.Second})
	co := startCheckout(t, shop.CheckoutConfig{PaymentsURL: pay.URL, Breaker: true, Timeout: 100 * time.Millisecond, BreakerTimeout: time.Minute})
	for i := range 3 {
		a := get(ctx, co.URL+"/checkout")
		if a.status != 200 || a.body["payment"] != "deferred" || a.latency < 100*time.Millisecond || a.latency > 900*time.Millisecond {
			t.Fatalf("slow call %d: %+v (want the fallback after the 100ms timeout)", i+1, a)
		}
	}
	a := get(ctx, co.URL+"/checkout")
	if a.status != 200 || a.body["payment"] != "deferred" || a.state != "open" || a.latency > 50*time.Millisecond {
		t.Fatalf("open: %+v (want a fast fallback)", a)
	}
}

func TestFragile(t *testing.T) {
	ctx := t.Context()
	pay := startPayments(t, shop.PaymentsConfig{Latency: 300 * time.Millisecond})
	co := startCheckout(t, shop.CheckoutConfig{PaymentsURL: pay.URL})
	a := get(ctx, co.URL+"/checkout")
	if a.status != 200 || a.body["status"] != "paid" || a.state != "" || a.latency < 300*time.Millisecond {
		t.Fatalf("slow payments: %+v (want paid after >= 300ms, no breaker header)", a)
	}
	if b := get(ctx, co.URL+"/breaker"); b.status != 404 {
		t.Fatalf("/breaker on fragile: %+v", b)
	}
	if m := get(ctx, co.URL+"/metrics"); strings.Contains(m.body["text"], "checkout_breaker_state") {
		t.Fatalf("fragile exposes a breaker metric: %q", m.body["text"])
	}
	_ = pay.Close()
	if h := get(ctx, co.URL+"/health"); h.status != 200 || h.body["status"] != "ok" {
		t.Fatalf("fragile /health: %+v (it cannot tell it is failing)", h)
	}
	for range 5 {
		a := get(ctx, co.URL+"/checkout")
		if a.status != http.StatusBadGateway || a.body["status"] != "error" || !strings.Contains(a.body["error"], "refused") {
			t.Fatalf("payments down: %+v (want 502)", a)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	ctx := t.Context()
	for _, tt := range []struct {
		cfg  shop.CheckoutConfig
		want string
	}{
		{shop.CheckoutConfig{}, "starting checkout: payments URL is required"},
		{shop.CheckoutConfig{PaymentsURL: "127.0.0.1:1"}, `must start with http://`},
		{shop.CheckoutConfig{PaymentsURL: "http://x", Timeout: -1}, "must be >= 0"},
	} {
		if _, err := shop.StartCheckout(ctx, tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err = %v, want %q", tt.cfg, err, tt.want)
		}
	}
	pay := startPayments(t, shop.PaymentsConfig{})
	if _, err := shop.StartPayments(ctx, shop.PaymentsConfig{Addr: pay.Addr}); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("port in use: err = %v", err)
	}
	if _, err := shop.StartPayments(ctx, shop.PaymentsConfig{Latency: -1}); err == nil {
		t.Error("negative latency accepted")
	}
}

// TestContextStopsServer: cancelling the start context closes the server.
func TestContextStopsServer(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s, err := shop.StartPayments(ctx, shop.PaymentsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if a := get(t.Context(), s.URL+"/healthz"); a.status != 200 {
		t.Fatalf("healthz: %+v", a)
	}
	cancel()
	eventually(t, "server stops after cancel", func() bool { return get(t.Context(), s.URL+"/healthz").err != nil })
	if err := s.Close(); err != nil {
		t.Errorf("Close after cancel: %v", err)
	}
}

// sampler records GET /checkout every interval as Observations, the way the http
// probe does (Values["breaker"] from X-Circuit-State), until stopped.
type sampler struct {
	mu  sync.Mutex
	obs []steadystate.Observation
	wg  sync.WaitGroup
}

func sample(ctx context.Context, url string, every time.Duration) (*sampler, func()) {
	s := &sampler{}
	ctx, cancel := context.WithCancel(ctx)
	tick := time.NewTicker(every)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			s.wg.Add(1)
			go func(at time.Time) { // concurrent, like the runner: a slow answer does not delay sampling
				defer s.wg.Done()
				a := get(ctx, url)
				o := steadystate.Observation{Time: at, Latency: a.latency, Status: steadystate.StatusOK}
				switch {
				case ctx.Err() != nil:
					return
				case a.err != nil || a.status != 200:
					o.Status = steadystate.StatusFailed
				}
				if a.state != "" {
					o.Values = map[string]string{"breaker": a.state}
				}
				s.mu.Lock()
				s.obs = append(s.obs, o)
				s.mu.Unlock()
			}(time.Now())
		}
	}()
	return s, func() { cancel(); s.wg.Wait() }
}

func (s *sampler) sorted() []steadystate.Observation {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]steadystate.Observation(nil), s.obs...)
	for i := 1; i < len(out); i++ { // insertion sort: nearly sorted already
		for j := i; j > 0 && out[j].Time.Before(out[j-1].Time); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// TestBreakerAssertionOnRealShop drives the shop through a payments outage by hand
// (payments stopped for 1.5s, then restarted) while sampling checkout, and judges
// the series with the circuitBreaker assertion: the resilient build passes, the
// fragile one fails.
func TestBreakerAssertionOnRealShop(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: two 4 s outages")
	}
	spec := circuitbreaker.Spec{
		Probe: "checkout", OpensWithin: time.Second, FastFailUnder: 100 * time.Millisecond,
		ClosesWithin: 3 * time.Second, StateFrom: &circuitbreaker.StateFrom{Header: "X-Circuit-State"},
	}
	for _, tt := range []struct {
		name    string
		breaker bool
		want    steadystate.CheckStatus
		reason  string
	}{
		{"resilient", true, steadystate.CheckPassed, ""},
		{"fragile", false, steadystate.CheckFailed, "breaker never opened: no observation of checkout carried a breaker state"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			pay := startPayments(t, shop.PaymentsConfig{})
			co := startCheckout(t, shop.CheckoutConfig{PaymentsURL: pay.URL, Breaker: tt.breaker, BreakerTimeout: 500 * time.Millisecond})
			s, stop := sample(ctx, co.URL+"/checkout", 25*time.Millisecond)
			time.Sleep(300 * time.Millisecond) // baseline samples
			fault := steadystate.Window{Name: "payments-down", Start: time.Now()}
			addr := pay.Addr
			_ = pay.Close()
			time.Sleep(1500 * time.Millisecond) // the outage
			startPayments(t, shop.PaymentsConfig{Addr: addr})
			fault.End = time.Now()
			time.Sleep(2 * time.Second) // recovery samples
			stop()
			tl := &steadystate.Timeline{Faults: []steadystate.Window{fault}, Observations: map[string][]steadystate.Observation{"checkout": s.sorted()}}
			c := circuitbreaker.New(spec).Check(tl)
			t.Logf("%s: measured %q reason %q details %v", c.Status, c.Measured, c.Reason, c.Details)
			if c.Status != tt.want || !strings.Contains(c.Reason, tt.reason) {
				t.Fatalf("status %s reason %q, want %s %q", c.Status, c.Reason, tt.want, tt.reason)
			}
		})
	}
}

// TestCloseLeavesNoGoroutines: Close stops serving, cuts idle client connections to
// payments, and leaves no goroutine behind.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	client.CloseIdleConnections()
	before := runtime.NumGoroutine()
	ctx := t.Context()
	pay, err := shop.StartPayments(ctx, shop.PaymentsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	co, err := shop.StartCheckout(ctx, shop.CheckoutConfig{PaymentsURL: pay.URL, Breaker: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if a := get(ctx, co.URL+"/checkout"); a.status != 200 || a.body["status"] != "paid" {
			t.Fatalf("checkout: %+v", a)
		}
	}
	client.CloseIdleConnections()
	if err := errors.Join(co.Close(), co.Close()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Payments still runs (its Serve goroutine), but checkout's keep-alive
	// connections to it, and their goroutines on both sides, are gone.
	eventually(t, "only payments' Serve goroutine left after checkout closed", func() bool {
		return runtime.NumGoroutine() <= before+1
	})
	if err := pay.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	eventually(t, "goroutines back to the count before the servers started", func() bool {
		return runtime.NumGoroutine() <= before
	})
}
