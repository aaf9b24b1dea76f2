package circuitbreaker

import (
	"fmt"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/steadystate"
)

// reading is one breaker state reading. The state was read at some instant in
// [from, to]: a state probe's request, or the answer whose header carried it.
type reading struct {
	from, to time.Time
	state    string
}

// at is the reading's nominal time: the start of its interval, the observation's
// Time (an http probe's header reports the state its request was admitted under).
func (r reading) at() time.Time { return r.from }

// readings returns the breaker state readings in time order and says where they come
// from. Every ok or failed observation of the state probe whose Values["breaker"] is
// set is a reading over its flight [Time, Time+Latency].
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
			out = append(out, reading{from: o.Time, to: o.Time.Add(o.Latency), state: normalizeState(v)})
		}
	}
	if len(out) == 0 && s.StateFrom == nil {
		source = "none (latency only)"
	}
	return out, source
}

// Attributions of a slow answer after the breaker opened.
const (
	attrHalfOpen   = "half-open" // a half-open reading during or next to its flight
	attrClosed     = "closed"    // a closed reading during its flight, inside the fault
	attrOpen       = "open"      // read "open" during its flight
	attrUnobserved = ""          // no reading during its flight, none half-open next to it
)

// attribute says which state the breaker was in while the answer o, which ended
// before end (the fault end), was in flight. It looks at every reading that overlaps
// the flight [o.Time, o.Time+o.Latency] and at the last reading before and the first
// after it (a short half-open period can fall between two readings):
//
//   - any of them half-open: the answer was a half-open trial;
//   - a reading overlapping the flight, taken wholly inside the fault, is closed:
//     the breaker was closed while the fault held;
//   - a reading overlapping the flight is open: the breaker said open;
//   - otherwise the state during the flight was not observed.
func attribute(rs []reading, o steadystate.Observation, end time.Time) string {
	a, b := o.Time, o.Time.Add(o.Latency)
	var before, after *reading
	var during []reading
	for i := range rs {
		r := rs[i]
		switch {
		case r.to.Before(a):
			before = &rs[i]
		case r.from.After(b):
			if after == nil {
				after = &rs[i]
			}
		default:
			during = append(during, r)
		}
	}
	for _, r := range during {
		if r.state == StateHalfOpen {
			return attrHalfOpen
		}
	}
	if (before != nil && before.state == StateHalfOpen) || (after != nil && after.state == StateHalfOpen) {
		return attrHalfOpen
	}
	for _, r := range during {
		if r.state == StateClosed && r.to.Before(end) {
			return attrClosed
		}
	}
	for _, r := range during {
		if r.state == StateOpen {
			return attrOpen
		}
	}
	return attrUnobserved
}

// flaps finds the breaker closing while the fault held: a closed reading, taken
// wholly inside [opened, end), after the first open one. It returns when it first
// closed, how many times it re-opened afterwards, and whether it was found.
func flaps(rs []reading, opened, end time.Time) (closedAt time.Time, reopened int, found bool) {
	last := ""
	for _, r := range rs {
		if r.at().Before(opened) || !r.to.Before(end) {
			continue
		}
		switch {
		case r.state == StateClosed && !found:
			closedAt, found = r.at(), true
		case r.state == StateOpen && last == StateClosed:
			reopened++
		}
		if r.state != StateHalfOpen {
			last = r.state
		}
	}
	return closedAt, reopened, found
}

// firstState returns the nominal time of the first reading in [from, to) (to zero:
// no end) with the given state.
func firstState(rs []reading, from, to time.Time, state string) (time.Time, bool) {
	for _, r := range rs {
		t := r.at()
		if t.Before(from) || (!to.IsZero() && !t.Before(to)) {
			continue
		}
		if r.state == state {
			return t, true
		}
	}
	return time.Time{}, false
}

func countStates(rs []reading, from, to time.Time) string {
	n := map[string]int{}
	var order []string
	for _, r := range rs {
		if t := r.at(); t.Before(from) || !t.Before(to) {
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

// separators are dropped when comparing state spellings ("half_open", "Half-Open").
var separators = strings.NewReplacer("_", "", "-", "", " ", "")

// normalizeState maps spellings of the three states to closed, open, half-open.
// Resilience4j's FORCED_OPEN reads as open, its DISABLED and METRICS_ONLY (every
// call goes through) as closed.
func normalizeState(v string) string {
	switch v {
	case StateClosed, StateOpen, StateHalfOpen:
		return v
	}
	v = strings.ToLower(strings.TrimSpace(v))
	switch separators.Replace(v) {
	case "closed", "close", "disabled", "metricsonly":
		return StateClosed
	case "open", "opened", "forcedopen":
		return StateOpen
	case "halfopen", "halfopened":
		return StateHalfOpen
	}
	return v
}
