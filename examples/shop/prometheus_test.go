package shop_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/examples/shop"
	"github.com/faultline-dev/faultline/experiments"
	"github.com/faultline-dev/faultline/internal/testenv/promserver"
	"github.com/faultline-dev/faultline/reports"
	"github.com/faultline-dev/faultline/steadystate/circuitbreaker"
	"github.com/faultline-dev/faultline/steadystate/promprobe"
)

// prometheusAddr is the fixed Prometheus address of payments-outage-prometheus.yaml.
const prometheusAddr = "127.0.0.1:19090"

const promExperiment = "payments-outage-prometheus.yaml"

// TestPrometheusExperiment runs payments-outage-prometheus.yaml against a real
// Prometheus scraping the real checkout: the resilient build passes with its error
// ratio and p99 judged from Prometheus; the fragile build is stopped by the abort
// rule on its error ratio; without that rule its error-ratio SLO fails with
// numbers; and with Prometheus down the prometheus probes are errored (never
// failed), so the baseline cannot be judged and nothing is injected.
func TestPrometheusExperiment(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs four experiments of 5-15 s each against a real Prometheus")
	}
	reg := registries(t)
	if _, ok := reg.Probes.Probe(promprobe.Key); !ok {
		t.Fatal("experiments.DefaultRegistries lacks the prometheus probe: wire it in steadystate/install")
	}
	tests := []struct {
		name       string
		breaker    bool
		noAbort    bool
		promDown   bool
		verdict    string
		reasonFrag string
	}{
		{"resilient passes", true, false, false, reports.VerdictPassed, ""},
		{"fragile is aborted on its error ratio", false, false, false, reports.VerdictAborted, `abort condition: probe "checkout-error-ratio" success ratio`},
		{"fragile fails its error-ratio SLO", false, true, false, reports.VerdictFailed, ""},
		{"prometheus down is errored, not failed", true, false, true, reports.VerdictNotSteady, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
			defer cancel()
			res := runWithPrometheus(ctx, t, reg, tt.breaker, tt.noAbort, tt.promDown)
			for _, c := range res.Checks {
				t.Logf("check %-60s %-7s expected %s; measured %s; %s", c.Name, c.Status, c.Expected, c.Measured, c.Reason)
			}
			if res.Verdict != tt.verdict {
				t.Fatalf("verdict %q (%s), want %q", res.Verdict, res.Reason, tt.verdict)
			}
			if !strings.Contains(res.Reason, tt.reasonFrag) {
				t.Errorf("reason %q lacks %q", res.Reason, tt.reasonFrag)
			}
			switch tt.name {
			case "resilient passes":
				for _, name := range []string{"slo(checkout-error-ratio).successRatio during", "slo(checkout-p99).successRatio during"} {
					if c, ok := checkNamed(res, name); !ok || c.Status != reports.CheckPassed {
						t.Errorf("%s: %+v", name, c)
					}
				}
				if c, ok := findCheck(res, circuitbreaker.Key, ""); !ok || c.Status != reports.CheckPassed {
					t.Errorf("circuitBreaker with the state read through Prometheus: %+v", c)
				}
				// The observations carry the values read, for the reports.
				if v := lastValue(res, "checkout-error-ratio", "value"); v != "0" {
					t.Errorf("checkout-error-ratio Values[value] = %q, want 0 (no errors)", v)
				}
				if v := lastValue(res, "checkout-breaker", promprobe.BreakerValue); v != "closed" {
					t.Errorf("checkout-breaker Values[breaker] = %q at the end, want closed", v)
				}
				if !sawValue(res, "checkout-breaker", promprobe.BreakerValue, "open") {
					t.Error("checkout-breaker never read the breaker open through Prometheus")
				}
			case "fragile fails its error-ratio SLO":
				c, ok := checkNamed(res, "slo(checkout-error-ratio).successRatio during")
				if !ok || c.Status != reports.CheckFailed || !strings.Contains(c.Measured, "ok /") {
					t.Errorf("error-ratio SLO: %+v, want failed with its numbers", c)
				}
				if c, ok := checkNamed(res, "slo(checkout-p99).successRatio during"); !ok || c.Status != reports.CheckPassed {
					t.Errorf("p99 SLO: %+v, want passed (the fragile checkout fails fast on a refused connection)", c)
				}
				if !sawValue(res, "checkout-error-ratio", "value", "1") {
					t.Error("no checkout-error-ratio observation read an error ratio of 1")
				}
				// selfHealing over a PromQL probe: the error ratio falls back under 1%
				// once the 2 s rate window no longer holds the outage.
				if c, ok := findCheck(res, "selfHealing", "checkout-error-ratio"); !ok || c.Status != reports.CheckPassed || !strings.Contains(c.Measured, "recovered after") {
					t.Errorf("selfHealing(checkout-error-ratio): %+v, want passed with the time to recover", c)
				}
			case "prometheus down is errored, not failed":
				for _, s := range res.Probes {
					if strings.HasPrefix(s.Name, "checkout-") && (s.Failed != 0 || s.Errored == 0) {
						t.Errorf("probe %s: %d failed, %d errored; want only errored", s.Name, s.Failed, s.Errored)
					}
				}
				c, ok := checkNamed(res, "slo(checkout-error-ratio).successRatio baseline")
				if !ok || c.Status != reports.CheckErrored {
					t.Errorf("baseline error-ratio SLO: %+v, want errored", c)
				}
				if len(res.Injections) != 0 {
					t.Errorf("injected %d faults after a baseline that could not be judged", len(res.Injections))
				}
			}
		})
	}
}

// runWithPrometheus starts payments, checkout and a Prometheus scraping checkout on
// free ports, rewrites the experiment's fixed addresses, and runs it.
func runWithPrometheus(ctx context.Context, t *testing.T, reg experiments.Registries, breaker, noAbort, promDown bool) *reports.Result {
	t.Helper()
	addrs := freeAddrs(t, 4)
	startPayments(t, shop.PaymentsConfig{Addr: addrs[2]})
	startCheckout(t, shop.CheckoutConfig{Addr: addrs[0], PaymentsURL: "http://" + addrs[1], Breaker: breaker})
	prom := addrs[3] // nothing listens there when Prometheus is down
	if !promDown {
		srv := promserver.Start(t, promserver.Options{Targets: []promserver.Target{{Job: "shop-checkout", Address: addrs[0]}}})
		srv.WaitForScrape(ctx, t, "shop-checkout")
		prom = srv.Addr
	}
	data, err := os.ReadFile(filepath.Join("experiments", promExperiment))
	if err != nil {
		t.Fatal(err)
	}
	for i, fixed := range []string{checkoutAddr, proxyAddr, paymentsAddr, prometheusAddr} {
		if !bytes.Contains(data, []byte(fixed)) {
			t.Fatalf("%s does not mention %s", promExperiment, fixed)
		}
		to := addrs[i]
		if fixed == prometheusAddr {
			to = prom
		}
		data = bytes.ReplaceAll(data, []byte(fixed), []byte(to))
	}
	if noAbort {
		i := bytes.Index(data, []byte("\n  abort:\n"))
		j := bytes.Index(data, []byte("\n  safety:\n"))
		if i < 0 || j < i {
			t.Fatalf("%s: no abort block before safety", promExperiment)
		}
		data = append(data[:i:i], data[j:]...)
	}
	e, err := experiments.Decode(data, promExperiment, reg)
	if err != nil {
		t.Fatalf("decoding %s: %v", promExperiment, err)
	}
	res, err := experiments.Run(ctx, e, experiments.Options{Registries: reg, JournalDir: t.TempDir(), Progress: logWriter{t}})
	if err != nil {
		t.Fatalf("running %s: %v", promExperiment, err)
	}
	return res
}

func checkNamed(res *reports.Result, prefix string) (reports.Check, bool) {
	for _, c := range res.Checks {
		if strings.HasPrefix(c.Name, prefix) {
			return c, true
		}
	}
	return reports.Check{}, false
}

func lastValue(res *reports.Result, probe, key string) string {
	for _, s := range res.Probes {
		if s.Name != probe {
			continue
		}
		for i := len(s.Observations) - 1; i >= 0; i-- {
			if v, ok := s.Observations[i].Values[key]; ok {
				return v
			}
		}
	}
	return ""
}

func sawValue(res *reports.Result, probe, key, want string) bool {
	for _, s := range res.Probes {
		if s.Name != probe {
			continue
		}
		for _, o := range s.Observations {
			if o.Values[key] == want {
				return true
			}
		}
	}
	return false
}
