package promprobe

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline/steadystate"
)

// BreakerValue is the Observation.Values key read by circuitBreaker's
// `stateFrom: {probe: NAME}`, and the states it holds (the contract of
// steadystate/circuitbreaker, which this package does not import).
const (
	BreakerValue  = "breaker"
	StateClosed   = "closed"
	StateOpen     = "open"
	StateHalfOpen = "half-open"
)

// breakerVerdict is the observation of a breaker state: closed is ok, open and
// half-open are failed (the system is degraded).
func breakerVerdict(state, how string, values map[string]string) verdict {
	values[BreakerValue] = state
	st := steadystate.StatusOK
	if state != StateClosed {
		st = steadystate.StatusFailed
	}
	return verdict{st, state + " (" + how + ")", values}
}

// readBreaker maps a query result to a breaker state.
func (s *Spec) readBreaker(res []sample) verdict {
	if len(res) == 0 {
		return s.empty()
	}
	values := map[string]string{"series": strconv.Itoa(len(res))}
	if g := s.Breaker.Gauge; g != nil {
		if len(res) > 1 {
			return verdict{steadystate.StatusErrored, fmt.Sprintf("query returned %d series, want one breaker gauge (filter it by its labels): %s",
				len(res), nameValues(res)), values}
		}
		v := res[0].Value
		values["value"] = exact(v)
		switch {
		case v == *g.Closed:
			return breakerVerdict(StateClosed, "value "+num(v), values)
		case v == *g.Open:
			return breakerVerdict(StateOpen, "value "+num(v), values)
		case g.HalfOpen != nil && v == *g.HalfOpen:
			return breakerVerdict(StateHalfOpen, "value "+num(v), values)
		}
		known := fmt.Sprintf("closed=%s, open=%s", num(*g.Closed), num(*g.Open))
		if g.HalfOpen != nil {
			known += ", halfOpen=" + num(*g.HalfOpen)
		}
		return verdict{steadystate.StatusErrored, fmt.Sprintf("breaker gauge %s is %s, which maps to no state (%s)", res[0].Series, num(v), known), values}
	}
	return s.Breaker.StateLabel.read(res, values)
}

// read finds the series whose value is non-zero and maps its state label.
func (l *StateLabel) read(res []sample, values map[string]string) verdict {
	label := l.label()
	var active []sample
	for _, r := range res {
		if r.Value != 0 && r.Value == r.Value { // non-zero, not NaN
			active = append(active, r)
		}
	}
	if len(active) == 0 {
		return verdict{steadystate.StatusErrored, fmt.Sprintf("no series of %d has a non-zero value, so no state is current: %s",
			len(res), nameValues(res)), values}
	}
	states := map[string][]string{} // state → series
	for _, r := range active {
		lv, ok := r.Labels[label]
		if !ok {
			return verdict{steadystate.StatusErrored, fmt.Sprintf("series %s has no label %q naming the state", r.Series, label), values}
		}
		st := l.state(lv)
		if st == "" {
			return verdict{steadystate.StatusErrored, fmt.Sprintf("%s=%q (series %s) maps to no state: closed %v, open %v, halfOpen %v",
				label, lv, r.Series, l.closed(), l.open(), l.halfOpen()), values}
		}
		states[st] = append(states[st], r.Series)
		values[label] = lv
	}
	if len(states) > 1 {
		var parts []string
		for st, ss := range states {
			parts = append(parts, st+": "+strings.Join(ss, ", "))
		}
		sort.Strings(parts)
		delete(values, label)
		return verdict{steadystate.StatusErrored, fmt.Sprintf("several breakers in different states (filter the query to one): %s",
			strings.Join(parts, "; ")), values}
	}
	var state string
	for st := range states {
		state = st // the only one
	}
	return breakerVerdict(state, label+"="+strconv.Quote(values[label]), values)
}

func (l *StateLabel) label() string {
	if l.Label == "" {
		return DefaultStateLabel
	}
	return l.Label
}

func (l *StateLabel) closed() []string   { return orDefault(l.Closed, DefaultClosedValues) }
func (l *StateLabel) open() []string     { return orDefault(l.Open, DefaultOpenValues) }
func (l *StateLabel) halfOpen() []string { return orDefault(l.HalfOpen, DefaultHalfOpenValue) }

// state maps a label value to a state, "" when it is none.
func (l *StateLabel) state(v string) string {
	switch {
	case slices.Contains(l.closed(), v):
		return StateClosed
	case slices.Contains(l.open(), v):
		return StateOpen
	case slices.Contains(l.halfOpen(), v):
		return StateHalfOpen
	}
	return ""
}

func orDefault(v, def []string) []string {
	if len(v) == 0 {
		return def
	}
	return v
}
