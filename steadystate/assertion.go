package steadystate

import (
	"time"
)

// Assertion is one resilience check over a finished run's timeline.
//
// Check is pure: it reads the Timeline and returns a Check; it must not block, and it
// must say in Measured what it measured even when it passes. When the data needed
// is missing (the probe only errored), the Check is StatusErrored, not failed.
type Assertion interface {
	Check(t *Timeline) Check
}

// AssertionDefinition describes one kind of assertion under `verify`.
// A string field named Probe in its spec must name a probe (checked by the decoder).
type AssertionDefinition struct {
	Key     string
	Summary string
	NewSpec func() any
	New     func(spec any, env *Env) (Assertion, error)
}

// Verdict of one check.
type CheckStatus string

const (
	CheckPassed  CheckStatus = "passed"
	CheckFailed  CheckStatus = "failed"  // the system did not hold
	CheckErrored CheckStatus = "errored" // could not be judged (no data, probe errors)
)

// Check is the result of one assertion or SLO, with numbers.
type Check struct {
	// Name identifies it in reports and JUnit: "selfHealing(checkout)",
	// "slo(checkout).latencyP99 during payments-down".
	Name     string      `json:"name"`
	Kind     string      `json:"kind"` // "slo", "selfHealing", "circuitBreaker", ...
	Probe    string      `json:"probe,omitempty"`
	Status   CheckStatus `json:"status"`
	Expected string      `json:"expected"` // "<= 250ms", ">= 0.99", "within 15s"
	Measured string      `json:"measured"` // "2.1s", "0.42 (21/50)", "recovered after 3.2s"
	// Reason explains a failure or error in one sentence with the numbers.
	Reason string `json:"reason,omitempty"`
	// Details are extra named measurements (e.g. "opened after": "180ms").
	Details map[string]string `json:"details,omitempty"`
	// At is the time (an Observation.Time of Probe) of the observation the Reason
	// names, e.g. the slowest answer; zero when the reason names none. Reports show
	// the samples around it.
	At time.Time `json:"at,omitempty"`
}

// Window is a named interval of the run.
type Window struct {
	Name  string    `json:"name"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"` // zero while open
	// Effect says, for a fault window, how a call to the faulted target behaves
	// without protection: EffectFailsFast, EffectSlow, or "" (unknown).
	Effect string `json:"effect,omitempty"`
}

// Effects of a fault on unprotected calls (Window.Effect). They let an assertion
// tell a breaker's fast failures from the fault's own.
const (
	// EffectFailsFast: calls fail quickly by themselves (refused, reset, error status).
	EffectFailsFast = "fails-fast"
	// EffectSlow: calls are delayed, hang or time out (latency, swallowed requests,
	// dropped packets).
	EffectSlow = "slow"
)

// Contains reports whether t lies in [Start, End) (End zero: open-ended).
func (w Window) Contains(t time.Time) bool {
	return !t.Before(w.Start) && (w.End.IsZero() || t.Before(w.End))
}

// Timeline is everything an assertion may look at.
type Timeline struct {
	// Phases by name: "baseline", "inject", "observe", "revert", "recover".
	Phases []Window `json:"phases"`
	// Faults are the active windows of each injected fault: from the moment its
	// change took effect to the end of its Revert.
	Faults []Window `json:"faults"`
	// Observations by probe name, in time order.
	Observations map[string][]Observation `json:"observations"`
}

// Phase returns the named phase window.
func (t *Timeline) Phase(name string) (Window, bool) {
	for _, w := range t.Phases {
		if w.Name == name {
			return w, true
		}
	}
	return Window{}, false
}

// FaultSpan returns the window from the start of the first fault to the end of the
// last one; ok is false when nothing was injected. Its Effect is EffectSlow when
// every fault's is, EffectFailsFast when any fault's is, "" otherwise.
func (t *Timeline) FaultSpan() (Window, bool) {
	if len(t.Faults) == 0 {
		return Window{}, false
	}
	w := Window{Name: "faults", Start: t.Faults[0].Start, End: t.Faults[0].End, Effect: EffectSlow}
	open := false
	for _, f := range t.Faults {
		// Slow only if every fault is; fails fast if any fault may make calls fail fast.
		if f.Effect != EffectSlow && w.Effect != EffectFailsFast {
			w.Effect = f.Effect
		}
		if f.Start.Before(w.Start) {
			w.Start = f.Start
		}
		open = open || f.End.IsZero()
		if f.End.After(w.End) {
			w.End = f.End
		}
	}
	if open {
		w.End = time.Time{}
	}
	return w, true
}

// Between returns the observations of probe with Start <= Time < End.
func (t *Timeline) Between(probe string, w Window) []Observation {
	var out []Observation
	for _, o := range t.Observations[probe] {
		if w.Contains(o.Time) {
			out = append(out, o)
		}
	}
	return out
}
