package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/faultline-dev/faultline/examples/shop"
)

// updateGolden rewrites reports/testdata/*.json from the real runs of these tests.
var updateGolden = flag.Bool("update", false, "copy the real runs' report.json into reports/testdata")

// shopExperiment is examples/shop/experiments/payments-outage.yaml on the given
// addresses; abort adds a stop condition that fires when checkout fails.
func shopExperiment(name, checkout, proxy, payments string, abort bool) string {
	s := fmt.Sprintf(`apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: %s, labels: {example: shop}}
spec:
  description: Checkout keeps answering, fast, while payments refuses every connection.
  steadyState:
    baseline: 1500ms
    recovery: 10s
    probes:
      - name: checkout
        every: 100ms
        http: {url: "http://%s/checkout", timeout: 3s, expectStatus: [200]}
        slo: {successRatio: 0.99, latencyP99: 250ms}
      - name: checkout-health
        every: 100ms
        http: {url: "http://%s/health", timeout: 1s}
  proxies:
    - {name: payments, listen: "%s", upstream: "%s"}
  faults:
    - name: payments-down
      dependencyFailure: {proxy: payments, mode: down}
      duration: 5s
  verify:
    - circuitBreaker:
        probe: checkout
        opensWithin: 1s
        fastFailUnder: 100ms
        closesWithin: 5s
        stateFrom: {header: X-Circuit-State}
    - selfHealing: {probe: checkout, recoversWithin: 5s, from: faultEnd}
  safety:
    maxDuration: 1m
`, name, checkout, checkout, proxy, payments)
	if abort {
		s += "  abort:\n    - {probe: checkout, successRatioBelow: 0.5, over: 1s}\n"
	}
	return s
}

// shopRun starts the example shop (resilient with breaker, else fragile) on free
// ports, runs the payments-outage experiment through the CLI and returns the report
// directory and the exit code.
func shopRun(t *testing.T, name string, breaker, abort bool) (string, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	payments, err := shop.StartPayments(ctx, shop.PaymentsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { payments.Close() })
	proxy := freePort(t)
	checkout, err := shop.StartCheckout(ctx, shop.CheckoutConfig{PaymentsURL: "http://" + proxy, Breaker: breaker})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkout.Close() })
	exp := writeFile(t, name+".yaml", shopExperiment(name, checkout.Addr, proxy, payments.Addr, abort))
	dir := filepath.Join(t.TempDir(), "out")
	code, out, errOut := runCLI(t, "run", "--progress", "none", "--journal", t.TempDir(), "--report-dir", dir, exp)
	t.Logf("chaos run %s: exit %d\n%s%s", name, code, out, errOut)
	if *updateGolden {
		b, err := os.ReadFile(filepath.Join(dir, "report.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("../../reports/testdata", name+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, code
}

func TestShopRunsGolden(t *testing.T) {
	for _, tc := range []struct {
		name           string
		breaker, abort bool
	}{{"shop-resilient", true, false}, {"shop-fragile", false, false}, {"shop-fragile-abort", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir, code := shopRun(t, tc.name, tc.breaker, tc.abort)
			t.Log(dir, code)
		})
	}
}
