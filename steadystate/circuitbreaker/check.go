package circuitbreaker

import (
	"fmt"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/steadystate"
)

// Assertion is a configured circuitBreaker check; see the package doc for the
// definitions it measures.
type Assertion struct {
	spec Spec
}

var _ steadystate.Assertion = (*Assertion)(nil)

// New returns the assertion for a validated spec.
func New(s Spec) *Assertion { return &Assertion{spec: s} }

// judge carries one evaluation of the assertion.
type judge struct {
	s        Spec
	c        steadystate.Check
	win      steadystate.Window
	end      time.Time // the fault end, or just after the last answer when it never ended
	during   []steadystate.Observation
	states   []reading
	hasState bool // a state source was configured or readings exist
	k        int

	problems, incomplete, measured []string
}

func (j *judge) fast(o steadystate.Observation) bool { return o.Latency < j.s.FastFailUnder }

// since is "+1.2s": the offset of t from the fault start.
func (j *judge) since(t time.Time) string {
	return "+" + steadystate.FormatDuration(t.Sub(j.win.Start))
}

// Check measures the opening, the open period and the closing of the breaker around
// the fault window and compares them with the bounds. It is pure.
func (a *Assertion) Check(tl *steadystate.Timeline) steadystate.Check {
	s := a.spec
	fd := steadystate.FormatDuration
	j := &judge{s: s, k: s.consecutive(), c: steadystate.Check{
		Name:  fmt.Sprintf("circuitBreaker(%s)", s.Probe),
		Kind:  Key,
		Probe: s.Probe,
		Expected: fmt.Sprintf("opens within %s, no answer >= %s while open except half-open trials, closes within %s",
			fd(s.OpensWithin), fd(s.FastFailUnder), fd(s.ClosesWithin)),
		Details: map[string]string{},
	}}
	c := &j.c
	errored := func(measured, reason string) steadystate.Check {
		c.Status, c.Measured, c.Reason = steadystate.CheckErrored, measured, reason
		return *c
	}
	win, err := faultWindow(tl, s.Fault)
	if err != nil {
		return errored("no fault window", err.Error())
	}
	j.win = win
	all := tl.Observations[s.Probe]
	judged := make([]steadystate.Observation, 0, len(all))
	for _, o := range all {
		if o.Status != steadystate.StatusErrored {
			judged = append(judged, o)
		}
	}
	if len(judged) == 0 {
		if len(all) == 0 {
			return errored("no data", fmt.Sprintf("no observations of %s", s.Probe))
		}
		return errored("no data", fmt.Sprintf("all %d observations of %s errored: the probe could not ask", len(all), s.Probe))
	}
	last := judged[len(judged)-1].Time
	end, ended := win.End, !win.End.IsZero()
	if !ended {
		end = last.Add(time.Nanosecond)
	}
	j.end = end
	c.Details["fault window"] = fmt.Sprintf("%s: %s", win.Name, fd(end.Sub(win.Start)))
	c.Details["fault effect"] = effectText(win.Effect)
	var after []steadystate.Observation
	for _, o := range judged {
		switch {
		case o.Time.Before(win.Start):
		case o.Time.Before(end):
			j.during = append(j.during, o)
		default:
			after = append(after, o)
		}
	}
	if len(j.during) == 0 {
		return errored("no data", fmt.Sprintf("no ok or failed observations of %s during the %s fault window", s.Probe, fd(end.Sub(win.Start))))
	}
	var source string
	j.states, source = a.readings(tl)
	j.hasState = s.StateFrom != nil || len(j.states) > 0
	c.Details["state source"] = source
	if len(j.states) > 0 {
		c.Details["states during fault"] = countStates(j.states, win.Start, end)
	}
	n := j.tally()
	c.Details["answers during fault"] = fmt.Sprintf("%d (%d fast ok, %d fast failed, %d slow; fast < %s)",
		len(j.during), n.fastOK, n.fastFailed, n.slow, fd(s.FastFailUnder))
	c.Details["p99 latency during fault"] = fd(steadystate.Summarize(j.during).P99)

	iOpen, done := j.opening(n)
	if done {
		return j.c
	}
	j.openPeriod(iOpen)
	if ended {
		j.closing(after, last)
	} else {
		j.incomplete = append(j.incomplete, "the fault window never ended, so closing could not be judged")
	}
	c.Measured = strings.Join(j.measured, ", ")
	switch {
	case len(j.problems) > 0:
		c.Status = steadystate.CheckFailed
		c.Reason = strings.Join(j.problems, "; ")
	case len(j.incomplete) > 0:
		c.Status = steadystate.CheckErrored
		c.Reason = strings.Join(j.incomplete, "; ")
	default:
		c.Status = steadystate.CheckPassed
	}
	return j.c
}

// closing judges the breaker's closing after the fault end from the answers after it
// and the state readings.
func (j *judge) closing(after []steadystate.Observation, last time.Time) {
	s, c, fd, end := j.s, &j.c, steadystate.FormatDuration, j.end
	iClose := firstRun(after, j.k, func(o steadystate.Observation) bool { return o.Status == steadystate.StatusOK })
	closedAt, closed := time.Time{}, iClose >= 0
	if closed {
		closedAt = after[iClose].Time
		c.Details["closed after (answers ok)"] = fd(closedAt.Sub(end))
	} else {
		c.Details["closed after (answers ok)"] = "never"
	}
	if len(j.states) > 0 {
		if stClose, ok := firstState(j.states, end, time.Time{}, StateClosed); ok {
			c.Details["closed after (state closed)"] = fd(stClose.Sub(end))
			if stClose.After(closedAt) {
				closedAt = stClose
			}
		} else {
			c.Details["closed after (state closed)"] = "never"
			closed = false
		}
	}
	observed := last
	if n := len(j.states); n > 0 && j.states[n-1].at().After(observed) {
		observed = j.states[n-1].at()
	}
	seen := observed.Sub(end)
	switch closesAfter := closedAt.Sub(end); {
	case closed && closesAfter > s.ClosesWithin:
		j.measured = append(j.measured, "closed after "+fd(closesAfter))
		j.problems = append(j.problems, fmt.Sprintf("breaker closed after %s, later than closesWithin %s", fd(closesAfter), fd(s.ClosesWithin)))
	case closed:
		j.measured = append(j.measured, "closed after "+fd(closesAfter))
	case seen >= s.ClosesWithin:
		j.measured = append(j.measured, "never closed")
		j.problems = append(j.problems, fmt.Sprintf("breaker never closed: %s after the fault ended, %s", fd(seen), notClosed(after, j.states, end, j.k)))
	default:
		j.measured = append(j.measured, "not closed yet")
		j.incomplete = append(j.incomplete, fmt.Sprintf("the run ended %s after the fault, before closesWithin %s elapsed, and the breaker had not closed yet (%s)",
			fd(seen), fd(s.ClosesWithin), notClosed(after, j.states, end, j.k)))
	}
}

// effectText describes a fault window's Effect for the check's details.
func effectText(e string) string {
	switch e {
	case steadystate.EffectSlow:
		return "slow (unprotected calls are delayed or hang)"
	case steadystate.EffectFailsFast:
		return "fails fast (unprotected calls fail quickly by themselves)"
	}
	return "unknown (treated as possibly failing fast)"
}

// faultWindow returns the named fault's window, or the span of all faults.
func faultWindow(tl *steadystate.Timeline, name string) (steadystate.Window, error) {
	if name == "" {
		w, ok := tl.FaultSpan()
		if !ok {
			return w, fmt.Errorf("no fault was injected, so there is no fault window to judge the breaker by")
		}
		names := make([]string, 0, len(tl.Faults))
		for _, f := range tl.Faults {
			names = append(names, f.Name)
		}
		w.Name = strings.Join(names, "+")
		return w, nil
	}
	var names []string
	for _, f := range tl.Faults {
		if f.Name == name {
			return f, nil
		}
		names = append(names, f.Name)
	}
	return steadystate.Window{}, fmt.Errorf("no window for fault %q in the run (faults: %s)", name, strings.Join(names, ", "))
}

// firstRun returns the index of the first observation that starts a run of k
// consecutive observations satisfying pred, or -1. When obs holds fewer than k
// observations, the run must span all of them.
func firstRun(obs []steadystate.Observation, k int, pred func(steadystate.Observation) bool) int {
	if len(obs) < k {
		k = len(obs)
	}
	run := 0
	for i, o := range obs {
		if !pred(o) {
			run = 0
			continue
		}
		run++
		if run >= k {
			return i - run + 1
		}
	}
	return -1
}

// notClosed explains why the breaker does not count as closed after end.
func notClosed(after []steadystate.Observation, rs []reading, end time.Time, k int) string {
	ok := 0
	for _, o := range after {
		if o.Status == steadystate.StatusOK {
			ok++
		}
	}
	msg := fmt.Sprintf("%d of %d answers ok, never %d in a row", ok, len(after), k)
	if firstRun(after, k, func(o steadystate.Observation) bool { return o.Status == steadystate.StatusOK }) >= 0 {
		msg = fmt.Sprintf("%d of %d answers ok", ok, len(after))
	}
	var lastState string
	for _, r := range rs {
		if !r.at().Before(end) {
			lastState = r.state
		}
	}
	if lastState != "" {
		msg += fmt.Sprintf(", last state %q", lastState)
	}
	return msg
}

// plural writes "1 answer", "2 answers".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "s") {
		return fmt.Sprintf("%d %ses", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
