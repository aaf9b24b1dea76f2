package chaostest

import (
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"github.com/onsi/gomega/types"

	"github.com/faultline-dev/faultline/reports"
)

var t0 = time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)

// fixture is a run of 10 s: baseline 0–2 s, fault "payments-down" 2–6 s, recovery
// 6–10 s, probe "checkout" sampled every 100 ms. During the fault the probe answers
// 503 after slow(i); afterwards it is ok again from okAgain on.
func fixture(verdict string, slow func(i int) time.Duration, okAgain time.Duration, checks ...reports.Check) *reports.Result {
	r := &reports.Result{
		RunID: "20261123t070000-abcdef", Experiment: "checkout-outage",
		Started: t0, Ended: t0.Add(10 * time.Second), Verdict: verdict, Reason: "reason of " + verdict,
		Phases: []reports.Phase{
			{Name: "baseline", Start: t0, End: t0.Add(2 * time.Second)},
			{Name: "inject", Start: t0.Add(2 * time.Second), End: t0.Add(2 * time.Second)},
			{Name: "observe", Start: t0.Add(2 * time.Second), End: t0.Add(6 * time.Second)},
			{Name: "recover", Start: t0.Add(6 * time.Second), End: t0.Add(10 * time.Second)},
		},
		Injections: []reports.Injection{{Fault: "payments-down", Kind: "dependencyFailure",
			InjectedAt: t0.Add(2 * time.Second), RevertedAt: t0.Add(6 * time.Second)}},
		Checks: checks,
	}
	s := reports.ProbeSeries{Name: "checkout", Kind: "http"}
	for i := range 100 {
		at := time.Duration(i) * 100 * time.Millisecond
		o := reports.Observation{Time: t0.Add(at), Status: "ok", Latency: 10 * time.Millisecond, Detail: "200"}
		if at >= 2*time.Second && at < okAgain {
			o.Status, o.Latency, o.Detail = "failed", slow(i), "503"
		}
		s.Observations = append(s.Observations, o)
	}
	r.Probes = []reports.ProbeSeries{s}
	return r
}

func constant(d time.Duration) func(int) time.Duration { return func(int) time.Duration { return d } }

// peak is slow everywhere, slowest (2.345 s) at observation 37 (t+3.7 s).
func peak(i int) time.Duration {
	if i == 37 {
		return 2345 * time.Millisecond
	}
	return time.Second
}

var (
	baselineOK = reports.Check{Name: "slo(checkout).successRatio baseline", Kind: "slo", Probe: "checkout",
		Status: reports.CheckPassed, Expected: ">= 0.99", Measured: "1 (20 ok / 20)", Details: map[string]string{"window": "baseline"}}
	p99Failed = reports.Check{Name: "slo(checkout).latencyP99 during payments-down", Kind: "slo", Probe: "checkout",
		Status: reports.CheckFailed, Expected: "<= 250ms", Measured: "p99 2.35s",
		Reason:  "p99 latency 2.35s exceeds 250ms over 40 observations (max 2.35s)",
		Details: map[string]string{"window": "during payments-down", "p99": "2.345s"}}
	p99Passed = reports.Check{Name: "slo(checkout).latencyP99 during payments-down", Kind: "slo", Probe: "checkout",
		Status: reports.CheckPassed, Expected: "<= 250ms", Measured: "p99 12ms", Details: map[string]string{"window": "during payments-down"}}
	healed = reports.Check{Name: "selfHealing(checkout)", Kind: "selfHealing", Probe: "checkout", Status: reports.CheckPassed,
		Expected: "within 15s", Measured: "recovered after 3.2s", Details: map[string]string{"recovered after": "3.2s"}}
	neverHealed = reports.Check{Name: "selfHealing(checkout)", Kind: "selfHealing", Probe: "checkout", Status: reports.CheckFailed,
		Expected: "within 15s", Measured: "not recovered", Reason: "checkout did not recover within 15s"}
	breaker = reports.Check{Name: "circuitBreaker(checkout)", Kind: "circuitBreaker", Probe: "checkout", Status: reports.CheckPassed,
		Expected: "opens within 2s, closes within 10s", Measured: "opened after 180ms, closed after 1.4s",
		Details: map[string]string{"opened after": "180ms", "closedAfter": "1.4s"}}
	breakerNever = reports.Check{Name: "circuitBreaker(checkout)", Kind: "circuitBreaker", Probe: "checkout", Status: reports.CheckFailed,
		Expected: "opens within 2s", Measured: "never opened", Reason: "answers stayed slow (p50 1s) for the whole fault: the breaker never opened"}
)

// match runs m on actual and returns (ok, message of the failing polarity, error).
func match(t *testing.T, m types.GomegaMatcher, actual any) (bool, string, error) {
	t.Helper()
	ok, err := m.Match(actual)
	if err != nil {
		return ok, "", err
	}
	if ok {
		return true, m.NegatedFailureMessage(actual), nil
	}
	return false, m.FailureMessage(actual), nil
}

// mustContain checks that msg contains each part, comparing runs of spaces as one.
func mustContain(t *testing.T, msg string, parts ...string) {
	t.Helper()
	squeeze := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for _, p := range parts {
		if !strings.Contains(squeeze(msg), squeeze(p)) {
			t.Errorf("message lacks %q:\n%s", p, msg)
		}
	}
}

func TestPass(t *testing.T) {
	passed := fixture(reports.VerdictPassed, constant(12*time.Millisecond), 0, baselineOK, p99Passed, healed)
	ok, msg, err := match(t, Pass(), passed)
	if err != nil || !ok {
		t.Fatalf("Pass() on a passed run = %v, %v", ok, err)
	}
	// Under NotTo the message shows what was measured.
	mustContain(t, msg, `experiment "checkout-outage" (run 20261123t070000-abcdef) passed`, "expected NOT to pass",
		"✓ slo(checkout).latencyP99 during payments-down: expected <= 250ms, measured p99 12ms", "recovered after 3.2s")

	failed := fixture(reports.VerdictFailed, peak, 6*time.Second, baselineOK, p99Failed, healed)
	ok, msg, err = match(t, Pass(), failed)
	if err != nil || ok {
		t.Fatalf("Pass() on a failed run = %v, %v", ok, err)
	}
	mustContain(t, msg, "did not pass: verdict failed: reason of failed", "1 of 3 checks did not hold",
		"✗ slo(checkout).latencyP99 during payments-down: expected <= 250ms, measured p99 2.35s",
		"p99 latency 2.35s exceeds 250ms",
		"probe checkout, 5 samples around the slowest answer (#38 of 100):",
		" ▶ t+3.700s   observe   failed     2.35s  503",
		"t+3.500s", "t+3.900s")
	if strings.Contains(msg, "t+3.400s") || strings.Contains(msg, "t+4.000s") {
		t.Errorf("message shows more than 5 samples:\n%s", msg)
	}
	if strings.Contains(msg, "slo(checkout).successRatio baseline") {
		t.Errorf("failure message lists a check that passed:\n%s", msg)
	}

	// A reason that only lists the failing checks is cut to its count: they follow in full.
	failed.Reason = "1 of 3 checks failed: slo(checkout).latencyP99 during payments-down: expected <= 250ms, measured p99 2.35s"
	_, msg, _ = match(t, Pass(), failed)
	if !strings.Contains(msg, "did not pass: verdict failed: 1 of 3 checks failed:\n  ✗ slo(checkout).latencyP99") || strings.Count(msg, "measured p99 2.35s") != 1 {
		t.Errorf("reason not shortened:\n%s", msg)
	}

	aborted := fixture(reports.VerdictAborted, constant(time.Second), 6*time.Second)
	if ok, _, err := match(t, Pass(), aborted); ok || err != nil {
		t.Errorf("Pass() on an aborted run = %v, %v; want a plain failure", ok, err)
	}
}

// An errored or not-steady run says nothing about resilience: it fails To(Pass())
// and NotTo(Pass()) alike.
func TestPassUnjudgedFailsBothPolarities(t *testing.T) {
	for _, verdict := range []string{reports.VerdictErrored, reports.VerdictNotSteady} {
		r := fixture(verdict, constant(time.Second), 6*time.Second)
		var msgs []string
		g := gomega.NewGomega(func(message string, _ ...int) { msgs = append(msgs, message) })
		g.Expect(r).To(Pass())
		g.Expect(r).NotTo(Pass())
		if len(msgs) != 2 {
			t.Fatalf("%s: %d failures, want 2 (To and NotTo): %q", verdict, len(msgs), msgs)
		}
		mustContain(t, msgs[1], "could not be judged, verdict "+verdict+": reason of "+verdict, `HaveVerdict("`+verdict+`")`)
		// HaveVerdict is how such a run is expected.
		msgs = nil
		g.Expect(r).To(HaveVerdict(verdict))
		if len(msgs) != 0 {
			t.Errorf("HaveVerdict(%q) failed: %q", verdict, msgs)
		}
	}
}

func TestHaveVerdict(t *testing.T) {
	r := fixture(reports.VerdictFailed, peak, 6*time.Second, baselineOK, p99Failed)
	if ok, msg, _ := match(t, HaveVerdict(reports.VerdictFailed), r); !ok {
		t.Errorf("HaveVerdict(failed) did not match a failed run: %s", msg)
	} else {
		mustContain(t, msg, "has verdict failed: reason of failed, expected any other verdict")
	}
	ok, msg, err := match(t, HaveVerdict(reports.VerdictPassed), r)
	if ok || err != nil {
		t.Fatalf("HaveVerdict(passed) on a failed run = %v, %v", ok, err)
	}
	mustContain(t, msg, `expected verdict "passed"`, "measured p99 2.35s", " ▶ t+3.700s")
}

func TestHoldSteadyState(t *testing.T) {
	held := fixture(reports.VerdictFailed, peak, 6*time.Second, baselineOK, p99Failed)
	if ok, msg, err := match(t, HoldSteadyState(), held); !ok || err != nil {
		t.Fatalf("HoldSteadyState() = %v, %v on a run whose baseline held", ok, err)
	} else {
		mustContain(t, msg, "the steady state held before injection", "slo(checkout).successRatio baseline")
	}

	badBase := baselineOK
	badBase.Status, badBase.Measured = reports.CheckFailed, "0.5 (10 ok / 20)"
	badBase.Reason = "success ratio 0.5 is below 0.99: 10 of 20 observations failed"
	notSteady := fixture(reports.VerdictNotSteady, constant(time.Second), 0, badBase)
	for i := 10; i < 20; i++ { // the second half of the baseline failed
		notSteady.Probes[0].Observations[i].Status = "failed"
		notSteady.Probes[0].Observations[i].Detail = "connection refused"
	}
	ok, msg, err := match(t, HoldSteadyState(), notSteady)
	if ok || err != nil {
		t.Fatalf("HoldSteadyState() = %v, %v on a not-steady run", ok, err)
	}
	mustContain(t, msg, "did not hold before injection: verdict not-steady", "measured 0.5 (10 ok / 20)",
		"around the first failure (#11 of 100)", " ▶ t+1.000s   baseline  failed", "connection refused")
}

func TestHoldSLO(t *testing.T) {
	bad := fixture(reports.VerdictFailed, peak, 6*time.Second, baselineOK, p99Failed, healed)
	ok, msg, err := match(t, HoldSLO("checkout"), bad)
	if ok || err != nil {
		t.Fatalf("HoldSLO(checkout) = %v, %v with a failed p99", ok, err)
	}
	mustContain(t, msg, `the SLO of probe "checkout" did not hold`, "expected <= 250ms, measured p99 2.35s", "2.35s  503")

	good := fixture(reports.VerdictPassed, constant(12*time.Millisecond), 0, baselineOK, p99Passed)
	if ok, msg, err := match(t, HoldSLO("checkout"), good); !ok || err != nil {
		t.Fatalf("HoldSLO(checkout) = %v, %v on a passing SLO", ok, err)
	} else {
		mustContain(t, msg, "held, expected it not to", "measured p99 12ms")
	}

	_, _, err = match(t, HoldSLO("payments"), good)
	if err == nil || !strings.Contains(err.Error(), `no SLO checks of probe "payments" (probes with SLO checks: [checkout])`) {
		t.Errorf("HoldSLO(unknown probe) error = %v", err)
	}

	noData := p99Passed
	noData.Status, noData.Measured = reports.CheckErrored, "no data"
	_, _, err = match(t, HoldSLO("checkout"), fixture(reports.VerdictFailed, peak, 0, noData))
	if err == nil || !strings.Contains(err.Error(), "could not be judged") {
		t.Errorf("HoldSLO over an errored check: error = %v", err)
	}
}

func TestRecoverWithin(t *testing.T) {
	r := fixture(reports.VerdictPassed, constant(time.Second), 9200*time.Millisecond, baselineOK, healed)
	if ok, msg, err := match(t, RecoverWithin(5*time.Second), r); !ok || err != nil {
		t.Fatalf("RecoverWithin(5s) = %v, %v for 3.2s", ok, err)
	} else {
		mustContain(t, msg, "expected NOT recovered within 5s", "selfHealing(checkout): recovered after 3.2s <= 5s")
	}
	ok, msg, err := match(t, RecoverWithin(2*time.Second), r)
	if ok || err != nil {
		t.Fatalf("RecoverWithin(2s) = %v, %v for 3.2s", ok, err)
	}
	mustContain(t, msg, "expected recovered within 2s", "selfHealing(checkout): recovered after 3.2s > 2s, 1.2s later than the bound",
		"around the last failure (#92 of 100)", " ▶ t+9.100s   recover   failed")

	// Read from the measured text when Details do not have it.
	textOnly := healed
	textOnly.Details = nil
	textOnly.Measured = "recovered after 1.75s"
	if ok, _, err := match(t, RecoverWithin(2*time.Second), fixture(reports.VerdictPassed, constant(time.Second), 7750*time.Millisecond, textOnly)); !ok || err != nil {
		t.Errorf("RecoverWithin(2s) = %v, %v for a measured text of 1.75s", ok, err)
	}

	ok, msg, err = match(t, RecoverWithin(time.Minute), fixture(reports.VerdictFailed, constant(time.Second), time.Hour, neverHealed))
	if ok || err != nil {
		t.Fatalf("RecoverWithin on a run that never recovered = %v, %v", ok, err)
	}
	mustContain(t, msg, "selfHealing(checkout): never recovered (bound 1m0s)", "checkout did not recover within 15s")

	// A probe that never failed had nothing to recover from: 0s.
	undisrupted := reports.Check{Name: "selfHealing(checkout)", Kind: "selfHealing", Probe: "checkout", Status: reports.CheckPassed,
		Expected: "within 2s", Measured: "no disruption seen", Details: map[string]string{"disrupted": "false"}}
	ok, msg, err = match(t, RecoverWithin(time.Millisecond), fixture(reports.VerdictPassed, constant(time.Second), 0, undisrupted))
	if !ok || err != nil {
		t.Fatalf("RecoverWithin on an undisrupted probe = %v, %v", ok, err)
	}
	mustContain(t, msg, "selfHealing(checkout): never disrupted, nothing to recover from (0s <= 1ms)")

	// Without selfHealing checks, the runner's recovery checks are read.
	runnerRecovery := reports.Check{Name: "recovery of checkout", Kind: "recovery", Probe: "checkout", Status: reports.CheckPassed,
		Expected: "3 consecutive ok within 5s after the last revert", Measured: "steady again after 645.31ms"}
	ok, msg, err = match(t, RecoverWithin(500*time.Millisecond), fixture(reports.VerdictPassed, constant(time.Second), 6600*time.Millisecond, runnerRecovery))
	if ok || err != nil {
		t.Fatalf("RecoverWithin(500ms) on a runner recovery of 645ms = %v, %v", ok, err)
	}
	mustContain(t, msg, "recovery of checkout: recovered after 645ms > 500ms")

	_, _, err = match(t, RecoverWithin(time.Second), fixture(reports.VerdictPassed, constant(time.Second), 0, baselineOK))
	if err == nil || !strings.Contains(err.Error(), "has no selfHealing check") {
		t.Errorf("RecoverWithin without a selfHealing check: error = %v", err)
	}
}

func TestCircuitMatchers(t *testing.T) {
	r := fixture(reports.VerdictPassed, constant(2*time.Millisecond), 6*time.Second, breaker)
	for _, tc := range []struct {
		m      types.GomegaMatcher
		ok     bool
		inText string
	}{
		{OpenCircuitWithin(time.Second), true, "circuitBreaker(checkout): opened after 180ms <= 1s"},
		{OpenCircuitWithin(100 * time.Millisecond), false, "circuitBreaker(checkout): opened after 180ms > 100ms, 80ms later than the bound"},
		{CloseCircuitWithin(2 * time.Second), true, "circuitBreaker(checkout): closed after 1.4s <= 2s"},
		{CloseCircuitWithin(time.Second), false, "closed after 1.4s > 1s"},
	} {
		ok, msg, err := match(t, tc.m, r)
		if err != nil || ok != tc.ok {
			t.Errorf("ok = %v, err = %v, want %v: %s", ok, err, tc.ok, msg)
		}
		mustContain(t, msg, tc.inText)
	}

	never := fixture(reports.VerdictFailed, constant(time.Second), 6*time.Second, breakerNever)
	ok, msg, err := match(t, OpenCircuitWithin(2*time.Second), never)
	if ok || err != nil {
		t.Fatalf("OpenCircuitWithin on a breaker that never opened = %v, %v", ok, err)
	}
	mustContain(t, msg, "circuitBreaker(checkout): never opened (bound 2s)", "the breaker never opened", "samples around the slowest answer")
	if ok, _, _ := match(t, CloseCircuitWithin(time.Hour), never); ok {
		t.Error("CloseCircuitWithin matched a breaker that never opened")
	}

	// The keys steadystate/circuitbreaker writes, when Measured says nothing.
	detailsOnly := breaker
	detailsOnly.Measured = ""
	detailsOnly.Details = map[string]string{"opened after (answers fast)": "180ms", "opened after (state open)": "never",
		"closed after (answers ok)": "1.4s"}
	if ok, msg, err := match(t, OpenCircuitWithin(200*time.Millisecond), fixture(reports.VerdictPassed, constant(time.Millisecond), 0, detailsOnly)); !ok || err != nil {
		t.Errorf("OpenCircuitWithin from circuitbreaker details = %v, %v: %s", ok, err, msg)
	}
	if ok, _, err := match(t, CloseCircuitWithin(time.Second), fixture(reports.VerdictPassed, constant(time.Millisecond), 0, detailsOnly)); ok || err != nil {
		t.Errorf("CloseCircuitWithin(1s) from a close after 1.4s = %v, %v", ok, err)
	}

	unknown := breaker
	unknown.Details, unknown.Measured = nil, "ok"
	_, _, err = match(t, OpenCircuitWithin(time.Second), fixture(reports.VerdictPassed, constant(time.Millisecond), 0, unknown))
	if err == nil || !strings.Contains(err.Error(), "does not say when it opened") {
		t.Errorf("OpenCircuitWithin without a measured time: error = %v", err)
	}
}

func TestHaveCheck(t *testing.T) {
	r := fixture(reports.VerdictFailed, peak, 6*time.Second, baselineOK, p99Failed, healed)
	for _, tc := range []struct {
		name string
		m    types.GomegaMatcher
		ok   bool
	}{
		{"by name", HaveCheck("selfHealing(checkout)"), true},
		{"by kind", HaveCheck("selfHealing"), true},
		{"absent", HaveCheck("rollback"), false},
		{"by kind with matcher", HaveCheck("slo", gomega.HaveField("Status", reports.CheckFailed)), true},
		{"matcher misses", HaveCheck("selfHealing", gomega.HaveField("Measured", gomega.ContainSubstring("after 9s"))), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, msg, err := match(t, tc.m, r)
			if err != nil || ok != tc.ok {
				t.Fatalf("ok = %v, err = %v, want %v: %s", ok, err, tc.ok, msg)
			}
			if msg == "" {
				t.Error("empty message")
			}
		})
	}
	_, msg, _ := match(t, HaveCheck("selfHealing", gomega.HaveField("Measured", gomega.ContainSubstring("after 9s"))), r)
	mustContain(t, msg, `no check "selfHealing" matched`, "✓ selfHealing(checkout)", "recovered after 3.2s", "after 9s")
	_, msg, _ = match(t, HaveCheck("rollback"), r)
	mustContain(t, msg, `no check named or of kind "rollback"`, "slo(checkout).latencyP99 during payments-down")
}

func TestMatchersRejectOtherActuals(t *testing.T) {
	var nilResult *reports.Result
	for _, actual := range []any{nil, "passed", nilResult, 42} {
		if _, err := Pass().Match(actual); err == nil {
			t.Errorf("Pass().Match(%#v) did not error", actual)
		}
	}
	v := *fixture(reports.VerdictPassed, constant(time.Millisecond), 0)
	if ok, err := Pass().Match(v); !ok || err != nil {
		t.Errorf("Pass().Match(reports.Result value) = %v, %v", ok, err)
	}
}
