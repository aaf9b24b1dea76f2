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
