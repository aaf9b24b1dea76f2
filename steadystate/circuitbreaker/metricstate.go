package circuitbreaker

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

var states = []string{StateClosed, StateOpen, StateHalfOpen}

func (m *MetricState) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if m.StateLabel == "" {
		if m.OpenValue == nil {
			errs = append(errs, field.Required(p.Child("openValue"), "must give the gauge value that means open, e.g. 2 (or stateLabel for one series per state)"))
		}
		if len(m.StateValues) > 0 {
			errs = append(errs, field.Forbidden(p.Child("stateValues"), "only applies with stateLabel (one series per state)"))
		}
	} else {
		for name, v := range map[string]*float64{"openValue": m.OpenValue, "halfOpenValue": m.HalfOpenValue, "closedValue": m.ClosedValue} {
			if v != nil {
				errs = append(errs, field.Forbidden(p.Child(name), "gauge values do not apply with stateLabel (one series per state, the current one at 1)"))
			}
		}
		for _, k := range sortedKeys(m.StateValues) {
			if v := m.StateValues[k]; !isState(v) {
				errs = append(errs, field.NotSupported(p.Child("stateValues").Key(k), v, states))
			}
		}
	}
	if m.OpenValue != nil && m.HalfOpenValue != nil && *m.OpenValue == *m.HalfOpenValue {
		errs = append(errs, field.Invalid(p.Child("halfOpenValue"), *m.HalfOpenValue, "must differ from openValue"))
	}
	if m.ClosedValue != nil && ((m.OpenValue != nil && *m.ClosedValue == *m.OpenValue) || (m.HalfOpenValue != nil && *m.ClosedValue == *m.HalfOpenValue)) {
		errs = append(errs, field.Invalid(p.Child("closedValue"), *m.ClosedValue, "must differ from openValue and halfOpenValue"))
	}
	if a := m.WhenAbsent; a != "" && !isState(a) {
		errs = append(errs, field.NotSupported(p.Child("whenAbsent"), a, states))
	}
	return errs
}

func isState(s string) bool { return s == StateClosed || s == StateOpen || s == StateHalfOpen }

// state reads the breaker state from an exposition.
func (m *MetricState) state(body []byte) (string, error) {
	if m.StateLabel != "" {
		st, err := m.perStateSeries(string(body))
		if errors.Is(err, errNotFound) && m.WhenAbsent != "" {
			return m.WhenAbsent, nil
		}
		return st, err
	}
	v, err := findSample(string(body), m.Name, m.Labels)
	if errors.Is(err, errNotFound) && m.WhenAbsent != "" {
		return m.WhenAbsent, nil
	}
	if err != nil {
		return "", err
	}
	switch {
	case v == *m.OpenValue:
		return StateOpen, nil
	case m.HalfOpenValue != nil && v == *m.HalfOpenValue:
		return StateHalfOpen, nil
	case m.ClosedValue == nil || v == *m.ClosedValue:
		return StateClosed, nil
	}
	return "", fmt.Errorf("metric %s%s: unknown value %v (closed %v, open %v%s)", m.Name, formatLabels(m.Labels), v,
		*m.ClosedValue, *m.OpenValue, halfOpenText(m.HalfOpenValue))
}

func halfOpenText(v *float64) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf(", half-open %v", *v)
}

// perStateSeries reads one-series-per-state metrics: among the matching series, the
// one with a non-zero value names the state in its StateLabel. Series of several
// breakers (differing in labels other than StateLabel) are refused: Labels must
// pick one.
func (m *MetricState) perStateSeries(text string) (string, error) {
	ss, err := findSamples(text, m.Name, m.Labels, 0)
	if err != nil {
		return "", err
	}
	what := m.Name + formatLabels(m.Labels)
	breakers := map[string]bool{}
	var on []string
	for _, s := range ss {
		v, ok := s.labels[m.StateLabel]
		if !ok {
			continue
		}
		rest := map[string]string{}
		for k, lv := range s.labels {
			if k != m.StateLabel {
				rest[k] = lv
			}
		}
		breakers[formatLabels(rest)] = true
		if s.value != 0 && !math.IsNaN(s.value) {
			on = append(on, v)
		}
	}
	if len(breakers) == 0 {
		return "", fmt.Errorf("metric %s has no label %s %w", what, m.StateLabel, errNotFound)
	}
	if len(breakers) > 1 {
		names := make([]string, 0, len(breakers))
		for b := range breakers {
			names = append(names, b)
		}
		sort.Strings(names)
		return "", fmt.Errorf("metric %s matches %d breakers (%s): pick one with labels, e.g. {name: ...}", what, len(names), strings.Join(names, ", "))
	}
	if len(on) != 1 {
		return "", fmt.Errorf("metric %s: %d series with %s set to 1 (%s), want exactly 1", what, len(on), m.StateLabel, strings.Join(on, ", "))
	}
	if st, ok := m.StateValues[on[0]]; ok {
		return st, nil
	}
	if st := normalizeState(on[0]); isState(st) {
		return st, nil
	}
	return "", fmt.Errorf("metric %s: unknown state %s=%q (map it with stateValues)", what, m.StateLabel, on[0])
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
