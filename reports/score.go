package reports

import (
	"math"
	"strings"
)

// Score is a run's resilience score, 0-100, and whether the run has one.
//
//	passed, failed:  100 × passed checks / (passed + failed checks)
//	                 (errored and skipped checks are left out: they judged nothing)
//	aborted:         0 when an abort condition or maxDuration stopped it (the system
//	                 deviated badly enough to stop); no score when it was interrupted
//	                 or halted (nothing was judged)
//	not-steady, errored, halted, skipped, planned: no score (nothing was judged)
//
// A passed run scores 100 by definition; a failed run scores the share of its checks
// that held, so a run that kept 3 of 4 promises scores 75.
func Score(r *Result) (int, bool) {
	switch r.Verdict {
	case VerdictPassed, VerdictFailed:
		var passed, judged int
		for _, c := range r.Checks {
			switch c.Status {
			case CheckPassed:
				passed++
				judged++
			case CheckFailed:
				judged++
			}
		}
		if judged == 0 {
			if r.Verdict == VerdictPassed {
				return 100, true
			}
			return 0, true
		}
		return int(math.Round(100 * float64(passed) / float64(judged))), true
	case VerdictAborted:
		if abortedBySystem(r.Reason) {
			return 0, true
		}
	}
	return 0, false
}

func abortedBySystem(reason string) bool {
	return strings.HasPrefix(reason, "abort condition") || strings.HasPrefix(reason, "safety.maxDuration")
}

// ExperimentScore summarises the scores of one experiment's runs, oldest first: the
// mean of the last (up to) five scored runs, and the trend of the latest score
// against the mean of the ones before it: "up", "down" or "flat" (within 5 points),
// "" with fewer than two scored runs.
func ExperimentScore(scores []int) (mean int, trend string) {
	if len(scores) == 0 {
		return 0, ""
	}
	last := scores
	if len(last) > 5 {
		last = last[len(last)-5:]
	}
	sum := 0
	for _, s := range last {
		sum += s
	}
	mean = int(math.Round(float64(sum) / float64(len(last))))
	if len(last) < 2 {
		return mean, ""
	}
	prev := 0
	for _, s := range last[:len(last)-1] {
		prev += s
	}
	diff := float64(last[len(last)-1]) - float64(prev)/float64(len(last)-1)
	switch {
	case diff > 5:
		return mean, "up"
	case diff < -5:
		return mean, "down"
	}
	return mean, "flat"
}
