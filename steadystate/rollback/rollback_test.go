package rollback

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/steadystate"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// obs is one workload-probe observation at t0+at.
func obs(at time.Duration, st steadystate.Status, rev, hash string) steadystate.Observation {
	return steadystate.Observation{Time: t0.Add(at), Status: st, Detail: "detail",
		Values: map[string]string{"revision": rev, "templateHash": hash}}
}

const (
	ok     = steadystate.StatusOK
	failed = steadystate.StatusFailed
	errd   = steadystate.StatusErrored
)

// timeline: baseline [0,1s), fault from 1s, revert phase at revertAt.
func timeline(revertAt time.Duration, o ...steadystate.Observation) *steadystate.Timeline {
	return &steadystate.Timeline{
		Phases: []steadystate.Window{
			{Name: "baseline", Start: t0, End: t0.Add(time.Second)},
			{Name: "revert", Start: t0.Add(revertAt), End: t0.Add(revertAt + 100*time.Millisecond)},
		},
		Faults:       []steadystate.Window{{Name: "bad", Start: t0.Add(time.Second), End: t0.Add(revertAt + 100*time.Millisecond)}},
		Observations: map[string][]steadystate.Observation{"api": o},
	}
}

func TestCheck(t *testing.T) {
	s := time.Second
	tests := []struct {
		name     string
		within   time.Duration
		tl       *steadystate.Timeline
		want     steadystate.CheckStatus
		contains string
	}{
		{"rolled back in time", 5 * s, timeline(20*s,
			obs(500*time.Millisecond, ok, "1", "good"), obs(1100*time.Millisecond, failed, "2", "bad"),
			obs(3*s, failed, "3", "good"), obs(4*s, ok, "3", "good")),
			steadystate.CheckPassed, "rolled back after +3s (revision 3, templateHash good)"},
		{"rolled back too late", 2 * s, timeline(20*s,
			obs(500*time.Millisecond, ok, "1", "good"), obs(1100*time.Millisecond, failed, "2", "bad"),
			obs(4*s, ok, "3", "good")),
			steadystate.CheckFailed, "not back on the known-good templateHash good (revision 1) and fully available within 2s"},
		{"back on the hash but not available yet", 5 * s, timeline(20*s,
			obs(500*time.Millisecond, ok, "1", "good"), obs(1100*time.Millisecond, failed, "2", "bad"),
			obs(3*s, failed, "3", "good")),
			steadystate.CheckFailed, "last seen revision 3 (good)"},
		{"only our revert restored it", 30 * s, timeline(5*s,
			obs(500*time.Millisecond, ok, "1", "good"), obs(1100*time.Millisecond, failed, "2", "bad"),
			obs(4*s, failed, "2", "bad"), obs(6*s, ok, "3", "good")),
			steadystate.CheckFailed, "the fault was reverted at +4s, before the 30s deadline"},
		{"rolled back before the first sample (revision moved)", 5 * s, timeline(20*s,
			obs(500*time.Millisecond, ok, "1", "good"), obs(2*s, ok, "3", "good")),
			steadystate.CheckPassed, "rolled back after +1s"},
		{"bad rollout never seen", 5 * s, timeline(20*s,
			obs(500*time.Millisecond, ok, "1", "good"), obs(2*s, ok, "1", "good")),
			steadystate.CheckErrored, "never observed a template other than the known-good"},
		{"no baseline", 5 * s, timeline(20*s, obs(2*s, ok, "1", "good")),
			steadystate.CheckErrored, "no healthy observation with a templateHash before the fault"},
		{"probe only errored during the fault", 5 * s, timeline(20*s,
			obs(500*time.Millisecond, ok, "1", "good"), obs(2*s, errd, "", "")),
			steadystate.CheckErrored, "answered no observation"},
		{"no fault", 5 * s, &steadystate.Timeline{Observations: map[string][]steadystate.Observation{"api": {obs(0, ok, "1", "good")}}},
			steadystate.CheckErrored, "no fault was injected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := (&Assertion{Spec: Spec{Probe: "api", Within: tc.within}}).Check(tc.tl)
			if c.Status != tc.want {
				t.Fatalf("status %s, want %s: %+v", c.Status, tc.want, c)
			}
			text := c.Measured + " | " + c.Reason
			if !strings.Contains(text, tc.contains) {
				t.Errorf("%q does not contain %q", text, tc.contains)
			}
			if c.Name != "rollback(api)" || c.Kind != "rollback" || c.Expected == "" || c.Measured == "" {
				t.Errorf("incomplete check: %+v", c)
			}
		})
	}
}

func TestCheckListsRevisionsSeen(t *testing.T) {
	c := (&Assertion{Spec: Spec{Probe: "api", Within: 5 * time.Second}}).Check(timeline(20*time.Second,
		obs(500*time.Millisecond, ok, "1", "good"), obs(1100*time.Millisecond, failed, "2", "bad"),
		obs(1200*time.Millisecond, failed, "2", "bad"), obs(3*time.Second, ok, "3", "good")))
	want := "revision 1 (good) at -500ms; revision 2 (bad) at +100ms; revision 3 (good) at +2s"
	if got := c.Details["revisions seen"]; got != want {
		t.Errorf("revisions seen %q, want %q", got, want)
	}
}

func TestValidate(t *testing.T) {
	errs := (&Spec{}).Validate(field.NewPath("spec", "verify").Index(0).Child("rollback"))
	if len(errs) != 2 {
		t.Fatalf("want 2 errors, got %v", errs)
	}
	if errs[0].Field != "spec.verify[0].rollback.probe" || errs[1].Field != "spec.verify[0].rollback.within" {
		t.Errorf("paths: %v", errs)
	}
	if errs := (&Spec{Probe: "api", Within: time.Second}).Validate(field.NewPath("x")); len(errs) != 0 {
		t.Errorf("valid spec: %v", errs)
	}
}
