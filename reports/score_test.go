package reports

import "testing"

func TestScore(t *testing.T) {
	checks := func(st ...string) []Check {
		var cs []Check
		for _, s := range st {
			cs = append(cs, Check{Status: s})
		}
		return cs
	}
	for _, tc := range []struct {
		name string
		r    Result
		want int
		ok   bool
	}{
		{"passed", Result{Verdict: VerdictPassed, Checks: checks(CheckPassed, CheckPassed)}, 100, true},
		{"3 of 4 held", Result{Verdict: VerdictFailed, Checks: checks(CheckPassed, CheckPassed, CheckPassed, CheckFailed)}, 75, true},
		{"errored and skipped checks judge nothing", Result{Verdict: VerdictFailed, Checks: checks(CheckPassed, CheckFailed, CheckErrored, CheckSkipped)}, 50, true},
		{"abort condition", Result{Verdict: VerdictAborted, Reason: "abort condition: web success ratio 0.2 < 0.5"}, 0, true},
		{"maxDuration", Result{Verdict: VerdictAborted, Reason: "safety.maxDuration (5m) exceeded"}, 0, true},
		{"interrupted", Result{Verdict: VerdictAborted, Reason: "interrupted (signal or cancelled context)"}, 0, false},
		{"not-steady", Result{Verdict: VerdictNotSteady, Checks: checks(CheckFailed)}, 0, false},
		{"errored", Result{Verdict: VerdictErrored}, 0, false},
		{"halted", Result{Verdict: "halted"}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Score(&tc.r)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("Score = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestExperimentScore(t *testing.T) {
	for _, tc := range []struct {
		scores []int
		mean   int
		trend  string
	}{
		{nil, 0, ""},
		{[]int{80}, 80, ""},
		{[]int{100, 100}, 100, "flat"},
		{[]int{50, 50, 100}, 67, "up"},
		{[]int{0, 100, 100, 100, 100, 100, 50}, 90, "down"}, // last five: 100 100 100 100 50
	} {
		mean, trend := ExperimentScore(tc.scores)
		if mean != tc.mean || trend != tc.trend {
			t.Errorf("ExperimentScore(%v) = %d, %q; want %d, %q", tc.scores, mean, trend, tc.mean, tc.trend)
		}
	}
}
