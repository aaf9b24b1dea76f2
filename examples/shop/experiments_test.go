package shop_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/examples/shop"
	"github.com/faultline-dev/faultline/experiments"
	"github.com/faultline-dev/faultline/reports"
	"github.com/faultline-dev/faultline/steadystate/circuitbreaker"
)

// Fixed loopback ports of the example experiments; the tests rewrite them to free ones.
const (
	checkoutAddr = "127.0.0.1:18080"
	proxyAddr    = "127.0.0.1:18081"
	paymentsAddr = "127.0.0.1:18082"
)

// registries returns the built-in registries and fails the test, naming what is
// missing, if a kind the example experiments use is not wired in.
func registries(t *testing.T) experiments.Registries {
	t.Helper()
	reg, err := experiments.DefaultRegistries()
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, k := range []string{"dependencyFailure", "latency"} {
		if _, ok := reg.Injectors.Lookup(k); !ok {
			missing = append(missing, "fault "+k)
		}
	}
	for _, k := range []string{"http", circuitbreaker.ProbeKey} {
		if _, ok := reg.Probes.Probe(k); !ok {
			missing = append(missing, "probe "+k)
		}
	}
	for _, k := range []string{circuitbreaker.Key, "selfHealing"} {
		if _, ok := reg.Probes.Assertion(k); !ok {
			missing = append(missing, "assertion "+k)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("experiments.DefaultRegistries lacks %s: wire them in injectors/install and steadystate/install", strings.Join(missing, ", "))
	}
	return reg
}

// freeAddrs returns n distinct free loopback addresses.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		out = append(out, ln.Addr().String())
	}
	return out
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestExampleExperiments runs both example experiments through the runner against
// the resilient and the fragile checkout: resilient passes, fragile fails, and the
// failing checks carry their numbers.
func TestExampleExperiments(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs four experiments of about 10 s each")
	}
	reg := registries(t)
	tests := []struct {
		file    string
		breaker bool
		verdict string
		// failing lists, per failing check (by Kind and a name fragment), fragments
		// its Measured or Reason must contain.
		failing map[string][]string
	}{
		{"payments-outage.yaml", true, reports.VerdictPassed, nil},
		{"payments-outage.yaml", false, reports.VerdictFailed, map[string][]string{
			"slo successRatio":       {"ok /"},
			circuitbreaker.Key + " ": {"never opened", "no observation of checkout carried a breaker state"},
		}},
		{"payments-slowdown.yaml", true, reports.VerdictPassed, nil},
		{"payments-slowdown.yaml", false, reports.VerdictFailed, map[string][]string{
			"slo latencyP99":         {"p99 2", "exceeds 250ms"},
			circuitbreaker.Key + " ": {"never opened", "never 3 in a row"},
		}},
	}
	for _, tt := range tests {
		build := "fragile"
		if tt.breaker {
			build = "resilient"
		}
		t.Run(strings.TrimSuffix(tt.file, ".yaml")+"/"+build, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			res := runExample(ctx, t, reg, tt.file, tt.breaker)
			for _, c := range res.Checks {
				t.Logf("check %-60s %-7s expected %s; measured %s; %s", c.Name, c.Status, c.Expected, c.Measured, c.Reason)
			}
			if res.Verdict != tt.verdict {
				t.Fatalf("verdict %q (%s), want %q", res.Verdict, res.Reason, tt.verdict)
			}
			if got := experiments.ExitCode(res); (got == 0) != (tt.verdict == reports.VerdictPassed) {
				t.Errorf("exit code %d for verdict %s", got, res.Verdict)
			}
			for key, frags := range tt.failing {
				kind, name, _ := strings.Cut(key, " ")
				c, ok := findCheck(res, kind, name)
				if !ok {
					t.Errorf("no %s check named like %q", kind, name)
					continue
				}
				if c.Status != reports.CheckFailed {
					t.Errorf("%s: status %s, want failed", c.Name, c.Status)
				}
				for _, f := range frags {
					if !strings.Contains(c.Measured+" | "+c.Reason, f) {
						t.Errorf("%s: measured %q, reason %q lack %q", c.Name, c.Measured, c.Reason, f)
					}
				}
			}
			if tt.breaker {
				c, ok := findCheck(res, circuitbreaker.Key, "")
				if !ok || c.Status != reports.CheckPassed || !strings.Contains(c.Measured, "opened after") || !strings.Contains(c.Measured, "closed after") {
					t.Errorf("circuitBreaker check: %+v", c)
				}
			}
		})
	}
}

func findCheck(res *reports.Result, kind, name string) (reports.Check, bool) {
	for _, c := range res.Checks {
		if c.Kind == kind && strings.Contains(c.Name, name) && (kind != "slo" || strings.Contains(c.Name, "during")) {
			return c, true
		}
	}
	return reports.Check{}, false
}

// runExample starts payments and checkout on free ports, rewrites the experiment's
// fixed ports to them, and runs it.
func runExample(ctx context.Context, t *testing.T, reg experiments.Registries, file string, breaker bool) *reports.Result {
	t.Helper()
	addrs := freeAddrs(t, 3)
	data, err := os.ReadFile(filepath.Join("experiments", file))
	if err != nil {
		t.Fatal(err)
	}
	for i, fixed := range []string{checkoutAddr, proxyAddr, paymentsAddr} {
		if !bytes.Contains(data, []byte(fixed)) {
			t.Fatalf("%s does not mention %s", file, fixed)
		}
		data = bytes.ReplaceAll(data, []byte(fixed), []byte(addrs[i]))
	}
	startPayments(t, shop.PaymentsConfig{Addr: addrs[2]})
	startCheckout(t, shop.CheckoutConfig{Addr: addrs[0], PaymentsURL: "http://" + addrs[1], Breaker: breaker})
	e, err := experiments.Decode(data, file, reg)
	if err != nil {
		t.Fatalf("decoding %s: %v", file, err)
	}
	res, err := experiments.Run(ctx, e, experiments.Options{Registries: reg, JournalDir: t.TempDir(), Progress: logWriter{t}})
	if err != nil {
		t.Fatalf("running %s: %v", file, err)
	}
	return res
}

// TestExperimentFilesDecode checks that the shipped experiment files decode as they
// are, with their fixed ports.
func TestExperimentFilesDecode(t *testing.T) {
	reg := registries(t)
	files, err := filepath.Glob("experiments/*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("experiment files: %v %v", files, err)
	}
	for _, f := range files {
		if _, err := experiments.Load(f, reg); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
