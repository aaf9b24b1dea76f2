package experiments

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sony/gobreaker/v2"

	"github.com/faultline-dev/faultline/reports"
)

// Services of these tests, written the way teams write them, not the way Faultline
// would like them to be:
//
//	probe ──▶ service /call ──▶ proxy "dep" (the experiment's) ──▶ dependency
//	          service /metrics: svc_breaker_gauge 0 closed, 1 open, 2 half-open
//	                            svc_breaker_state{name="dep",state="half_open"} 1 (one series per state)

// dependency is a fast, healthy HTTP dependency.
func dependency(t *testing.T) string {
	t.Helper()
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "paid") }))
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// freeAddr is a loopback address nothing listens on (for the experiment's proxy).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// breakerService calls dep with a 300ms timeout behind a gobreaker breaker that
// opens after 5 consecutive failures and half-opens 1s later for one trial call.
// While open it answers 503 at once. /metrics exports the state both ways.
func breakerService(t *testing.T, dep string) string {
	t.Helper()
	client := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{Proxy: nil}}
	cb := gobreaker.NewCircuitBreaker[string](gobreaker.Settings{
		Name:        "dep",
		Timeout:     time.Second,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 5 },
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "svc_breaker_gauge", Help: "0 closed, 1 open, 2 half-open"},
		func() float64 {
			return map[gobreaker.State]float64{gobreaker.StateClosed: 0, gobreaker.StateOpen: 1, gobreaker.StateHalfOpen: 2}[cb.State()]
		}))
	perState := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "svc_breaker_state", Help: "1 for the current state"}, []string{"name", "state"})
	reg.MustRegister(perState)
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /call", func(w http.ResponseWriter, r *http.Request) {
		_, err := cb.Execute(func() (string, error) {
			resp, err := client.Get("http://" + dep + "/")
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return string(b), err
		})
		switch {
		case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
			http.Error(w, "breaker open", http.StatusServiceUnavailable)
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadGateway)
		}
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		now := cb.State()
		for st, label := range map[gobreaker.State]string{gobreaker.StateClosed: "closed", gobreaker.StateOpen: "open", gobreaker.StateHalfOpen: "half_open"} {
			v := 0.0
			if st == now {
				v = 1
			}
			perState.WithLabelValues("dep", label).Set(v)
			perState.WithLabelValues("other", label).Set(map[bool]float64{true: 1, false: 0}[label == "closed"])
		}
		metrics.ServeHTTP(w, r)
	})
	return serve(t, mux)
}

// naiveService calls dep with a 2s timeout and no breaker: 502 when it fails.
func naiveService(t *testing.T, dep string) string {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		resp, err := client.Get("http://" + dep + "/")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body.Close()
	}))
}

const breakerExperiment = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: %s}
spec:
  steadyState:
    baseline: 1s
    recovery: 6s
    probes:
      - name: svc
        every: 100ms
        http: {url: "http://%s/call", timeout: 3s}
      - name: breaker
        every: 50ms
        breakerState:
          metric: %s
  proxies:
    - {name: dep, listen: "%s", upstream: "%s"}
  faults:
    - name: dep-fault
      %s
      duration: 5s
  verify:
    - circuitBreaker: {probe: svc, opensWithin: 2500ms, fastFailUnder: 100ms, closesWithin: 4s%s}
    - selfHealing: {probe: svc, recoversWithin: 5s, from: faultEnd}
  safety: {maxDuration: 1m}
`

const (
	gaugeMetric    = `{url: "http://%s/metrics", name: svc_breaker_gauge, closedValue: 0, openValue: 1, halfOpenValue: 2}`
	perStateMetric = `{url: "http://%s/metrics", name: svc_breaker_state, labels: {name: dep}, stateLabel: state}`
	stateFromProbe = `, stateFrom: {probe: breaker}`
)

func runBreaker(t *testing.T, svc func(*testing.T, string) string, metric, fault, stateFrom string) *reports.Result {
	t.Helper()
	reg, err := DefaultRegistries()
	if err != nil {
		t.Fatal(err)
	}
	proxyAddr := freeAddr(t)
	addr := svc(t, proxyAddr)
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	name = strings.Trim(name[max(0, len(name)-50):], "-")
	y := fmt.Sprintf(breakerExperiment, name, addr,
		fmt.Sprintf(metric, addr), proxyAddr, dependency(t), fault, stateFrom)
	e := mustDecode(t, reg, y)
	res, err := Run(context.Background(), e, Options{Registries: reg, JournalDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Checks {
		t.Logf("%s %s: %s (%s) %v", c.Status, c.Name, c.Measured, c.Reason, c.Details)
	}
	return res
}

func check(t *testing.T, res *reports.Result, name string) reports.Check {
	t.Helper()
	for _, c := range res.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %v", name, res.Checks)
	return reports.Check{}
}

// TestBreakerHalfOpenTrialsAreNotViolations: a correct gobreaker breaker half-opens
// during the fault (1s after opening), lets one trial through, which is slow (the
// fault still holds) and fails, and re-opens. That is the design, not flapping: the
// verdict must be passed, with the trials counted — under a latency fault read
// through a 0/1/2 gauge and under a timeout fault read through one series per state.
func TestBreakerHalfOpenTrialsAreNotViolations(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two 10 s experiments against real services")
	}
	for _, tc := range []struct{ name, metric, fault string }{
		{"latency, 0/1/2 gauge", gaugeMetric, "latency: {proxy: dep, delay: 1500ms}"},
		{"timeout, one series per state", perStateMetric, "dependencyFailure: {proxy: dep, mode: timeout}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runBreaker(t, breakerService, tc.metric, tc.fault, stateFromProbe)
			cb := check(t, res, "circuitBreaker(svc)")
			if cb.Status != reports.CheckPassed {
				t.Errorf("circuitBreaker = %s: %s (%s)", cb.Status, cb.Measured, cb.Reason)
			}
			var trials, failed int
			fmt.Sscanf(cb.Details["half-open trials"], "%d (%d ok, %d failed)", &trials, new(int), &failed)
			if trials < 2 || failed < 2 {
				t.Errorf("half-open trials = %q, want >= 2 slow failed trials in a 5s fault with a 1s open timeout", cb.Details["half-open trials"])
			}
			if !strings.Contains(cb.Details["states during fault"], "half-open") {
				t.Errorf("the state probe never read half-open: %q", cb.Details["states during fault"])
			}
			// One recovery, one number: the runner's recovery check and selfHealing
			// both measure from the last revert.
			rec, sh := check(t, res, "recovery of svc"), check(t, res, "selfHealing(svc)")
			if got, want := strings.TrimSuffix(strings.TrimPrefix(rec.Measured, "steady again after "), " (from the last revert)"),
				strings.TrimSuffix(strings.TrimPrefix(sh.Measured, "recovered after "), " of the revert"); got != want {
				t.Errorf("recovery check says %q, selfHealing says %q: two numbers for one recovery", rec.Measured, sh.Measured)
			}
			if res.Verdict != reports.VerdictPassed {
				t.Errorf("verdict %s: %s", res.Verdict, res.Reason)
			}
		})
	}
}

// TestNaiveServiceUnderOutageDoesNotPassWithoutState: a service with no breaker
// answers 502 within a millisecond when its dependency refuses connections. Fast
// failures alone cannot tell that from an open breaker, so without stateFrom the
// check must not pass, and must say how to make it judgeable.
func TestNaiveServiceUnderOutageDoesNotPassWithoutState(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 10 s experiment against real services")
	}
	// It exports no breaker metric: the state probe reads that as closed.
	res := runBreaker(t, naiveService, `{url: "http://%s/metrics", name: svc_breaker_gauge, openValue: 1, whenAbsent: closed}`,
		"dependencyFailure: {proxy: dep, mode: down}", "")
	cb := check(t, res, "circuitBreaker(svc)")
	if cb.Status == reports.CheckPassed || res.Verdict == reports.VerdictPassed {
		t.Fatalf("a service without a breaker passed circuitBreaker: %s %s (verdict %s)", cb.Status, cb.Measured, res.Verdict)
	}
	if cb.Status != reports.CheckErrored || !strings.Contains(cb.Reason, "stateFrom") || !strings.Contains(cb.Reason, "fails fast by itself") {
		t.Errorf("circuitBreaker = %s %q, want errored saying the fault fails fast by itself and to add stateFrom", cb.Status, cb.Reason)
	}
}
