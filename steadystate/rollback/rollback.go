// Package rollback implements the `rollback` assertion: after a badRollout, the
// workload returns to its known-good pod template and is fully available again
// within a deadline, by the platform's own doing (an automated rollback), before
// Faultline's revert would put the template back itself.
//
//	baseline ── last ok observation before the fault: known-good templateHash/revision
//	fault start ──▶ bad template seen ──▶ ok observation with the known-good hash
//	          └──────────── must happen within `within`, and before the revert ──┘
//
// It reads the Values of a `kubernetes` workload probe (templateHash, revision).
// The hash, not the revision number, identifies the template: a Deployment rolled
// back to an old ReplicaSet gets a new revision number but keeps the old hash.
package rollback

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/faultline-dev/faultline/steadystate"
)

// Spec is the YAML of the rollback assertion.
type Spec struct {
	// Probe names a kubernetes probe in workload mode.
	Probe string `yaml:"probe,omitempty" json:"probe,omitempty"`
	// Within is the deadline from the start of the fault.
	Within time.Duration `yaml:"within,omitempty" json:"within,omitempty"`
}

// Validate checks the spec without I/O.
func (s *Spec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Probe == "" {
		errs = append(errs, field.Required(p.Child("probe"), "must name a kubernetes workload probe"))
	}
	if s.Within <= 0 {
		errs = append(errs, field.Invalid(p.Child("within"), s.Within.String(), "must be > 0"))
	}
	return errs
}

// RegisterAssertion adds the rollback assertion to r.
func RegisterAssertion(r *steadystate.Registry) error {
	return r.RegisterAssertion(steadystate.AssertionDefinition{
		Key:     "rollback",
		Summary: "After a bad rollout, the workload returns to its known-good template and is fully available within a deadline.",
		NewSpec: func() any { return &Spec{} },
		New: func(spec any, _ *steadystate.Env) (steadystate.Assertion, error) {
			s, ok := spec.(*Spec)
			if !ok {
				return nil, fmt.Errorf("rollback: unexpected spec type %T", spec)
			}
			return &Assertion{Spec: *s}, nil
		},
	})
}

// Assertion checks one rollback.
type Assertion struct{ Spec Spec }

var _ steadystate.Assertion = (*Assertion)(nil)

// Check reads the probe's series. Errored when there is no known-good baseline,
// no fault, or the probe never observed the bad template; failed when the
// workload was not back on the known-good template, fully available, by the
// deadline (or by the start of the revert, whichever came first).
func (a *Assertion) Check(t *steadystate.Timeline) steadystate.Check {
	s := a.Spec
	c := steadystate.Check{
		Name: "rollback(" + s.Probe + ")", Kind: "rollback", Probe: s.Probe,
		Expected: "back on the known-good template and fully available within " + s.Within.String(),
		Details:  map[string]string{},
	}
	errored := func(reason string) steadystate.Check {
		c.Status, c.Measured, c.Reason = steadystate.CheckErrored, "no verdict", reason
		return c
	}
	span, ok := t.FaultSpan()
	if !ok {
		return errored("no fault was injected")
	}
	obs := t.Observations[s.Probe]
	var good *steadystate.Observation
	for i := range obs {
		o := &obs[i]
		if o.Time.Before(span.Start) && o.Status == steadystate.StatusOK && o.Values["templateHash"] != "" {
			good = o
		}
	}
	if good == nil {
		return errored(fmt.Sprintf("probe %s has no healthy observation with a templateHash before the fault; use a kubernetes workload probe", s.Probe))
	}
	goodHash, goodRev := good.Values["templateHash"], good.Values["revision"]
	c.Details["known good"] = fmt.Sprintf("revision %s, templateHash %s", goodRev, goodHash)

	cutoff := span.Start.Add(s.Within)
	cutBy := "deadline"
	if rv, ok := t.Phase("revert"); ok && rv.Start.After(span.Start) && rv.Start.Before(cutoff) {
		cutoff, cutBy = rv.Start, "revert"
	} else if !ok && !span.End.IsZero() && span.End.Before(cutoff) {
		cutoff, cutBy = span.End, "revert"
	}

	rel := func(tm time.Time) string { return fmtRel(tm.Sub(span.Start)) }
	var seen []string
	lastKey := ""
	note := func(o *steadystate.Observation) {
		key := o.Values["revision"] + "/" + o.Values["templateHash"]
		if key != lastKey && o.Values["templateHash"] != "" {
			seen = append(seen, fmt.Sprintf("revision %s (%s) at %s", o.Values["revision"], o.Values["templateHash"], rel(o.Time)))
			lastKey = key
		}
	}
	note(good)
	badSeen, answered := false, 0
	var last *steadystate.Observation
	for i := range obs {
		o := &obs[i]
		if o.Time.Before(span.Start) {
			if o.Time.After(good.Time) {
				note(o)
				badSeen = badSeen || (o.Values["templateHash"] != "" && o.Values["templateHash"] != goodHash)
			}
			continue
		}
		if o.Time.After(cutoff) {
			break
		}
		if o.Status == steadystate.StatusErrored {
			continue
		}
		answered++
		last = o
		note(o)
		hash := o.Values["templateHash"]
		if hash != "" && hash != goodHash {
			badSeen = true
		}
		if o.Status == steadystate.StatusOK && hash == goodHash && (badSeen || o.Values["revision"] != goodRev) {
			c.Status = steadystate.CheckPassed
			c.Measured = fmt.Sprintf("rolled back after %s (revision %s, templateHash %s)", rel(o.Time), o.Values["revision"], hash)
			c.Details["revisions seen"] = strings.Join(seen, "; ")
			c.Details["available at"] = rel(o.Time)
			return c
		}
	}
	c.Details["revisions seen"] = strings.Join(seen, "; ")
	if answered == 0 {
		return errored(fmt.Sprintf("probe %s answered no observation between the fault start and %s", s.Probe, rel(cutoff)))
	}
	if !badSeen {
		return errored(fmt.Sprintf("probe %s never observed a template other than the known-good %s: the bad rollout was not seen", s.Probe, goodHash))
	}
	c.Status = steadystate.CheckFailed
	c.Measured = fmt.Sprintf("not rolled back by %s: last seen revision %s (%s), %s", rel(cutoff),
		last.Values["revision"], last.Values["templateHash"], last.Detail)
	if cutBy == "revert" {
		c.Reason = fmt.Sprintf("the fault was reverted at %s, before the %s deadline, and the workload was still not back on templateHash %s; make the fault last at least %s",
			rel(cutoff), s.Within, goodHash, s.Within)
	} else {
		c.Reason = fmt.Sprintf("the workload was not back on the known-good templateHash %s (revision %s) and fully available within %s", goodHash, goodRev, s.Within)
	}
	return c
}

func fmtRel(d time.Duration) string {
	if d < 0 {
		return "-" + (-d).Round(10*time.Millisecond).String()
	}
	return "+" + d.Round(10*time.Millisecond).String()
}
