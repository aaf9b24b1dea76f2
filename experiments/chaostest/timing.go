package chaostest

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/onsi/gomega/types"

	"github.com/faultline-dev/faultline/reports"
)

// RecoverWithin succeeds when every selfHealing check measured a time to recover of
// at most d (a tighter bound than the experiment's own recoversWithin is fine: the
// measured time is compared, not the check's status). Without selfHealing checks it
// reads the runner's own "recovery" checks (steady again after the last revert).
func RecoverWithin(d time.Duration) types.GomegaMatcher {
	return timingMatcher(recovery, d)
}

// OpenCircuitWithin succeeds when every circuitBreaker check measured that the
// breaker opened (answers became fast) at most d after its fault started.
func OpenCircuitWithin(d time.Duration) types.GomegaMatcher {
	return timingMatcher(opening, d)
}

// CloseCircuitWithin succeeds when every circuitBreaker check measured that the
// breaker closed again (successes returned) at most d after its fault ended.
func CloseCircuitWithin(d time.Duration) types.GomegaMatcher {
	return timingMatcher(closing, d)
}

// measure is a time a check measured: which checks, where to read it, how to say it.
type measure struct {
	kind string // check kind: "selfHealing", "circuitBreaker"
	// fallbackKind is read when there is no check of kind: the runner's own
	// "recovery" check stands in for selfHealing.
	fallbackKind string
	verb         string   // "recovered", "opened", "closed"
	never        string   // "never recovered", ...
	keys         []string // normalized Details keys holding the time
	text         *regexp.Regexp
	nope         *regexp.Regexp
	pick         picker
	how          string // the YAML that produces such a check
}

const durationRE = `(\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))*)`

var (
	recovery = measure{kind: "selfHealing", fallbackKind: "recovery", verb: "recovered", never: "never recovered",
		keys: []string{"recoveredafter", "recoversafter", "timetorecover", "ttr", "recoverytime", "steadyagainafter"},
		text: regexp.MustCompile(`(?i)(?:recover(?:ed|y)?|steady again)\s+(?:after|in)\s+` + durationRE),
		nope: regexp.MustCompile(`(?i)(never|not|did not|didn't)\s+(?:recover|steady)`),
		pick: lastFailure, how: "verify: [{selfHealing: {probe: NAME, recoversWithin: 15s}}]"}
	opening = measure{kind: "circuitBreaker", verb: "opened", never: "never opened",
		keys: []string{"openedafter", "opensafter", "timetoopen"},
		text: regexp.MustCompile(`(?i)open(?:ed|s)?\s+(?:after|in)\s+` + durationRE),
		nope: regexp.MustCompile(`(?i)(never|not|did not|didn't)\s+open`),
		pick: slowest, how: "verify: [{circuitBreaker: {probe: NAME, opensWithin: 2s, closesWithin: 10s}}]"}
	closing = measure{kind: "circuitBreaker", verb: "closed", never: "never closed",
		keys: []string{"closedafter", "closesafter", "timetoclose"},
		text: regexp.MustCompile(`(?i)clos(?:ed|es)?\s+(?:after|in)\s+` + durationRE),
		nope: regexp.MustCompile(`(?i)(never|not|did not|didn't)\s+(?:close|open)`),
		pick: lastFailure, how: "verify: [{circuitBreaker: {probe: NAME, opensWithin: 2s, closesWithin: 10s}}]"}
)

// reading is what a check says about one measure.
type reading int

const (
	readUnknown     reading = iota // the check does not say
	readMeasured                   // a time was measured
	readNever                      // it never happened
	readUndisrupted                // nothing to recover from: the probe never failed (0s)
)

// read extracts the measure from c: the Measured text first ("opened after 180ms",
// "recovered after 3.2s", "steady again after 1.1s", "never opened"), then Details
// whose key starts with one of m.keys compared without case and punctuation
// ("opened after (answers fast)", "recoveredAfter"), then the Reason text.
func (m measure) read(c reports.Check) (time.Duration, reading) {
	if m.kind == "selfHealing" && (c.Details["disrupted"] == "false" || strings.Contains(c.Measured, "no disruption")) {
		return 0, readUndisrupted
	}
	if d, rd := m.readText(c.Measured); rd != readUnknown {
		return d, rd
	}
	keys := make([]string, 0, len(c.Details))
	for k := range c.Details {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	never := false
	for _, k := range keys {
		nk, v := normalizeKey(k), strings.TrimSpace(c.Details[k])
		if !slices.ContainsFunc(m.keys, func(want string) bool { return strings.HasPrefix(nk, want) }) {
			continue
		}
		if d, err := time.ParseDuration(strings.ReplaceAll(v, "µ", "u")); err == nil {
			return d, readMeasured
		}
		never = never || strings.Contains(strings.ToLower(v), "never")
	}
	if never {
		return 0, readNever
	}
	if d, rd := m.readText(c.Reason); rd != readUnknown {
		return d, rd
	}
	if m.kind == "selfHealing" {
		if d, err := time.ParseDuration(strings.TrimSpace(c.Measured)); err == nil {
			return d, readMeasured
		}
	}
	return 0, readUnknown
}

func (m measure) readText(text string) (time.Duration, reading) {
	if sub := m.text.FindStringSubmatch(text); sub != nil {
		if d, err := time.ParseDuration(strings.ReplaceAll(sub[1], "µ", "u")); err == nil {
			return d, readMeasured
		}
	}
	if m.nope.MatchString(text) {
		return 0, readNever
	}
	return 0, readUnknown
}

func normalizeKey(k string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(k) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func timingMatcher(m measure, bound time.Duration) types.GomegaMatcher {
	return newMatcher(func(s subject) outcome {
		if err := judged(s); err != nil {
			return outcome{err: err}
		}
		checks := selectChecks(s.r.Checks, func(c reports.Check) bool { return strings.EqualFold(c.Kind, m.kind) })
		if len(checks) == 0 && m.fallbackKind != "" {
			checks = selectChecks(s.r.Checks, func(c reports.Check) bool { return c.Kind == m.fallbackKind })
		}
		if len(checks) == 0 {
			return outcome{err: fmt.Errorf("%s has no %s check to read how long it took; add `%s`%s",
				s.header(), m.kind, m.how, s.footer())}
		}
		var late, inTime []string
		var lateChecks []reports.Check
		for _, c := range checks {
			if c.Status == reports.CheckErrored {
				return outcome{err: fmt.Errorf("%s: %s could not be judged:%s%s", s.header(), c.Name, s.explain([]reports.Check{c}, m.pick), s.footer())}
			}
			d, rd := m.read(c)
			switch {
			case rd == readUnknown && c.Status == reports.CheckSkipped:
				return outcome{err: fmt.Errorf("%s: %s was skipped (%s), so the time it %s is unknown%s", s.header(), c.Name, orDash(c.Reason), m.verb, s.footer())}
			case rd == readUnknown:
				return outcome{err: fmt.Errorf("%s: %s does not say when it %s (measured %q, details: %s); chaostest reads Details[%q] or a measured text like %q",
					s.header(), c.Name, m.verb, c.Measured, orDash(detailsLine(c.Details)), m.verb+"After", m.verb+" after 1.2s")}
			case rd == readNever:
				late = append(late, fmt.Sprintf("%s: %s (bound %s)", c.Name, m.never, formatDuration(bound)))
				lateChecks = append(lateChecks, c)
			case d > bound:
				late = append(late, fmt.Sprintf("%s: %s after %s > %s, %s later than the bound",
					c.Name, m.verb, formatDuration(d), formatDuration(bound), formatDuration(d-bound)))
				lateChecks = append(lateChecks, c)
			case rd == readUndisrupted:
				inTime = append(inTime, fmt.Sprintf("%s: never disrupted, nothing to recover from (0s <= %s)", c.Name, formatDuration(bound)))
			default:
				inTime = append(inTime, fmt.Sprintf("%s: %s after %s <= %s", c.Name, m.verb, formatDuration(d), formatDuration(bound)))
			}
		}
		if len(late) > 0 {
			return outcome{failure: fmt.Sprintf("%s: expected %s within %s, but\n  %s\n(%s)%s%s",
				s.header(), m.verb, formatDuration(bound), strings.Join(late, "\n  "), s.verdictLine(),
				s.explainAll(lateChecks, m.pick), s.footer())}
		}
		return outcome{ok: true, negation: fmt.Sprintf("%s: expected NOT %s within %s, but\n  %s%s",
			s.header(), m.verb, formatDuration(bound), strings.Join(inTime, "\n  "), s.footer())}
	})
}
