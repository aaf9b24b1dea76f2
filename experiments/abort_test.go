package experiments

import (
	"testing"
	"time"

	"github.com/faultline-dev/faultline/steadystate"
)

// TestAbortFiresAndNextMoment: abortFires fires on the observations in its window,
// and otherwise names the next moment time alone may change its answer (the window
// fills, or the oldest observation leaves it), which watchAbort sleeps until.
func TestAbortFiresAndNextMoment(t *testing.T) {
	rule := AbortRule{Probe: "p", SuccessRatioBelow: 0.5, Over: time.Second}
	now := time.Now()
	r := &run{samples: newSampleStore()}
	if reason, next := r.abortFires(rule, now.Add(-300*time.Millisecond)); reason != "" || !next.Equal(now.Add(700*time.Millisecond)) {
		t.Fatalf("window not yet full: %q, next %v, want next = fault start + over", reason, next.Sub(now))
	}
	start := now.Add(-5 * time.Second)
	oldest := now.Add(-800 * time.Millisecond)
	r.samples.add("p", steadystate.Observation{Time: now.Add(-3 * time.Second), Status: steadystate.StatusFailed}) // outside
	r.samples.add("p", steadystate.Observation{Time: oldest, Status: steadystate.StatusOK})
	r.samples.add("p", steadystate.Observation{Time: now.Add(-500 * time.Millisecond), Status: steadystate.StatusFailed})
	if reason, next := r.abortFires(rule, start); reason != "" || !next.Equal(oldest.Add(time.Second)) {
		t.Fatalf("2 judged: %q, next %v, want when the oldest leaves the window", reason, next)
	}
	r.samples.add("p", steadystate.Observation{Time: now.Add(-200 * time.Millisecond), Status: steadystate.StatusFailed})
	if reason, next := r.abortFires(rule, start); reason == "" || !next.IsZero() {
		t.Fatalf("1 ok of 3 judged (0.33 < 0.5): %q, next %v, want it to fire", reason, next)
	}
}
