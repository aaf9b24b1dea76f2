// Package circuitbreaker is the `circuitBreaker` assertion and the `breakerState`
// probe.
//
// The assertion checks, from one probe's time series around a fault window, that the
// system under test protects itself like a circuit breaker does:
//
//	latency ▲  closed        open (fast fallback or fast error)     closed
//	        │ ·  ·  ·  ╭─╮                                     ·  ·  ·  ·
//	        │          │ │  half-open probe allowed ─▶ ╷
//	        │ ·  ·  ·  │ │· · · · · · · · · · · · · · ·│· · · · ·  ·  ·  ·  ── fastFailUnder
//	        └──────────┴─┴─────────────────────────────┴──────────────────▶ t
//	              fault start ─▶│◀ opensWithin      fault end ─▶│◀ closesWithin
//
//	verify:
//	  - circuitBreaker:
//	      probe: checkout
//	      opensWithin: 2s          # fault start → answers fast (and state "open")
//	      fastFailUnder: 50ms      # an answer under this is a fallback or a fast error
//	      closesWithin: 10s        # fault end → successes (and state "closed") again
//	      consecutive: 3           # K, see below (default 3)
//	      fault: payments-down     # which fault window (default: all faults)
//	      stateFrom: {header: X-Circuit-State}   # or {probe: checkout-breaker}
//
// Definitions (errored observations are ignored throughout; they say nothing of the
// system). A state reading is an observation of the state probe with
// Values["breaker"] set; it covers its flight [Time, Time+Latency].
//
//   - opened (answers): the first observation in the fault window that starts a run
//     of K consecutive fast answers (latency < fastFailUnder). With a state source
//     any fast answer counts; without one, a fast failure counts only under a fault
//     whose Window.Effect is EffectSlow (a fault that fails fast by itself makes
//     fast failures with no breaker at all), a fast success (fallback) always. When
//     only fast failures of such a fault are seen, the check is errored and asks
//     for stateFrom: it cannot tell.
//   - opened (state): the first reading in the fault window that is "open".
//   - opensAfter = max(opened (answers), opened (state)) − fault start; it must be
//     <= opensWithin. The state part applies when state readings exist.
//   - stays open: each slow answer (latency >= fastFailUnder) from opened (answers)
//     to the fault end is attributed to the breaker's state while it was in flight
//     (see attribute): a half-open reading overlapping it or next to it makes it a
//     half-open trial, which is the design and never a violation (counted with its
//     outcome in Details["half-open trials"]). Flapping is the breaker closing
//     while the fault held: a "closed" reading wholly inside the fault after the
//     first "open" one. Slow answers no reading explains are grouped in runs: fewer
//     than K in a row are read as a trial the readings missed; K or more fail.
//   - closed (answers): the first observation at or after the fault end that starts a
//     run of K consecutive ok answers. Without breaker state this is all that can
//     be seen, and a fallback answer counts as a success.
//   - closed (state): the first reading at or after the fault end that is "closed".
//   - closesAfter = max(closed (answers), closed (state)) − fault end; it must be
//     <= closesWithin. If the run ended before closesWithin elapsed and the breaker
//     had not closed yet, the check is errored (could not be judged), not failed.
//
// Breaker state comes from Values["breaker"] of the asserted probe (the http probe
// records the X-Circuit-State / X-Breaker-State response header there) or, with
// stateFrom.probe, of another probe: a `breakerState` probe reading a JSON endpoint
// or a Prometheus metric, a `prometheus` probe in breaker mode, or any probe that
// sets Values["breaker"] to closed, open or half-open (the contract). With
// stateFrom set, state readings are required: a service that never reports its
// breaker state fails ("breaker never opened"). Without stateFrom, state readings
// are used when present.
package circuitbreaker

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/steadystate"
)

// Key is the YAML key of the assertion.
const Key = "circuitBreaker"

// DefaultConsecutive is K when Spec.Consecutive is zero.
const DefaultConsecutive = 3

// StateValue is the Observation.Values key that carries a breaker state
// ("closed", "open" or "half-open").
const StateValue = "breaker"

// Breaker states as recorded in Values["breaker"].
const (
	StateClosed   = "closed"
	StateOpen     = "open"
	StateHalfOpen = "half-open"
)

// stateHeaders are the response headers the http probe records in Values["breaker"].
var stateHeaders = []string{"X-Circuit-State", "X-Breaker-State"}

// Spec is the `circuitBreaker` block under verify.
type Spec struct {
	// Probe is the probe whose answers are judged.
	Probe string `yaml:"probe" json:"probe"`
	// OpensWithin bounds the time from the fault start until the breaker is open.
	OpensWithin time.Duration `yaml:"opensWithin" json:"opensWithin"`
	// FastFailUnder: an answer faster than this is a fallback or a fast error.
	FastFailUnder time.Duration `yaml:"fastFailUnder" json:"fastFailUnder"`
	// ClosesWithin bounds the time from the fault end until successes return.
	ClosesWithin time.Duration `yaml:"closesWithin" json:"closesWithin"`
	// Consecutive is K, the run of answers that marks a transition (default 3).
	Consecutive int `yaml:"consecutive,omitempty" json:"consecutive,omitempty"`
	// Fault names the fault whose window is judged (default: from the start of the
	// first fault to the end of the last).
	Fault string `yaml:"fault,omitempty" json:"fault,omitempty"`
	// StateFrom says where the breaker's own state is read; optional.
	StateFrom *StateFrom `yaml:"stateFrom,omitempty" json:"stateFrom,omitempty"`
}

// StateFrom says where the breaker state comes from; set exactly one field.
type StateFrom struct {
	// Header is the response header of the asserted (http) probe carrying the state:
	// X-Circuit-State or X-Breaker-State, which the http probe records.
	Header string `yaml:"header,omitempty" json:"header,omitempty"`
	// Probe names another probe whose Values["breaker"] carries the state, e.g. a
	// breakerState probe reading GET /breaker or a Prometheus metric.
	Probe string `yaml:"probe,omitempty" json:"probe,omitempty"`
}

// Validate checks the spec without I/O.
func (s *Spec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Probe == "" {
		errs = append(errs, field.Required(p.Child("probe"), "must name a probe"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"opensWithin", s.OpensWithin}, {"fastFailUnder", s.FastFailUnder}, {"closesWithin", s.ClosesWithin}} {
		if d.v <= 0 {
			errs = append(errs, field.Required(p.Child(d.name), "must be a duration > 0, e.g. 2s"))
		}
	}
	if s.Consecutive < 0 {
		errs = append(errs, field.Invalid(p.Child("consecutive"), s.Consecutive, "must be >= 1"))
	}
	if f := s.StateFrom; f != nil {
		sp := p.Child("stateFrom")
		switch {
		case f.Header == "" && f.Probe == "":
			errs = append(errs, field.Required(sp, "must set one of: header, probe"))
		case f.Header != "" && f.Probe != "":
			errs = append(errs, field.Forbidden(sp, "must set only one of: header, probe"))
		case f.Header != "" && !knownHeader(f.Header):
			errs = append(errs, field.NotSupported(sp.Child("header"), f.Header, stateHeaders))
		}
	}
	return errs
}

func knownHeader(h string) bool {
	for _, k := range stateHeaders {
		if strings.EqualFold(h, k) {
			return true
		}
	}
	return false
}

func (s *Spec) consecutive() int {
	if s.Consecutive <= 0 {
		return DefaultConsecutive
	}
	return s.Consecutive
}

// stateProbe is the probe whose Values carry the breaker state.
func (s *Spec) stateProbe() string {
	if s.StateFrom != nil && s.StateFrom.Probe != "" {
		return s.StateFrom.Probe
	}
	return s.Probe
}

// Register adds the circuitBreaker assertion and the breakerState probe to r.
func Register(r *steadystate.Registry) error {
	if err := r.RegisterAssertion(steadystate.AssertionDefinition{
		Key:     Key,
		Summary: "the breaker opens within a bound after the fault starts (answers fast), stays open apart from half-open trials, and closes within a bound after it ends",
		NewSpec: func() any { return &Spec{} },
		New: func(spec any, _ *steadystate.Env) (steadystate.Assertion, error) {
			s, ok := spec.(*Spec)
			if !ok {
				return nil, fmt.Errorf("circuitbreaker: spec is %T, want *circuitbreaker.Spec", spec)
			}
			if errs := s.Validate(field.NewPath(Key)); len(errs) > 0 {
				return nil, fmt.Errorf("circuitbreaker: %w", errs.ToAggregate())
			}
			cp := *s
			return &Assertion{spec: cp}, nil
		},
	}); err != nil {
		return err
	}
	return r.Register(steadystate.Definition{
		Key:     ProbeKey,
		Summary: "reads a circuit breaker's state from a JSON endpoint or a Prometheus metric into Values[\"breaker\"]",
		NewSpec: func() any { return &ProbeSpec{} },
		New: func(spec any, _ *steadystate.Env) (steadystate.Probe, error) {
			s, ok := spec.(*ProbeSpec)
			if !ok {
				return nil, fmt.Errorf("circuitbreaker: probe spec is %T, want *circuitbreaker.ProbeSpec", spec)
			}
			return NewStateProbe(*s)
		},
	})
}
