package promprobe_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/faultline-dev/faultline/internal/testenv/promserver"
	"github.com/faultline-dev/faultline/steadystate"
	"github.com/faultline-dev/faultline/steadystate/promprobe"
)

// exporter is a real service exporting gauges the test sets, scraped by a real
// Prometheus.
type exporter struct {
	value    prometheus.Gauge     // fl_test_value
	multi    *prometheus.GaugeVec // fl_test_multi{shard}
	breaker  prometheus.Gauge     // fl_breaker_state{name="payments"}
	r4jState *prometheus.GaugeVec // resilience4j_circuitbreaker_state{name, state}
	prom     *promserver.Server
}

func startExporter(t *testing.T) *exporter {
	t.Helper()
	reg := prometheus.NewRegistry()
	e := &exporter{
		value:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "fl_test_value", Help: "a value the test sets"}),
		multi:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fl_test_multi", Help: "several series"}, []string{"shard"}),
		breaker:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "fl_breaker_state", Help: "0 closed, 1 half-open, 2 open", ConstLabels: prometheus.Labels{"name": "payments"}}),
		r4jState: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "resilience4j_circuitbreaker_state", Help: "one series per state"}, []string{"name", "state"}),
	}
	reg.MustRegister(e.value, e.multi, e.breaker, e.r4jState)
	e.setR4j("closed")
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	e.prom = promserver.Start(t, promserver.Options{Targets: []promserver.Target{{Job: "exporter", Address: srv.Listener.Addr().String()}}})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	e.prom.WaitForScrape(ctx, t, "exporter")
	return e
}

// setR4j sets resilience4j's one-series-per-state gauge: 1 for state, 0 for the others.
func (e *exporter) setR4j(state string) {
	for _, s := range []string{"closed", "open", "half_open", "disabled", "forced_open", "metrics_only"} {
		v := 0.0
		if s == state {
			v = 1
		}
		e.r4jState.WithLabelValues("backendA", s).Set(v)
	}
}

// await polls Prometheus until query (a filter) returns data: the value set has
// been scraped.
func (e *exporter) await(t *testing.T, query string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	e.prom.WaitFor(ctx, t, query)
}

func f(v float64) *float64 { return &v }

func probe(t *testing.T, s promprobe.Spec) steadystate.Observation {
	t.Helper()
	p, err := promprobe.New(&s)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	o := p.Probe(t.Context())
	t.Logf("%s: %s %q %v (latency %s)", s.Query, o.Status, o.Detail, o.Values, o.Latency)
	if o.Time.IsZero() {
		t.Error("zero Time")
	}
	return o
}

func want(t *testing.T, o steadystate.Observation, st steadystate.Status, detail ...string) {
	t.Helper()
	if o.Status != st {
		t.Errorf("status %s (%q), want %s", o.Status, o.Detail, st)
	}
	for _, d := range detail {
		if !strings.Contains(o.Detail, d) {
			t.Errorf("detail %q lacks %q", o.Detail, d)
		}
	}
}

func TestAgainstRealPrometheus(t *testing.T) {
	e := startExporter(t)
	url := e.prom.URL

	t.Run("comparisons", func(t *testing.T) {
		e.value.Set(0.02)
		e.await(t, `fl_test_value == 0.02`)
		o := probe(t, promprobe.Spec{URL: url, Query: "fl_test_value", Below: f(0.05)})
		want(t, o, steadystate.StatusOK, "0.02, below 0.05")
		if o.Values["value"] != "0.02" || o.Values["series"] != "1" {
			t.Errorf("values %v, want value 0.02 and series 1", o.Values)
		}
		want(t, probe(t, promprobe.Spec{URL: url, Query: "fl_test_value", Below: f(0.01)}), steadystate.StatusFailed, "0.02, not below 0.01")
		// Timeouts that are not whole seconds are still a duration Prometheus parses.
		for _, d := range []time.Duration{1500 * time.Millisecond, 1234567 * time.Microsecond, 90 * time.Second} {
			want(t, probe(t, promprobe.Spec{URL: url, Query: "fl_test_value", Below: f(1), Timeout: d}), steadystate.StatusOK)
		}
		want(t, probe(t, promprobe.Spec{URL: url, Query: "fl_test_value", Above: f(0.01), Below: f(0.03)}), steadystate.StatusOK)
		want(t, probe(t, promprobe.Spec{URL: url, Query: "fl_test_value", Between: []float64{0.03, 1}}), steadystate.StatusFailed, "not between 0.03 and 1")
		want(t, probe(t, promprobe.Spec{URL: url, Query: "fl_test_value * 50", Equals: f(1)}), steadystate.StatusOK)
		want(t, probe(t, promprobe.Spec{URL: url, Query: "scalar(fl_test_value)", Above: f(0.1)}), steadystate.StatusFailed, "0.02, not above 0.1")
		// 0/0: no traffic in a ratio's window.
		want(t, probe(t, promprobe.Spec{URL: url, Query: "fl_test_value * 0 / 0", Below: f(1)}), steadystate.StatusErrored, "empty result: only NaN")
		want(t, probe(t, promprobe.Spec{URL: url, Query: "fl_test_value * 0 / 0", Below: f(1), IfEmpty: "failed"}), steadystate.StatusFailed, "empty result: only NaN")
	})

	t.Run("several series", func(t *testing.T) {
		for i, shard := range []string{"a", "b", "c"} {
			e.multi.WithLabelValues(shard).Set(float64(i + 1))
		}
		e.await(t, `count(fl_test_multi) == 3`)
		q := "fl_test_multi"
		o := probe(t, promprobe.Spec{URL: url, Query: q, Below: f(10)})
		want(t, o, steadystate.StatusErrored, "query returned 3 series, want one", `shard="a"`, `shard="b"`, `shard="c"`)
		want(t, probe(t, promprobe.Spec{URL: url, Query: q, Below: f(10), Series: "all"}), steadystate.StatusOK, "3 of 3 series below 10")
		o = probe(t, promprobe.Spec{URL: url, Query: q, Below: f(2.5), Series: "all"})
		want(t, o, steadystate.StatusFailed, "1 of 3 series not below 2.5", `shard="c"`)
		if strings.Contains(o.Detail, `shard="a"`) {
			t.Errorf("detail %q names a series that is ok", o.Detail)
		}
		if o.Values[`fl_test_multi{instance="`+e.promTargetInstance(t)+`", job="exporter", shard="c"}`] != "3" {
			t.Errorf("values %v lack the per-series value of shard c", o.Values)
		}
		want(t, probe(t, promprobe.Spec{URL: url, Query: q, Below: f(1.5), Series: "any"}), steadystate.StatusOK, "1 of 3 series below 1.5")
		want(t, probe(t, promprobe.Spec{URL: url, Query: q, Above: f(5), Series: "any"}), steadystate.StatusFailed, "none of 3 series above 5")
	})

	t.Run("empty result", func(t *testing.T) {
		q := `fl_test_value{shard="nope"}`
		o := probe(t, promprobe.Spec{URL: url, Query: q, Below: f(1)})
		want(t, o, steadystate.StatusErrored, "empty result")
		if o.Values["result"] != "empty" {
			t.Errorf("values %v, want result=empty", o.Values)
		}
		want(t, probe(t, promprobe.Spec{URL: url, Query: q, Below: f(1), IfEmpty: "failed"}), steadystate.StatusFailed, "empty result")
		want(t, probe(t, promprobe.Spec{URL: url, Query: q, Below: f(1), IfEmpty: "ok"}), steadystate.StatusOK, "empty result")
	})

	t.Run("bad PromQL is errored with prometheus' message", func(t *testing.T) {
		o := probe(t, promprobe.Spec{URL: url, Query: "sum(rate(fl_test_value[1m]", Below: f(1)})
		want(t, o, steadystate.StatusErrored, "prometheus: bad_data", "parse error")
		want(t, probe(t, promprobe.Spec{URL: url, Query: "fl_test_value[1m]", Below: f(1)}), steadystate.StatusErrored, "range vector")
		want(t, probe(t, promprobe.Spec{URL: url, Query: `"text"`, Below: f(1)}), steadystate.StatusErrored, "string")
	})

	t.Run("breaker from a gauge", func(t *testing.T) {
		spec := promprobe.Spec{URL: url, Query: `fl_breaker_state{name="payments"}`,
			Breaker: &promprobe.Breaker{Gauge: &promprobe.Gauge{Closed: f(0), HalfOpen: f(1), Open: f(2)}}}
		for _, c := range []struct {
			v     float64
			state string
			st    steadystate.Status
		}{{2, "open", steadystate.StatusFailed}, {1, "half-open", steadystate.StatusFailed}, {0, "closed", steadystate.StatusOK}} {
			e.breaker.Set(c.v)
			e.await(t, `fl_breaker_state == `+promprobeNum(c.v))
			o := probe(t, spec)
			want(t, o, c.st, c.state)
			if o.Values[promprobe.BreakerValue] != c.state {
				t.Errorf("value %g: Values[breaker] = %q, want %q", c.v, o.Values[promprobe.BreakerValue], c.state)
			}
		}
		e.breaker.Set(7)
		e.await(t, `fl_breaker_state == 7`)
		o := probe(t, spec)
		want(t, o, steadystate.StatusErrored, "is 7, which maps to no state")
		if _, ok := o.Values[promprobe.BreakerValue]; ok {
			t.Errorf("an unmapped value recorded a breaker state: %v", o.Values)
		}
	})

	t.Run("breaker from one series per state", func(t *testing.T) {
		spec := promprobe.Spec{URL: url, Query: `resilience4j_circuitbreaker_state{name="backendA"}`,
			Breaker: &promprobe.Breaker{StateLabel: &promprobe.StateLabel{}}}
		for _, c := range []struct {
			label, state string
			st           steadystate.Status
		}{{"open", "open", steadystate.StatusFailed}, {"half_open", "half-open", steadystate.StatusFailed},
			{"forced_open", "open", steadystate.StatusFailed}, {"closed", "closed", steadystate.StatusOK}} {
			e.setR4j(c.label)
			e.await(t, `resilience4j_circuitbreaker_state{state="`+c.label+`"} == 1`)
			o := probe(t, spec)
			want(t, o, c.st, c.state, `state="`+c.label+`"`)
			if o.Values[promprobe.BreakerValue] != c.state {
				t.Errorf("%s: Values[breaker] = %q, want %q", c.label, o.Values[promprobe.BreakerValue], c.state)
			}
		}
		e.setR4j("disabled")
		e.await(t, `resilience4j_circuitbreaker_state{state="disabled"} == 1`)
		want(t, probe(t, spec), steadystate.StatusErrored, `state="disabled"`, "maps to no state")
		custom := spec
		custom.Breaker = &promprobe.Breaker{StateLabel: &promprobe.StateLabel{Label: "state", Closed: []string{"closed", "disabled"}}}
		want(t, probe(t, custom), steadystate.StatusOK, "closed")
	})

	t.Run("auth and TLS through a reverse proxy", func(t *testing.T) {
		target, _ := neturl(e.prom.URL)
		rp := httputil.NewSingleHostReverseProxy(target)
		front := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); ok && u == "faultline" && p == "s3cret" || r.Header.Get("Authorization") == "Bearer tok-123" {
				rp.ServeHTTP(w, r)
				return
			}
			http.Error(w, "unauthorized", http.StatusUnauthorized)
		}))
		defer front.Close()
		dir := t.TempDir()
		ca := filepath.Join(dir, "ca.pem")
		writePEM(t, ca, front.Certificate())
		tokFile := filepath.Join(dir, "token")
		if err := os.WriteFile(tokFile, []byte("tok-123\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("FL_TEST_PROM_PASSWORD", "s3cret")
		t.Setenv("FL_TEST_PROM_TOKEN", "wrong")
		base := promprobe.Spec{URL: front.URL, Query: "fl_test_value", Below: f(1), TLS: &promprobe.TLS{CAFile: ca}}

		s := base
		s.BearerTokenFile = tokFile
		want(t, probe(t, s), steadystate.StatusOK)
		s = base
		s.BasicAuth = &promprobe.BasicAuth{Username: "faultline", PasswordEnv: "FL_TEST_PROM_PASSWORD"}
		want(t, probe(t, s), steadystate.StatusOK)
		s = base
		s.BearerTokenEnv = "FL_TEST_PROM_TOKEN"
		want(t, probe(t, s), steadystate.StatusErrored, "401", "unauthorized")
		s = base
		s.BearerTokenEnv = "FL_TEST_PROM_UNSET"
		want(t, probe(t, s), steadystate.StatusErrored, "FL_TEST_PROM_UNSET is not set")
		s = base
		s.TLS = nil // the test CA is not trusted by the system
		want(t, probe(t, s), steadystate.StatusErrored, "certificate")
	})

	t.Run("cancelled", func(t *testing.T) {
		p, err := promprobe.New(&promprobe.Spec{URL: url, Query: "fl_test_value", Below: f(1)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		want(t, p.Probe(ctx), steadystate.StatusErrored, "cancelled")
	})

	// Last: it stops the server.
	t.Run("prometheus down is errored, not failed", func(t *testing.T) {
		e.prom.Stop()
		o := probe(t, promprobe.Spec{URL: url, Query: "fl_test_value", Below: f(1)})
		want(t, o, steadystate.StatusErrored, "asking prometheus", "connection refused")
	})
}

// TestPrometheusNotAnswering: a Prometheus that accepts the connection but never
// answers is errored after the probe's timeout.
func TestPrometheusNotAnswering(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hold := make(chan struct{})
	defer close(hold)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-hold; c.Close() }()
		}
	}()
	o := probe(t, promprobe.Spec{URL: "http://" + ln.Addr().String(), Query: "up", Below: f(1), Timeout: 300 * time.Millisecond})
	want(t, o, steadystate.StatusErrored, "did not answer within 300ms")
	if o.Latency < 300*time.Millisecond || o.Latency > 5*time.Second {
		t.Errorf("latency %s, want about the 300ms timeout", o.Latency)
	}
}

func (e *exporter) promTargetInstance(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	targets, err := e.prom.API.Targets(ctx)
	if err != nil || len(targets.Active) == 0 {
		t.Fatalf("targets: %v %v", targets, err)
	}
	return string(targets.Active[0].Labels["instance"])
}

func promprobeNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func neturl(raw string) (*url.URL, error) { return url.Parse(raw) }

func writePEM(t *testing.T, path string, cert *x509.Certificate) {
	t.Helper()
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkProbe measures one observation against a real Prometheus: an error-ratio
// style query over a scraped gauge (query, HTTP round trip and judgement).
func BenchmarkProbe(b *testing.B) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fl_bench", Help: "bench"}, []string{"outcome"})
	reg.MustRegister(g)
	g.WithLabelValues("ok").Set(99)
	g.WithLabelValues("error").Set(1)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	prom := promserver.Start(b, promserver.Options{Targets: []promserver.Target{{Job: "bench", Address: srv.Listener.Addr().String()}}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prom.WaitForScrape(ctx, b, "bench")
	p, err := promprobe.New(&promprobe.Spec{URL: prom.URL, Query: `sum(fl_bench{outcome="error"}) / sum(fl_bench)`, Below: f(0.05)})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.ResetTimer()
	for b.Loop() {
		if o := p.Probe(ctx); o.Status != steadystate.StatusOK {
			b.Fatalf("%s %q", o.Status, o.Detail)
		}
	}
}
