package chaostest

import (
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/reports"
)

// TestMessageShowsTheObservationTheReasonNames: the reason of a check names one
// observation (Check.At, here t+4.5s); the matcher's message shows the samples
// around it, not around the slowest answer (t+3.7s) or the first failure.
func TestMessageShowsTheObservationTheReasonNames(t *testing.T) {
	named := reports.Check{Name: "circuitBreaker(checkout)", Kind: "circuitBreaker", Probe: "checkout", Status: reports.CheckFailed,
		Expected: "opens within 2s", Measured: "1 slow answer while open",
		Reason: "breaker did not short-circuit: the slowest 1s at +2.5s", At: t0.Add(4500 * time.Millisecond)}
	ok, msg, err := match(t, Pass(), fixture(reports.VerdictFailed, peak, 6*time.Second, named))
	if err != nil || ok {
		t.Fatalf("Pass() = %v, %v on a failed run", ok, err)
	}
	mustContain(t, msg, "samples around the observation the reason names (#46 of 100)", "▶ t+4.500s")
	if strings.Contains(msg, "▶ t+3.700s") {
		t.Errorf("message centres on the slowest answer, not the named one:\n%s", msg)
	}
}

// TestMessagesOfAReducedSeriesShowTheSameSamples: a long run's Result holds its
// series reduced; the samples a failed check's message shows (first failure, last
// failure, slowest answer, in the check's window) are the same as from the whole
// series.
func TestMessagesOfAReducedSeriesShowTheSameSamples(t *testing.T) {
	const n = 6000 // 10 minutes at 10 Hz; the fault from 2 to 8 minutes
	faultAt, faultEnd := t0.Add(2*time.Minute), t0.Add(8*time.Minute)
	whole := &reports.Result{RunID: "long", Experiment: "long", Started: t0, Ended: t0.Add(10 * time.Minute), Verdict: reports.VerdictFailed,
		Phases: []reports.Phase{{Name: "baseline", Start: t0, End: faultAt}, {Name: "faults", Start: faultAt, End: faultEnd},
			{Name: "recovery", Start: faultEnd, End: t0.Add(10 * time.Minute)}},
		Injections: []reports.Injection{{Fault: "payments-down", Kind: "dependencyFailure", InjectedAt: faultAt, RevertedAt: faultEnd}},
		Checks: []reports.Check{p99Failed, neverHealed, breakerNever,
			{Name: "slo(checkout).successRatio during faults", Kind: "slo", Probe: "checkout", Status: reports.CheckFailed, Expected: ">= 0.99", Measured: "0.7", Details: map[string]string{"window": "during faults"}},
			// The slowest answer of the baseline is not the run's slowest.
			{Name: "slo(checkout).latencyP99 baseline", Kind: "slo", Probe: "checkout", Status: reports.CheckFailed, Expected: "<= 50ms", Measured: "p99 96ms", Details: map[string]string{"window": "baseline"}},
			{Name: "slo(checkout).latencyP99 recovery", Kind: "slo", Probe: "checkout", Status: reports.CheckFailed, Expected: "<= 50ms", Measured: "p99 96ms", Details: map[string]string{"window": "recovery"}}},
	}
	s := reports.ProbeSeries{Name: "checkout", Kind: "http"}
	for i := range n {
		at := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		o := reports.Observation{Time: at, Status: "ok", Latency: time.Duration(1+(i*7919)%97) * time.Millisecond, Detail: "200"}
		if !at.Before(faultAt) && at.Before(faultEnd) && i%3 == 0 {
			o.Status, o.Latency, o.Detail = "failed", time.Duration(500+(i*31)%900)*time.Millisecond, "503"
		}
		s.Observations = append(s.Observations, o)
		s.OK++
	}
	whole.Probes = []reports.ProbeSeries{s}
	reduced := *whole
	reduced.Probes = []reports.ProbeSeries{reports.ReduceFor(whole, s)}
	if reduced.Probes[0].Reduced == nil {
		t.Fatal("not reduced")
	}
	samples := func(r *reports.Result) string {
		_, msg, err := match(t, Pass(), r)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range strings.Split(msg, "\n") {
			if strings.Contains(l, "t+") && !strings.Contains(l, "samples") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	want, got := samples(whole), samples(&reduced)
	if strings.Count(want, "▶") != len(whole.Checks) {
		t.Fatalf("the whole series' message shows %d centred excerpts, want %d:\n%s", strings.Count(want, "▶"), len(whole.Checks), want)
	}
	if got != want {
		t.Errorf("samples from the reduced series:\n%s\nwant (whole series):\n%s", got, want)
	}
}
