package experiments

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/reports"
	"github.com/faultline-dev/faultline/steadystate"
)

// baselineChecks checks every probe over the baseline: its SLO, or for a probe without
// one, that it never failed.
func (r *run) baselineChecks() []steadystate.Check {
	w, ok := r.phaseWindow("baseline")
	if !ok {
		return nil
	}
	var out []steadystate.Check
	for _, p := range r.probes {
		obs := r.samples.window(p.spec.Name, w)
		if p.spec.SLO != nil {
			out = append(out, steadystate.CheckSLO("baseline", p.spec.Name, obs, sloBounds(p.spec.SLO))...)
			continue
		}
		// No slo: the probe must simply not fail before anything is injected. It is
		// not an SLO of the user's, so it is not named like one.
		for _, c := range steadystate.CheckSLO("baseline", p.spec.Name, obs, steadystate.SLOBounds{SuccessRatio: 1}) {
			c.Name, c.Kind, c.Expected = "baseline of "+p.spec.Name, "baseline", "no failed answer (the probe has no slo)"
			out = append(out, c)
		}
	}
	return out
}

func sloBounds(s *SLO) steadystate.SLOBounds {
	return steadystate.SLOBounds{SuccessRatio: s.SuccessRatio, LatencyP50: s.LatencyP50,
		LatencyP95: s.LatencyP95, LatencyP99: s.LatencyP99}
}

func (r *run) phaseWindow(name string) (steadystate.Window, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.phases {
		if p.Name == name {
			return p, true
		}
	}
	return steadystate.Window{}, false
}

// timeline builds what assertions look at; only once sampling has stopped. Its
// Observations hold the whole series of every probe an assertion of the experiment
// names (every probe when one names none), and only those: a long run's series are
// rebuilt from the packed store only where something reads them whole.
func (r *run) timeline() *steadystate.Timeline {
	r.mu.Lock()
	phases := append([]steadystate.Window(nil), r.phases...)
	r.mu.Unlock()
	tl := &steadystate.Timeline{Phases: phases, Faults: r.faultWindows(), Observations: map[string][]steadystate.Observation{}}
	if len(r.asserts) == 0 {
		return tl
	}
	named, all := map[string]bool{}, false
	for _, a := range r.e.Spec.Verify {
		n := 0
		walkRefs(reflect.ValueOf(a.Spec), "", "Probe", 0, func(_, name string) {
			if name != "" {
				named[name] = true
				n++
			}
		})
		all = all || n == 0
	}
	for _, p := range r.probes {
		if all || named[p.spec.Name] {
			tl.Observations[p.spec.Name] = r.samples.all(p.spec.Name)
		}
	}
	return tl
}

// judge computes every check of a run whose faults were injected.
func (r *run) judge(tl *steadystate.Timeline) []steadystate.Check {
	checks := r.baselineChecks()
	if span, ok := tl.FaultSpan(); ok {
		for _, p := range r.probes {
			if p.spec.SLO == nil || (p.spec.SLO.DuringFaults != nil && !*p.spec.SLO.DuringFaults) {
				continue
			}
			obs := r.samples.window(p.spec.Name, span)
			checks = append(checks, steadystate.CheckSLO("during faults", p.spec.Name, obs, sloBounds(p.spec.SLO))...)
		}
	}
	if w, ok := tl.Phase("recovery"); ok {
		for _, p := range r.probes {
			checks = append(checks, r.recoveryCheck(tl, p.spec.Name, w))
		}
	}
	for _, a := range r.asserts {
		c := a.a.Check(tl)
		if c.Kind == "" {
			c.Kind = a.key
		}
		checks = append(checks, c)
	}
	return checks
}

// recoveryCheck says whether probe was steady again by the end of the recovery phase.
// Its time to recover counts from the last revert, as selfHealing's does: the first
// ok observation after the last failure (observations from the first fault on),
// less the revert time, and 0 when the probe was ok through the revert.
func (r *run) recoveryCheck(tl *steadystate.Timeline, probe string, w steadystate.Window) steadystate.Check {
	c := steadystate.Check{Name: "recovery of " + probe, Kind: "recovery", Probe: probe,
		Expected: fmt.Sprintf("%d consecutive ok within %s after the last revert", steadyRun, r.e.Spec.SteadyState.Recovery)}
	ref, from := w.Start, w.Start
	if span, ok := tl.FaultSpan(); ok && !span.End.IsZero() {
		ref, from = span.End, span.Start
	}
	c.Details = map[string]string{"measured from": "the last revert"}
	obs := r.samples.window(probe, steadystate.Window{Start: from, End: w.End})
	// Find the final run of ok observations (errored ones neither break nor extend it).
	okRun, first := 0, time.Time{}
	for _, o := range obs {
		switch o.Status {
		case steadystate.StatusOK:
			if okRun == 0 {
				first = o.Time
			}
			okRun++
		case steadystate.StatusFailed:
			okRun = 0
		}
	}
	switch {
	case okRun >= steadyRun:
		c.Status = steadystate.CheckPassed
		c.Measured = "steady again after " + steadystate.FormatDuration(max(first.Sub(ref), 0)) + " (from the last revert)"
	case len(obs) > 0 && countStatus(obs, steadystate.StatusErrored) == len(obs):
		c.Status = steadystate.CheckErrored
		c.Measured = fmt.Sprintf("%d observations, all errored", len(obs))
		c.Reason = "the probe could not ask during recovery: " + obs[len(obs)-1].Detail
		c.At = obs[len(obs)-1].Time
	default:
		c.Status = steadystate.CheckFailed
		c.Measured = "not steady: last answers " + lastDetails(obs, 3)
		c.Reason = fmt.Sprintf("%s was not steady again within %s of the last revert", probe, r.e.Spec.SteadyState.Recovery)
		if n := len(obs); n > 0 {
			c.At = obs[n-1].Time
		}
	}
	return c
}

func countStatus(obs []steadystate.Observation, s steadystate.Status) int {
	n := 0
	for _, o := range obs {
		if o.Status == s {
			n++
		}
	}
	return n
}

func lastDetails(obs []steadystate.Observation, n int) string {
	if len(obs) == 0 {
		return "none"
	}
	var parts []string
	for _, o := range obs[max(0, len(obs)-n):] {
		parts = append(parts, fmt.Sprintf("%s %s", o.Status, o.Detail))
	}
	return strings.Join(parts, ", ")
}

// finish fills in the result; verdict "" means "judge by the checks".
func (r *run) finish(verdict, reason string) *reports.Result {
	res := r.res
	r.endPhase()
	if verdict != VerdictPlanned {
		tl := r.timeline()
		var checks []steadystate.Check
		switch {
		case verdict == reports.VerdictNotSteady:
			checks = r.baselineChecks()
		case len(tl.Faults) > 0 || verdict == "":
			checks = r.judge(tl)
		}
		for _, c := range checks {
			res.Checks = append(res.Checks, reports.Check{Name: c.Name, Kind: c.Kind, Probe: c.Probe,
				Status: string(c.Status), Expected: c.Expected, Measured: c.Measured, Reason: c.Reason, Details: c.Details, At: c.At})
		}
		if verdict == "" {
			verdict, reason = verdictOf(res.Checks)
		}
	}
	r.mu.Lock()
	for _, p := range r.phases {
		res.Phases = append(res.Phases, reports.Phase{Name: p.Name, Start: p.Start, End: p.End})
	}
	res.Errors = append(res.Errors, r.errs...)
	r.mu.Unlock()
	for _, p := range r.probes {
		// Sampling has stopped and the checks are made: the store gives the series
		// up, and a long one is reduced at once, as report.json holds it (exact
		// counts and latency figures, every non-ok observation, interval
		// summaries), so a long run never holds its series twice.
		s := reports.ProbeSeries{Name: p.spec.Name, Kind: p.spec.Kind, Every: p.spec.Every, MaxInFlight: p.spec.MaxInFlight,
			Scheduled: p.scheduled, Completed: p.completed, Skipped: p.skipped, Observations: r.samples.take(p.spec.Name)}
		if s.MaxInFlight <= 0 {
			s.MaxInFlight = DefaultMaxInFlight
		}
		for _, o := range s.Observations {
			switch steadystate.Status(o.Status) {
			case steadystate.StatusOK:
				s.OK++
			case steadystate.StatusFailed:
				s.Failed++
			default:
				s.Errored++
			}
		}
		res.Probes = append(res.Probes, reports.ReduceFor(res, s))
	}
	if r.revertFailures() {
		verdict = reports.VerdictErrored
		reason = "a revert failed; the fault may still be active — run `chaos recover` (" + strings.Join(r.errs, "; ") + ")"
	}
	res.Verdict, res.Reason = verdict, reason
	if r.journal != nil {
		if err := r.journal.close(verdict, !r.revertFailures()); err != nil {
			res.Errors = append(res.Errors, "closing journal: "+err.Error())
		}
	}
	return res
}

// verdictOf judges a run from its checks: failed if any failed, errored if any could
// not be judged, passed otherwise.
func verdictOf(checks []reports.Check) (string, string) {
	var failed, errored []string
	for _, c := range checks {
		switch c.Status {
		case reports.CheckFailed:
			failed = append(failed, describeCheck(c))
		case reports.CheckErrored:
			errored = append(errored, describeCheck(c))
		}
	}
	switch {
	case len(failed) > 0:
		return reports.VerdictFailed, fmt.Sprintf("%d of %d checks failed: %s", len(failed), len(checks), strings.Join(failed, "; "))
	case len(errored) > 0:
		return reports.VerdictErrored, fmt.Sprintf("%d checks could not be judged (probe errors, not system failures): %s", len(errored), strings.Join(errored, "; "))
	case len(checks) == 0:
		return reports.VerdictErrored, "no checks were made"
	}
	return reports.VerdictPassed, fmt.Sprintf("all %d checks held", len(checks))
}

func describeCheck(c reports.Check) string {
	s := fmt.Sprintf("%s: expected %s, measured %s", c.Name, c.Expected, c.Measured)
	if c.Reason != "" {
		s += " (" + c.Reason + ")"
	}
	return s
}

// selfStartTime is this process's start time (field 22 of /proc/self/stat), so that
// `chaos recover` can tell a live runner from a dead one whose pid was reused.
func selfStartTime() uint64 {
	return procStartTime(os.Getpid())
}

func procStartTime(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}
