package reports

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"
)

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

// TestReportsShowTheScore: report.md, junit.xml and report.html carry the run's
// score, and none when the run has none.
func TestReportsShowTheScore(t *testing.T) {
	r := &Result{RunID: "r", Experiment: "e", Verdict: VerdictFailed, Reason: "1 of 4 checks failed",
		Started: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), Ended: time.Date(2026, 11, 30, 12, 1, 0, 0, time.UTC)}
	for i, st := range []string{CheckPassed, CheckPassed, CheckPassed, CheckFailed, CheckErrored} {
		r.Checks = append(r.Checks, Check{Name: "c" + strconv.Itoa(i), Kind: "slo", Status: st, Expected: "x", Measured: "y"})
	}
	show := func(r *Result) (md, junit, page string) {
		var a, b, c bytes.Buffer
		if err := WriteMarkdown(&a, r); err != nil {
			t.Fatal(err)
		}
		if err := WriteJUnit(&b, r); err != nil {
			t.Fatal(err)
		}
		if err := WriteHTML(&c, r); err != nil {
			t.Fatal(err)
		}
		return a.String(), b.String(), c.String()
	}
	md, junit, page := show(r)
	for what, want := range map[string]string{md: "**Score:** 75/100", junit: `<property name="score" value="75">`, page: "<dt>Score</dt><dd>75/100</dd>"} {
		if !strings.Contains(what, want) {
			t.Errorf("no %q in:\n%.2000s", want, what)
		}
	}
	r.Verdict = VerdictErrored
	md, junit, page = show(r)
	if strings.Contains(md, "Score") || strings.Contains(junit, `name="score"`) || strings.Contains(page, "<dt>Score</dt>") {
		t.Error("an errored run shows a score")
	}
}
