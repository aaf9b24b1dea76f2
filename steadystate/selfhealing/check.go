package selfhealing

import (
	"fmt"
	"strconv"
	"time"

	"github.com/faultline-dev/faultline/steadystate"
)

// Check judges the timeline; see the package doc for the definitions.
func (a *Assertion) Check(t *steadystate.Timeline) steadystate.Check {
	s := a.spec
	fmtD := steadystate.FormatDuration
	c := steadystate.Check{
		Name:     "selfHealing(" + s.Probe + ")",
		Kind:     Key,
		Probe:    s.Probe,
		Expected: "within " + fmtD(s.RecoversWithin),
		Details: map[string]string{
			"steadyWhen":   a.steadyWhen(),
			"measuredFrom": s.From,
		},
	}
	if s.From == FromFaultEnd {
		c.Expected += " of the fault's revert"
	}
	errored := func(measured, reason string) steadystate.Check {
		c.Status, c.Measured, c.Reason = steadystate.CheckErrored, measured, reason
		return c
	}

	span, ok := t.FaultSpan()
	if !ok {
		return errored("no fault", "nothing was injected, so there was nothing to recover from")
	}
	ref := span.Start
	if s.From == FromFaultEnd {
		if span.End.IsZero() {
			return errored("fault not reverted", "the fault window never ended, so recovery after the revert cannot be measured")
		}
		ref = span.End
	}
	deadline := ref.Add(s.RecoversWithin)

	var all, judged []steadystate.Observation
	for _, o := range t.Observations[s.Probe] {
		if o.Time.Before(span.Start) {
			continue
		}
		all = append(all, o)
		if o.Status != steadystate.StatusErrored {
			judged = append(judged, o)
		}
	}
	c.Details["erroredObservations"] = strconv.Itoa(len(all) - len(judged))
	if len(all) == 0 {
		return errored("no data", fmt.Sprintf("probe %s has no observations after the fault started", s.Probe))
	}
	if len(judged) == 0 {
		return errored("no data", fmt.Sprintf("all %d observations of %s after the fault started errored: the probe could not ask", len(all), s.Probe))
	}

	first, last, failed := -1, -1, 0
	for i, o := range judged {
		if o.Status == steadystate.StatusFailed {
			if first < 0 {
				first = i
			}
			last = i
			failed++
		}
	}
	c.Details["failedObservations"] = strconv.Itoa(failed)
	if first < 0 {
		c.Status = steadystate.CheckPassed
		c.Measured = "no disruption seen"
		c.Details["disrupted"] = "false"
		c.Reason = fmt.Sprintf("%s never failed after the fault started (%d ok observations): nothing to recover from", s.Probe, len(judged))
		return c
	}
	c.Details["disrupted"] = "true"
	c.Details["firstFailure"] = "+" + fmtD(judged[first].Time.Sub(span.Start)) + " after the fault started"
	if !span.End.IsZero() {
		c.Details["faultEnded"] = "+" + fmtD(span.End.Sub(span.Start)) + " after the fault started"
	}

	run := judged[last+1:]
	end := all[len(all)-1].Time
	if !a.steady(run) {
		c.Measured = "not steady again"
		why := "still failing at end of run"
		if len(run) > 0 {
			why = a.shortRun(run)
		}
		if end.Before(deadline) {
			return errored(c.Measured, fmt.Sprintf(
				"the data ends %s after the reference, before the %s deadline, and %s was not steady yet (%s): cannot judge",
				fmtD(end.Sub(ref)), fmtD(s.RecoversWithin), s.Probe, why))
		}
		c.Status = steadystate.CheckFailed
		c.Reason = fmt.Sprintf("not steady again within %s (%s; last failure %s after the fault started: %s)",
			fmtD(s.RecoversWithin), why, fmtD(judged[last].Time.Sub(span.Start)), judged[last].Detail)
		return c
	}

	recoveredAt := run[0].Time
	ttr := max(recoveredAt.Sub(ref), 0)
	c.Details["recoveredAfter"] = ttr.String()
	if !span.End.IsZero() && recoveredAt.After(span.End) {
		c.Details["sinceFaultEnd"] = recoveredAt.Sub(span.End).String()
	}
	c.Measured = "recovered after " + fmtD(ttr)
	if s.From == FromFaultEnd {
		c.Measured += " of the revert"
	}
	if ttr <= s.RecoversWithin {
		c.Status = steadystate.CheckPassed
		return c
	}
	c.Status = steadystate.CheckFailed
	c.Reason = fmt.Sprintf("recovered after %s, later than %s (%d failed observations from +%s to +%s after the fault started)",
		fmtD(ttr), fmtD(s.RecoversWithin), failed,
		fmtD(judged[first].Time.Sub(span.Start)), fmtD(judged[last].Time.Sub(span.Start)))
	return c
}

// shortRun says why a trailing ok run is not steady.
func (a *Assertion) shortRun(run []steadystate.Observation) string {
	if a.spec.SteadyFor > 0 {
		var d time.Duration
		if len(run) > 0 {
			d = run[len(run)-1].Time.Sub(run[0].Time)
		}
		return fmt.Sprintf("ok for only %s at end of run, %s needed", steadystate.FormatDuration(d), steadystate.FormatDuration(a.spec.SteadyFor))
	}
	return fmt.Sprintf("only %d ok observations at end of run, %d needed", len(run), a.spec.SteadyObservations)
}
