package chaostest

import (
	"fmt"
	"strings"

	"github.com/onsi/gomega/types"

	"github.com/faultline-dev/faultline/reports"
)

// The matchers take a *Result (from Run or RunT), a *reports.Result or a
// reports.Result. Their failure messages name the run, give its verdict and reason,
// every check that did not hold with its expected and measured values, and the probe
// samples around each such check's worst point.
//
// A result that cannot answer the question (the run errored or its baseline did not
// hold, so nothing was learnt about resilience; a check the matcher needs is missing
// or could not be judged) makes the matcher return an error, which fails the
// assertion whatever its polarity: Expect(res).NotTo(Pass()) does not pass because a
// run errored. Assert such outcomes with HaveVerdict.

// outcome is one evaluation of a matcher on a result.
type outcome struct {
	ok       bool
	err      error
	failure  string // message when ok is false under To
	negation string // message when ok is true under NotTo
}

// resultMatcher adapts an evaluation function to types.GomegaMatcher.
type resultMatcher struct {
	eval func(s subject) outcome
	last outcome
}

func (m *resultMatcher) Match(actual any) (bool, error) {
	s, err := asSubject(actual)
	if err != nil {
		return false, err
	}
	m.last = m.eval(s)
	return m.last.ok, m.last.err
}

func (m *resultMatcher) FailureMessage(any) string { return m.last.failure }

func (m *resultMatcher) NegatedFailureMessage(any) string { return m.last.negation }

func newMatcher(eval func(s subject) outcome) types.GomegaMatcher {
	return &resultMatcher{eval: eval}
}

// judged reports whether the run learnt something about the system, and if not the
// error every matcher of the system's behaviour returns.
func judged(s subject) error {
	switch s.r.Verdict {
	case reports.VerdictPassed, reports.VerdictFailed, reports.VerdictAborted:
		return nil
	}
	return fmt.Errorf("%s could not be judged, %s\n"+
		"(nothing was learnt about resilience; this fails To and NotTo alike; expect it with HaveVerdict(%q))%s%s",
		s.header(), s.verdictLine(), s.r.Verdict, s.explain(notPassed(s.r.Checks), picker{}), s.footer())
}

// Pass succeeds when the verdict is "passed": every steady-state check, SLO and
// assertion held. A "failed" or "aborted" verdict is a failure (its message lists
// the checks that did not hold); "errored" and "not-steady" are errors.
func Pass() types.GomegaMatcher {
	return newMatcher(func(s subject) outcome {
		if err := judged(s); err != nil {
			return outcome{err: err}
		}
		if s.r.Verdict == reports.VerdictPassed {
			return outcome{ok: true, negation: fmt.Sprintf("%s passed, but it was expected NOT to pass; what it measured:%s%s",
				s.header(), s.explain(s.r.Checks, picker{}), s.footer())}
		}
		failing := notPassed(s.r.Checks)
		verdict, list := s.verdictLine(), ""
		switch {
		case len(failing) > 0 && checkCount.MatchString(s.r.Reason): // the reason counted them
			list = ":" + s.explain(failing, picker{})
		case len(failing) > 0:
			list = fmt.Sprintf("\n%d of %d checks did not hold:%s", len(failing), len(s.r.Checks), s.explain(failing, picker{}))
		}
		return outcome{failure: fmt.Sprintf("%s did not pass: %s%s%s", s.header(), verdict, list, s.footer())}
	})
}

// HaveVerdict succeeds when the run's verdict is verdict (reports.VerdictFailed,
// "not-steady", ...). Unlike the other matchers it never errors on the verdict.
func HaveVerdict(verdict string) types.GomegaMatcher {
	return newMatcher(func(s subject) outcome {
		o := outcome{ok: s.r.Verdict == verdict}
		if o.ok {
			o.negation = fmt.Sprintf("%s has %s, expected any other verdict%s%s",
				s.header(), s.verdictLine(), s.explain(s.r.Checks, picker{}), s.footer())
		} else {
			o.failure = fmt.Sprintf("%s has %s, expected verdict %q%s%s",
				s.header(), s.verdictLine(), verdict, s.explain(s.r.Checks, picker{}), s.footer())
		}
		return o
	})
}

// HoldSteadyState succeeds when the steady state held during the baseline, before
// anything was injected: the verdict is not "not-steady" and every baseline check
// passed.
func HoldSteadyState() types.GomegaMatcher {
	return newMatcher(func(s subject) outcome {
		base := selectChecks(s.r.Checks, isBaseline)
		failing := notPassed(base)
		switch {
		case s.r.Verdict == reports.VerdictNotSteady || len(failing) > 0:
			return outcome{failure: fmt.Sprintf("%s: the steady state did not hold before injection: %s%s%s",
				s.header(), s.verdictLine(), s.explain(orAll(failing, notPassed(s.r.Checks)), picker{}), s.footer())}
		case len(base) == 0 && judged(s) != nil: // errored before the baseline, or a dry run
			return outcome{err: fmt.Errorf("%s has no baseline checks to look at: %s%s", s.header(), s.verdictLine(), s.footer())}
		}
		return outcome{ok: true, negation: fmt.Sprintf("%s: the steady state held before injection (%s), expected it not to%s%s",
			s.header(), s.verdictLine(), s.explain(base, picker{}), s.footer())}
	})
}

// HoldSLO succeeds when every SLO check of the named probe passed (baseline and
// during faults). It errors when the probe has no SLO checks or one could not be judged.
func HoldSLO(probe string) types.GomegaMatcher {
	return newMatcher(func(s subject) outcome {
		slo := selectChecks(s.r.Checks, func(c reports.Check) bool {
			return strings.EqualFold(c.Kind, "slo") && c.Probe == probe
		})
		if len(slo) == 0 {
			return outcome{err: fmt.Errorf("%s has no SLO checks of probe %q (probes with SLO checks: %v); give it `slo:` in steadyState.probes%s",
				s.header(), probe, sloProbes(s.r.Checks), s.footer())}
		}
		if bad := withStatus(slo, reports.CheckErrored); len(bad) > 0 {
			return outcome{err: fmt.Errorf("%s: the SLO of probe %q could not be judged:%s%s", s.header(), probe, s.explain(bad, picker{}), s.footer())}
		}
		if failing := withStatus(slo, reports.CheckFailed); len(failing) > 0 {
			return outcome{failure: fmt.Sprintf("%s: the SLO of probe %q did not hold (%s):%s%s",
				s.header(), probe, s.verdictLine(), s.explain(failing, picker{}), s.footer())}
		}
		return outcome{ok: true, negation: fmt.Sprintf("%s: the SLO of probe %q held, expected it not to:%s%s",
			s.header(), probe, s.explain(slo, picker{}), s.footer())}
	})
}

// HaveCheck succeeds when the result has a check named nameOrKind (its Name, e.g.
// "selfHealing(checkout)"; failing that, its Kind, e.g. "selfHealing") and, when
// matchers are given, at least one such check (a reports.Check) satisfies all of them:
//
//	Expect(res).To(chaostest.HaveCheck("flagObserved", HaveField("Status", reports.CheckPassed)))
func HaveCheck(nameOrKind string, matchers ...types.GomegaMatcher) types.GomegaMatcher {
	return newMatcher(func(s subject) outcome {
		found := selectChecks(s.r.Checks, func(c reports.Check) bool { return c.Name == nameOrKind })
		if len(found) == 0 {
			found = selectChecks(s.r.Checks, func(c reports.Check) bool { return c.Kind == nameOrKind })
		}
		if len(found) == 0 {
			return outcome{failure: fmt.Sprintf("%s has no check named or of kind %q; its checks:%s%s",
				s.header(), nameOrKind, s.explain(s.r.Checks, picker{}), s.footer())}
		}
		var why strings.Builder
		for _, c := range found {
			ok, msg, err := allMatch(c, matchers)
			if err != nil {
				return outcome{err: fmt.Errorf("check %q: %w", c.Name, err)}
			}
			if ok {
				return outcome{ok: true, negation: fmt.Sprintf("%s has check %q matching, expected none to:\n%s%s",
					s.header(), nameOrKind, checkLine(c), s.footer())}
			}
			fmt.Fprintf(&why, "\n%s\n%s", checkLine(c), indent(msg, "      "))
		}
		return outcome{failure: fmt.Sprintf("%s: no check %q matched:%s%s", s.header(), nameOrKind, why.String(), s.footer())}
	})
}

// allMatch applies every matcher to c; msg is the failure message of the first miss.
func allMatch(c reports.Check, matchers []types.GomegaMatcher) (ok bool, msg string, err error) {
	for _, m := range matchers {
		ok, err := m.Match(c)
		if err != nil {
			return false, "", err
		}
		if !ok {
			return false, m.FailureMessage(c), nil
		}
	}
	return true, "", nil
}

func selectChecks(checks []reports.Check, keep func(reports.Check) bool) []reports.Check {
	var out []reports.Check
	for _, c := range checks {
		if keep(c) {
			out = append(out, c)
		}
	}
	return out
}

func withStatus(checks []reports.Check, status string) []reports.Check {
	return selectChecks(checks, func(c reports.Check) bool { return c.Status == status })
}

// notPassed keeps the checks that failed or errored (skipped checks are not failures).
func notPassed(checks []reports.Check) []reports.Check {
	return selectChecks(checks, func(c reports.Check) bool {
		return c.Status != reports.CheckPassed && c.Status != reports.CheckSkipped
	})
}

// isBaseline tells the checks of the baseline window: their Details["window"]
// (steadystate.CheckSLO) or their name mentions the baseline.
func isBaseline(c reports.Check) bool {
	return strings.Contains(c.Details["window"], "baseline") || strings.Contains(c.Name, "baseline") || c.Kind == "baseline"
}

func sloProbes(checks []reports.Check) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range checks {
		if strings.EqualFold(c.Kind, "slo") && !seen[c.Probe] {
			seen[c.Probe] = true
			out = append(out, c.Probe)
		}
	}
	return out
}

func orAll(first, second []reports.Check) []reports.Check {
	if len(first) > 0 {
		return first
	}
	return second
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}
