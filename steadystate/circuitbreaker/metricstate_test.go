package circuitbreaker

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// resilience4j writes one series per state and breaker, the current state at 1.
const r4j = `# HELP resilience4j_circuitbreaker_state The states of the circuit breaker
# TYPE resilience4j_circuitbreaker_state gauge
resilience4j_circuitbreaker_state{name="backendA",state="closed",} 0.0
resilience4j_circuitbreaker_state{name="backendA",state="disabled",} 0.0
resilience4j_circuitbreaker_state{name="backendA",state="forced_open",} 0.0
resilience4j_circuitbreaker_state{name="backendA",state="half_open",} 1.0
resilience4j_circuitbreaker_state{name="backendA",state="metrics_only",} 0.0
resilience4j_circuitbreaker_state{name="backendA",state="open",} 0.0
resilience4j_circuitbreaker_state{name="backendB",state="closed",} 0.0
resilience4j_circuitbreaker_state{name="backendB",state="tripped",} 1.0
`

func TestMetricState(t *testing.T) {
	perState := func(labels map[string]string, values map[string]string) *MetricState {
		return &MetricState{URL: "http://x/metrics", Name: "resilience4j_circuitbreaker_state", Labels: labels, StateLabel: "state", StateValues: values}
	}
	gauge := func(closed *float64) *MetricState {
		return &MetricState{URL: "http://x/metrics", Name: "breaker_state", OpenValue: fptr(1), HalfOpenValue: fptr(2), ClosedValue: closed}
	}
	tests := []struct {
		name string
		m    *MetricState
		text string
		want string
		err  string
	}{
		{"one series per state: half_open", perState(map[string]string{"name": "backendA"}, nil), r4j, StateHalfOpen, ""},
		{"one series per state: open", perState(map[string]string{"name": "backendA"}, nil),
			strings.NewReplacer(`"half_open",} 1.0`, `"half_open",} 0.0`, `"open",} 0.0`, `"open",} 1.0`).Replace(r4j), StateOpen, ""},
		{"one series per state: forced_open is open", perState(map[string]string{"name": "backendA"}, nil),
			strings.NewReplacer(`"half_open",} 1.0`, `"half_open",} 0.0`, `"forced_open",} 0.0`, `"forced_open",} 1.0`).Replace(r4j), StateOpen, ""},
		{"custom state value", perState(map[string]string{"name": "backendB"}, map[string]string{"tripped": "open"}), r4j, StateOpen, ""},
		{"unknown state value", perState(map[string]string{"name": "backendB"}, nil), r4j, "", `unknown state state="tripped" (map it with stateValues)`},
		{"several breakers", perState(nil, nil), r4j, "", `matches 2 breakers ({name="backendA"}, {name="backendB"}): pick one with labels`},
		{"no series at 1", perState(map[string]string{"name": "backendA"}, nil),
			strings.Replace(r4j, `"half_open",} 1.0`, `"half_open",} 0.0`, 1), "", "0 series with state set to 1"},
		{"gauge 0/1/2: 2 is half-open", gauge(fptr(0)), "breaker_state 2\n", StateHalfOpen, ""},
		{"gauge 0/1/2: 1 is open", gauge(fptr(0)), "breaker_state 1\n", StateOpen, ""},
		{"gauge 0/1/2: 0 is closed", gauge(fptr(0)), "breaker_state 0\n", StateClosed, ""},
		{"gauge with closedValue: other values are unknown", gauge(fptr(0)), "breaker_state 7\n", "", "unknown value 7"},
		{"gauge without closedValue: other values are closed", gauge(nil), "breaker_state 7\n", StateClosed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if errs := tt.m.validate(field.NewPath("metric")); len(errs) > 0 {
				t.Fatalf("invalid: %v", errs.ToAggregate())
			}
			got, err := tt.m.state([]byte(tt.text))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("state = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestMetricStateValidate(t *testing.T) {
	tests := []struct {
		name string
		m    MetricState
		want string
	}{
		{"gauge needs openValue", MetricState{}, "metric.openValue: Required value"},
		{"stateValues need stateLabel", MetricState{OpenValue: fptr(1), StateValues: map[string]string{"x": "open"}}, "metric.stateValues: Forbidden"},
		{"no gauge values with stateLabel", MetricState{StateLabel: "state", OpenValue: fptr(1)}, "metric.openValue: Forbidden"},
		{"stateValues map to states", MetricState{StateLabel: "state", StateValues: map[string]string{"x": "ajar"}}, `metric.stateValues[x]: Unsupported value: "ajar"`},
		{"closedValue differs", MetricState{OpenValue: fptr(1), ClosedValue: fptr(1)}, "metric.closedValue: Invalid value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.m.validate(field.NewPath("metric"))
			if agg := errs.ToAggregate(); agg == nil || !strings.Contains(agg.Error(), tt.want) {
				t.Fatalf("errors = %v, want %q", agg, tt.want)
			}
		})
	}
}
