package circuitbreaker

import (
	"fmt"
	"strconv"
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

// reading is one breaker state reading.
type reading struct {
	t     time.Time
	state string
}

// Check measures the opening, the open period and the closing of the breaker around
// the fault window and compares them with the bounds. It is pure.
func (a *Assertion) Check(tl *steadystate.Timeline) steadystate.Check {
	s := a.spec
	fd := steadystate.FormatDuration
	c := steadystate.Check{
		Name:  fmt.Sprintf("circuitBreaker(%s)", s.Probe),
		Kind:  Key,
		Probe: s.Probe,
		Expected: fmt.Sprintf("opens within %s, no answer >= %s while open, closes within %s",
			fd(s.OpensWithin), fd(s.FastFailUnder), fd(s.ClosesWithin)),
		Details: map[string]string{},
	}
	errored := func(measured, reason string) steadystate.Check {
		c.Status, c.Measured, c.Reason = steadystate.CheckErrored, measured, reason
		return c
	}
	win, err := faultWindow(tl, s.Fault)
	if err != nil {
		return errored("no fault window", err.Error())
	}
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
	c.Details["fault window"] = fmt.Sprintf("%s: %s", win.Name, fd(end.Sub(win.Start)))
	var during, after []steadystate.Observation
	for _, o := range judged {
		switch {
		case o.Time.Before(win.Start):
		case o.Time.Before(end):
			during = append(during, o)
		default:
			after = append(after, o)
		}
	}
	if len(during) == 0 {
		return errored("no data", fmt.Sprintf("no ok or failed observations of %s during the %s fault window", s.Probe, fd(end.Sub(win.Start))))
	}
	k := s.consecutive()
	isFast := func(o steadystate.Observation) bool { return o.Latency < s.FastFailUnder }
	isOK := func(o steadystate.Observation) bool { return o.Status == steadystate.StatusOK }
	states, source := a.readings(tl)
	c.Details["state source"] = source
	sum := steadystate.Summarize(during)
	fast := 0
	for _, o := range during {
		if isFast(o) {
			fast++
		}
	}
	c.Details["answers during fault"] = fmt.Sprintf("%d (%d fast < %s, %d slow)", len(during), fast, fd(s.FastFailUnder), len(during)-fast)
	c.Details["p99 latency during fault"] = fd(sum.P99)

	var problems, incomplete, measured []string

	// Opening.
	iOpen := firstRun(during, k, isFast)
	if iOpen < 0 {
		c.Status = steadystate.CheckFailed
		c.Measured = "never opened"
		c.Reason = fmt.Sprintf("breaker never opened: %s (< %s) of %d in the %s fault window, never %d in a row; p99 latency %s",
			plural(fast, "fast answer"), fd(s.FastFailUnder), len(during), fd(end.Sub(win.Start)), min(k, len(during)), fd(sum.P99))
		return c
	}
	answersOpen := during[iOpen].Time
	c.Details["opened after (answers fast)"] = fd(answersOpen.Sub(win.Start))
	openedAt := answersOpen
	stOpen, stOpenOK := firstState(states, win.Start, end, StateOpen)
	neverOpened := func(reason string) steadystate.Check {
		c.Status = steadystate.CheckFailed
		c.Measured = "never opened"
		c.Reason = fmt.Sprintf("breaker never opened: %s, although answers were fast after %s", reason, fd(answersOpen.Sub(win.Start)))
		return c
	}
	switch {
	case len(states) == 0 && s.StateFrom != nil:
		c.Details["opened after (state open)"] = "no state readings"
		return neverOpened(fmt.Sprintf("no observation of %s carried a breaker state (%s)", s.stateProbe(), source))
	case len(states) == 0:
		c.Details["opened after (state open)"] = "no state readings"
	case !stOpenOK:
		c.Details["opened after (state open)"] = "never"
		return neverOpened(fmt.Sprintf("its state was never %q during the fault (%s)", StateOpen, countStates(states, win.Start, end)))
	default:
		c.Details["opened after (state open)"] = fd(stOpen.Sub(win.Start))
		if stOpen.After(openedAt) {
			openedAt = stOpen
		}
	}
	opensAfter := openedAt.Sub(win.Start)
	measured = append(measured, "opened after "+fd(opensAfter))
	if opensAfter > s.OpensWithin {
		problems = append(problems, fmt.Sprintf("breaker opened after %s, later than opensWithin %s", fd(opensAfter), fd(s.OpensWithin)))
	}

	// Staying open: no slow answer from the first fast run to the fault end, except
	// the breaker's own half-open probes.
	slow, probes := 0, 0
	var slowest steadystate.Observation
	for _, o := range during[iOpen:] {
		if isFast(o) {
			continue
		}
		if o.Values[StateValue] == StateHalfOpen {
			probes++
			continue
		}
		slow++
		if o.Latency > slowest.Latency {
			slowest = o
		}
	}
	c.Details["slow answers while open"] = strconv.Itoa(slow)
	c.Details["half-open probes"] = strconv.Itoa(probes)
	measured = append(measured, plural(slow, "slow answer")+" while open")
	if slow > 0 {
		problems = append(problems, fmt.Sprintf("breaker flapped: %s (>= %s) while open, the slowest %s at %s after the fault start",
			plural(slow, "slow answer"), fd(s.FastFailUnder), fd(slowest.Latency), fd(slowest.Time.Sub(win.Start))))
	}

	// Closing.
	switch {
	case !ended:
		incomplete = append(incomplete, "the fault window never ended, so closing could not be judged")
	default:
		iClose := firstRun(after, k, isOK)
		closedAt, closed := time.Time{}, iClose >= 0
		if closed {
			closedAt = after[iClose].Time
			c.Details["closed after (answers ok)"] = fd(closedAt.Sub(end))
		} else {
			c.Details["closed after (answers ok)"] = "never"
		}
		if len(states) > 0 {
			stClose, ok := firstState(states, end, time.Time{}, StateClosed)
			if ok {
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
		if n := len(states); n > 0 && states[n-1].t.After(observed) {
			observed = states[n-1].t
		}
		seen := observed.Sub(end)
		switch closesAfter := closedAt.Sub(end); {
		case closed && closesAfter > s.ClosesWithin:
			measured = append(measured, "closed after "+fd(closesAfter))
			problems = append(problems, fmt.Sprintf("breaker closed after %s, later than closesWithin %s", fd(closesAfter), fd(s.ClosesWithin)))
		case closed:
			measured = append(measured, "closed after "+fd(closesAfter))
		case seen >= s.ClosesWithin:
			measured = append(measured, "never closed")
			problems = append(problems, fmt.Sprintf("breaker never closed: %s after the fault ended, %s", fd(seen), notClosed(after, states, end, k)))
		default:
			measured = append(measured, "not closed yet")
			incomplete = append(incomplete, fmt.Sprintf("the run ended %s after the fault, before closesWithin %s elapsed, and the breaker had not closed yet (%s)",
				fd(seen), fd(s.ClosesWithin), notClosed(after, states, end, k)))
		}
	}

	c.Measured = strings.Join(measured, ", ")
	switch {
	case len(problems) > 0:
		c.Status = steadystate.CheckFailed
		c.Reason = strings.Join(problems, "; ")
	case len(incomplete) > 0:
		c.Status = steadystate.CheckErrored
		c.Reason = strings.Join(incomplete, "; ")
	default:
		c.Status = steadystate.CheckPassed
	}
	return c
}

// readings returns the breaker state readings in time order and says where they come from.
func (a *Assertion) readings(tl *steadystate.Timeline) ([]reading, string) {
	s := a.spec
	probe := s.stateProbe()
	source := fmt.Sprintf("Values[%q] of %s", StateValue, probe)
	switch {
	case s.StateFrom != nil && s.StateFrom.Header != "":
		source = fmt.Sprintf("header %s of %s", s.StateFrom.Header, probe)
	case s.StateFrom != nil:
		source = "probe " + probe
	}
	var out []reading
	for _, o := range tl.Observations[probe] {
		if v := o.Values[StateValue]; v != "" && o.Status != steadystate.StatusErrored {
			out = append(out, reading{t: o.Time, state: normalizeState(v)})
		}
	}
	if len(out) == 0 && s.StateFrom == nil {
		source = "none (latency only)"
	}
	return out, source
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

// firstState returns the time of the first reading in [from, to) (to zero: no end)
// with the given state.
func firstState(rs []reading, from, to time.Time, state string) (time.Time, bool) {
	for _, r := range rs {
		if r.t.Before(from) || (!to.IsZero() && !r.t.Before(to)) {
			continue
		}
		if r.state == state {
			return r.t, true
		}
	}
	return time.Time{}, false
}

func countStates(rs []reading, from, to time.Time) string {
	n := map[string]int{}
	var order []string
	for _, r := range rs {
		if r.t.Before(from) || !r.t.Before(to) {
			continue
		}
		if n[r.state] == 0 {
			order = append(order, r.state)
		}
		n[r.state]++
	}
	if len(order) == 0 {
		return "no state readings in the window"
	}
	parts := make([]string, len(order))
	for i, st := range order {
		parts[i] = fmt.Sprintf("%s %d", st, n[st])
	}
	return "states seen: " + strings.Join(parts, ", ")
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
		if !r.t.Before(end) {
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
	return fmt.Sprintf("%d %ss", n, noun)
}

// separators are dropped when comparing state spellings ("half_open", "Half-Open").
var separators = strings.NewReplacer("_", "", "-", "", " ", "")

// normalizeState maps spellings of the three states to closed, open, half-open.
func normalizeState(v string) string {
	switch v {
	case StateClosed, StateOpen, StateHalfOpen:
		return v
	}
	v = strings.ToLower(strings.TrimSpace(v))
	switch separators.Replace(v) {
	case "closed", "close":
		return StateClosed
	case "open", "opened":
		return StateOpen
	case "halfopen":
		return StateHalfOpen
	}
	return v
}
