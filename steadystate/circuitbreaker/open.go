package circuitbreaker

import (
	"fmt"
	"strconv"
	"time"

	"github.com/faultline-dev/faultline/steadystate"
)

// counts of the answers during the fault.
type counts struct{ fastOK, fastFailed, slow int }

func (j *judge) tally() counts {
	var n counts
	for _, o := range j.during {
		switch {
		case !j.fast(o):
			n.slow++
		case o.Status == steadystate.StatusOK:
			n.fastOK++
		default:
			n.fastFailed++
		}
	}
	return n
}

// opensByAnswer says whether a fast answer may show the breaker open. With a state
// source, any fast answer may (the state confirms it). Without one, a fast failure
// shows a breaker only under a fault that makes unprotected calls slow; under one
// that fails fast by itself (or an unknown one) only a fast success (a fallback)
// does, since a refused connection fails as fast as an open breaker.
func (j *judge) opensByAnswer(o steadystate.Observation) bool {
	if !j.fast(o) {
		return false
	}
	return j.hasState || j.win.Effect == steadystate.EffectSlow || o.Status == steadystate.StatusOK
}

// opening finds when the breaker opened. It returns the index in during of the first
// answer of the run that shows it open, or done when the check is decided (never
// opened, or cannot be judged).
func (j *judge) opening(n counts) (iOpen int, done bool) {
	s, c, fd, win := j.s, &j.c, steadystate.FormatDuration, j.win
	span := fd(j.end.Sub(win.Start))
	iOpen = firstRun(j.during, j.k, j.opensByAnswer)
	if iOpen < 0 {
		iFast := firstRun(j.during, j.k, j.fast)
		if !j.hasState && iFast >= 0 {
			c.Status = steadystate.CheckErrored
			c.Measured = "cannot tell a breaker from the fault"
			c.At = j.during[iFast].Time
			c.Reason = fmt.Sprintf("answers failed fast from %s after the fault start (%s, %s), but the fault %s by itself, "+
				"so fast failures do not show a breaker (a refused connection fails as fast as an open breaker); "+
				"give the check the breaker's state with stateFrom: {header: X-Circuit-State} or {probe: <a breakerState probe>}, "+
				"or judge it under a fault that makes unprotected calls slow (latency, dependencyFailure mode timeout, partition)",
				fd(j.during[iFast].Time.Sub(win.Start)), plural(n.fastFailed, "fast failure"), plural(n.fastOK, "fast success"),
				map[bool]string{true: "fails fast", false: "may fail fast"}[win.Effect == steadystate.EffectFailsFast])
			return -1, true
		}
		c.Status = steadystate.CheckFailed
		c.Measured = "never opened"
		c.Reason = fmt.Sprintf("breaker never opened: %s (< %s) of %d in the %s fault window, never %d in a row; p99 latency %s",
			plural(n.fastOK+n.fastFailed, "fast answer"), fd(s.FastFailUnder), len(j.during), span,
			min(j.k, len(j.during)), fd(steadystate.Summarize(j.during).P99))
		c.At = slowest(j.during).Time
		return -1, true
	}
	answersOpen := j.during[iOpen].Time
	c.Details["opened after (answers fast)"] = fd(answersOpen.Sub(win.Start))
	openedAt := answersOpen
	neverOpened := func(reason string) (int, bool) {
		c.Status = steadystate.CheckFailed
		c.Measured = "never opened"
		c.At = answersOpen
		c.Reason = "breaker never opened: " + reason + "; " + j.fastAnswers(n, answersOpen)
		return -1, true
	}
	stOpen, stOpenOK := firstState(j.states, win.Start, j.end, StateOpen)
	switch {
	case len(j.states) == 0 && s.StateFrom != nil:
		c.Details["opened after (state open)"] = "no state readings"
		return neverOpened(fmt.Sprintf("no observation of %s carried a breaker state (%s)", s.stateProbe(), c.Details["state source"]))
	case len(j.states) == 0:
		c.Details["opened after (state open)"] = "no state readings"
	case !stOpenOK:
		c.Details["opened after (state open)"] = "never"
		return neverOpened(fmt.Sprintf("its state was never %q during the fault (%s)", StateOpen, countStates(j.states, win.Start, j.end)))
	default:
		c.Details["opened after (state open)"] = fd(stOpen.Sub(win.Start))
		if stOpen.After(openedAt) {
			openedAt = stOpen
		}
	}
	opensAfter := openedAt.Sub(win.Start)
	j.measured = append(j.measured, "opened after "+fd(opensAfter))
	if opensAfter > s.OpensWithin {
		j.problems = append(j.problems, fmt.Sprintf("breaker opened after %s, later than opensWithin %s", fd(opensAfter), fd(s.OpensWithin)))
		if c.At.IsZero() {
			c.At = openedAt
		}
	}
	return iOpen, false
}

// fastAnswers says what the fast answers were, without calling fast failures a
// breaker's work.
func (j *judge) fastAnswers(n counts, from time.Time) string {
	fd := steadystate.FormatDuration
	switch {
	case n.fastOK == 0:
		return fmt.Sprintf("the answers failed fast from %s after the fault start (%s, no fast success), which the fault can cause with no breaker at all",
			fd(from.Sub(j.win.Start)), plural(n.fastFailed, "fast failure"))
	case n.fastFailed == 0:
		return fmt.Sprintf("although answers were fast (%s) after %s", plural(n.fastOK, "fast success"), fd(from.Sub(j.win.Start)))
	}
	return fmt.Sprintf("answers were fast after %s (%s, %s)", fd(from.Sub(j.win.Start)),
		plural(n.fastOK, "fast success"), plural(n.fastFailed, "fast failure"))
}

// openPeriod judges the answers from the opening to the fault end. A slow answer is
// attributed to the breaker state while it was in flight (see attribute): a
// half-open trial is what a breaker does and never a violation. Slow answers no
// state reading explains are grouped in runs (no fast answer between them): a run of
// fewer than K is read as a half-open trial the state source did not catch; a run of
// K or more means calls went through again while the fault held.
func (j *judge) openPeriod(iOpen int) {
	c, fd := &j.c, steadystate.FormatDuration
	var trials, trialsOK, probable, whileClosed int
	var closedSlowest steadystate.Observation
	var run, bad []steadystate.Observation
	saidOpen := false
	flush := func() {
		if len(run) >= j.k {
			bad = append(bad, run...)
		} else {
			probable += len(run)
		}
		run = run[:0]
	}
	for _, o := range j.during[iOpen:] {
		if j.fast(o) {
			flush()
			continue
		}
		attr := attrUnobserved
		if j.hasState {
			attr = attribute(j.states, o, j.end)
		}
		switch attr {
		case attrHalfOpen:
			flush()
			trials++
			if o.Status == steadystate.StatusOK {
				trialsOK++
			}
		case attrClosed:
			flush()
			whileClosed++
			if o.Latency > closedSlowest.Latency {
				closedSlowest = o
			}
		default:
			saidOpen = saidOpen || attr == attrOpen
			run = append(run, o)
		}
	}
	flush()

	violations := len(bad) + whileClosed
	c.Details["slow answers while open"] = strconv.Itoa(violations)
	c.Details["half-open trials"] = fmt.Sprintf("%d (%d ok, %d failed)", trials, trialsOK, trials-trialsOK)
	if probable > 0 {
		c.Details["slow answers read as unseen half-open trials"] = fmt.Sprintf("%d (fewer than %d in a row, no state reading explains them)", probable, j.k)
	}
	m := plural(violations, "slow answer") + " while open"
	if t := trials + probable; t > 0 {
		m += fmt.Sprintf(" (%s)", plural(t, "half-open trial"))
	}
	j.measured = append(j.measured, m)

	opened, _ := firstState(j.states, j.win.Start, j.end, StateOpen)
	if closedAt, reopened, found := flaps(j.states, opened, j.end); found {
		what := fmt.Sprintf("breaker closed at %s while the fault still held", j.since(closedAt))
		if reopened > 0 {
			what = fmt.Sprintf("breaker flapped: it closed at %s while the fault held and re-opened %s", j.since(closedAt), plural(reopened, "time"))
		}
		if whileClosed > 0 {
			what += fmt.Sprintf("; %s (>= %s) while closed, the slowest %s at %s", plural(whileClosed, "slow answer"),
				fd(j.s.FastFailUnder), fd(closedSlowest.Latency), j.since(closedSlowest.Time))
			c.At = closedSlowest.Time
		} else if c.At.IsZero() {
			c.At = closedAt
		}
		j.problems = append(j.problems, what)
	} else if whileClosed > 0 {
		j.problems = append(j.problems, fmt.Sprintf("%s (>= %s) while the breaker's state said closed during the fault, the slowest %s at %s",
			plural(whileClosed, "slow answer"), fd(j.s.FastFailUnder), fd(closedSlowest.Latency), j.since(closedSlowest.Time)))
		c.At = closedSlowest.Time
	}
	if len(bad) > 0 {
		w := slowest(bad)
		if saidOpen {
			j.problems = append(j.problems, fmt.Sprintf("breaker did not short-circuit: %s (>= %s) in runs of %d or more while its state said open, the slowest %s at %s",
				plural(len(bad), "slow answer"), fd(j.s.FastFailUnder), j.k, fd(w.Latency), j.since(w.Time)))
		} else {
			j.problems = append(j.problems, fmt.Sprintf("breaker let calls through again while the fault held: %s (>= %s) in runs of %d or more after it opened, the slowest %s at %s",
				plural(len(bad), "slow answer"), fd(j.s.FastFailUnder), j.k, fd(w.Latency), j.since(w.Time)))
		}
		c.At = w.Time
	}
}

// slowest returns the slowest of obs (the first on ties); obs is not empty.
func slowest(obs []steadystate.Observation) steadystate.Observation {
	w := obs[0]
	for _, o := range obs[1:] {
		if o.Latency > w.Latency {
			w = o
		}
	}
	return w
}
