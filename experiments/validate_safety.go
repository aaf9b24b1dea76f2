package experiments

// Validation guards of the one safety layer that the experiment itself can decide
// (the ones that need the live system are checked by each fault family's Plan):
// explicit zero limits, the probe interval floor, durations that overflow, and
// proxies that loop. Every message names the rule and, where there is one, the
// opt-in.

import (
	"math"
	"strconv"
	"time"
)

// MinProbeEvery is the probe interval floor: a probe may not sample more often.
const MinProbeEvery = 10 * time.Millisecond

// satAdd adds durations, saturating at the largest duration instead of wrapping
// around to a negative one ("after: 2000000h" + "duration: 2000000h").
func satAdd(ds ...time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		if d > 0 && sum > math.MaxInt64-d {
			return math.MaxInt64
		}
		sum += d
	}
	return sum
}

func (s *Safety) check(c *checker, spec *Spec) {
	const p = "spec.safety"
	c.positive(p+".maxDuration", s.MaxDuration)
	c.positive(p+".revertTimeout", s.RevertTimeout)
	b := s.BlastRadius
	const bp = p + ".blastRadius."
	// Only an absent key means the default; an explicit 0 would silently mean "no
	// cap", which is never what was meant.
	c.limit(bp+"maxPods", b.MaxPods, "omit the key for no cap")
	c.limit(bp+"maxProcesses", b.MaxProcesses, "omit the key for the default of 10")
	switch explicit := c.explicit != nil && c.explicit(bp+"maxPercent"); {
	case b.MaxPercent < 0 || b.MaxPercent > 100 || b.MaxPercent == 0 && explicit:
		c.add(bp+"maxPercent", "must be between 1 and 100 (omit the key for no cap)")
	}
	for i, ns := range b.ProtectedNamespaces {
		if ns == "" {
			c.add(bp+"protectedNamespaces["+strconv.Itoa(i)+"]", "must not be empty")
		}
	}
	// The run must be allowed to last through the baseline and the longest fault.
	// Sums saturate: a schedule too long to represent is simply too long.
	var longest time.Duration
	for _, f := range spec.Faults {
		if f.After >= 0 && f.Duration >= 0 {
			longest = max(longest, satAdd(f.After, orDefault(f.Duration, DefaultFaultDuration)))
		}
	}
	baseline := orDefault(spec.SteadyState.Baseline, DefaultBaseline)
	maxDur := orDefault(s.MaxDuration, DefaultMaxDuration)
	switch need := satAdd(baseline, longest); {
	case s.MaxDuration < 0 || len(spec.Faults) == 0 || maxDur >= need:
	case need == math.MaxInt64:
		c.add(p+".maxDuration", "the schedule is too long: baseline %s + longest fault after+duration is more than %s (too long to represent), maxDuration is %s",
			fmtDuration(baseline), fmtDuration(time.Duration(math.MaxInt64).Truncate(time.Hour)), fmtDuration(maxDur))
	default:
		c.add(p+".maxDuration", "must be at least %s (baseline %s + longest fault after+duration %s), is %s",
			fmtDuration(need), fmtDuration(baseline), fmtDuration(longest), fmtDuration(maxDur))
	}
}

// limit checks a blast-radius cap where only an absent key means the default.
func (c *checker) limit(path string, v int, absent string) {
	if v < 0 || v == 0 && c.explicit != nil && c.explicit(path) {
		c.add(path, "must be >= 1 (%s)", absent)
	}
}
