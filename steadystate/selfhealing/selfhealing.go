// Package selfhealing is the `selfHealing` assertion: after the faults start, the
// probe becomes steady again, and stays so, within a deadline.
//
//	verify:
//	  - selfHealing:
//	      probe: checkout
//	      recoversWithin: 15s
//	      steadyObservations: 3   # default: 3 consecutive ok observations
//	      # steadyFor: 5s         # or: ok without a failure for this long
//	      # from: faultEnd        # default faultStart
//
// Definitions, over the probe's observations at or after the start of the first
// fault (Timeline.FaultSpan):
//
//	fault start ──▶ first failed ... last failed ──▶ ok ok ok ... end of data
//	     │                                            │
//	     └──────────── time to recover ──────────────▶┘ recoveredAt
//
// In detail:
//
//   - Errored observations (the probe could not ask) are ignored: they neither
//     break nor extend a run of ok observations.
//   - Disrupted: at least one failed observation. If there is none, the check
//     passes with Measured "no disruption seen" and Details["disrupted"]="false":
//     the fault did not visibly hurt, which a verdict layer may want to flag.
//   - recoveredAt: the first observation of the ok run that follows the LAST failed
//     observation, provided the run is steady: at least steadyObservations
//     observations long, or spanning at least steadyFor. Flapping therefore counts
//     against the system: only the run that stays healthy to the end counts.
//   - Time to recover = recoveredAt − reference. The reference is, by default
//     (from: faultStart), the start of the first fault: self-healing means the
//     system restores service by itself, whether or not the fault is still in
//     place (a killed pod is replaced, traffic fails over, a breaker opens and a
//     fallback answers). A system that only comes back once a held fault (latency,
//     partition) is reverted has not healed itself, and its time to recover
//     includes the fault's duration. With from: faultEnd the reference is the end
//     of the last fault window, when its revert finished: "after the cause is
//     gone, we are back within X" (no stuck breakers or poisoned pools); recovery
//     before that counts as 0.
//
// Outcomes: passed when recovered within recoversWithin; failed when recovered
// later, or when the data reaches the deadline without a steady run ("not steady
// again within 15s (still failing at end of run)"); errored when nothing was
// injected, the probe has no ok or failed observation after the fault start, or
// the data ends before the deadline without a recovery (it cannot be judged: keep
// the recover phase at least as long as recoversWithin).
package selfhealing

import (
	"fmt"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/steadystate"
)

// Key is the YAML key of this assertion under `verify`.
const Key = "selfHealing"

// DefaultSteadyObservations is the steadiness criterion when none is set.
const DefaultSteadyObservations = 3

// Reference points for the time to recover.
const (
	FromFaultStart = "faultStart"
	FromFaultEnd   = "faultEnd"
)

// Spec is the `selfHealing` block.
type Spec struct {
	// Probe names the probe to watch (required).
	Probe string `yaml:"probe" json:"probe"`
	// RecoversWithin is the deadline, from the reference point (required).
	RecoversWithin time.Duration `yaml:"recoversWithin" json:"recoversWithin"`
	// SteadyObservations is how many consecutive ok observations make the system
	// steady again (default 3). Not together with SteadyFor.
	SteadyObservations int `yaml:"steadyObservations,omitempty" json:"steadyObservations,omitempty"`
	// SteadyFor is how long the ok run must last instead (first to last ok).
	SteadyFor time.Duration `yaml:"steadyFor,omitempty" json:"steadyFor,omitempty"`
	// From is the reference point: faultStart (default) or faultEnd.
	From string `yaml:"from,omitempty" json:"from,omitempty"`
}

// Validate checks the spec without I/O.
func (s *Spec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Probe == "" {
		errs = append(errs, field.Required(p.Child("probe"), "must name a probe"))
	}
	switch {
	case s.RecoversWithin == 0:
		errs = append(errs, field.Required(p.Child("recoversWithin"), "must be a duration > 0, e.g. 15s"))
	case s.RecoversWithin < 0:
		errs = append(errs, field.Invalid(p.Child("recoversWithin"), s.RecoversWithin.String(), "must be positive, e.g. 15s"))
	}
	if s.SteadyObservations < 0 {
		errs = append(errs, field.Invalid(p.Child("steadyObservations"), s.SteadyObservations, "must be >= 1"))
	}
	if s.SteadyFor < 0 {
		errs = append(errs, field.Invalid(p.Child("steadyFor"), s.SteadyFor.String(), "must be > 0"))
	}
	if s.SteadyFor > 0 && s.SteadyObservations > 0 {
		errs = append(errs, field.Forbidden(p.Child("steadyFor"), "set steadyFor or steadyObservations, not both"))
	}
	if s.From != "" && s.From != FromFaultStart && s.From != FromFaultEnd {
		errs = append(errs, field.NotSupported(p.Child("from"), s.From, []string{FromFaultStart, FromFaultEnd}))
	}
	return errs
}

// RegisterAssertion adds `selfHealing` to r.
func RegisterAssertion(r *steadystate.Registry) error {
	return r.RegisterAssertion(steadystate.AssertionDefinition{
		Key:     Key,
		Summary: "The probe is steady again within a deadline after the faults start.",
		NewSpec: func() any { return &Spec{} },
		New: func(spec any, _ *steadystate.Env) (steadystate.Assertion, error) {
			s, ok := spec.(*Spec)
			if !ok {
				return nil, fmt.Errorf("selfhealing: spec is %T, want *selfhealing.Spec", spec)
			}
			return New(s), nil
		},
	})
}

// Register is RegisterAssertion, for symmetry with the probe packages.
func Register(r *steadystate.Registry) error { return RegisterAssertion(r) }

// Assertion is one configured selfHealing check.
type Assertion struct{ spec Spec }

var _ steadystate.Assertion = (*Assertion)(nil)

// New builds the assertion from a validated spec, applying defaults.
func New(s *Spec) *Assertion {
	a := &Assertion{spec: *s}
	if a.spec.SteadyFor <= 0 && a.spec.SteadyObservations <= 0 {
		a.spec.SteadyObservations = DefaultSteadyObservations
	}
	if a.spec.From == "" {
		a.spec.From = FromFaultStart
	}
	return a
}

func (a *Assertion) steadyWhen() string {
	if a.spec.SteadyFor > 0 {
		return "ok for " + steadystate.FormatDuration(a.spec.SteadyFor)
	}
	return strconv.Itoa(a.spec.SteadyObservations) + " consecutive ok observations"
}

// steady reports whether the ok run (non-empty, in time order) is long enough.
func (a *Assertion) steady(run []steadystate.Observation) bool {
	if len(run) == 0 {
		return false
	}
	if a.spec.SteadyFor > 0 {
		return run[len(run)-1].Time.Sub(run[0].Time) >= a.spec.SteadyFor
	}
	return len(run) >= a.spec.SteadyObservations
}
