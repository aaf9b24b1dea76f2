// Package podtarget is the pod selector vocabulary shared by fault families that act
// on Kubernetes pods without being the Kubernetes family: `target: {pods: {...}}` of
// the network faults (netfault's spec, carried out by the Chaos Mesh engine). It
// reads as podKill does: namespaces, a label and field selector in kubectl syntax,
// and a mode with a value. It holds types and validation only, no I/O, so that a
// fault package can embed it in its spec without importing another fault package.
package podtarget

import (
	"strings"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Modes say how many of the matching pods are hit.
const (
	ModeOne              = "one"              // one random pod (default)
	ModeAll              = "all"              // every matching pod
	ModeFixed            = "fixed"            // value pods, at random
	ModeFixedPercent     = "fixedPercent"     // value% of the matching pods (at least 1)
	ModeRandomMaxPercent = "randomMaxPercent" // a random count between 1 and value% of them
)

// Modes lists the valid modes.
var Modes = []string{ModeOne, ModeAll, ModeFixed, ModeFixedPercent, ModeRandomMaxPercent}

// Pods selects pods: `pods: {namespaces, labelSelector, fieldSelector, mode, value}`.
type Pods struct {
	// Namespaces to select pods in; default ["default"].
	Namespaces []string `yaml:"namespaces,omitempty" json:"namespaces,omitempty"`
	// LabelSelector in kubectl syntax ("app=web,tier!=db").
	LabelSelector string `yaml:"labelSelector,omitempty" json:"labelSelector,omitempty"`
	// FieldSelector in kubectl syntax ("spec.nodeName=node-1").
	FieldSelector string `yaml:"fieldSelector,omitempty" json:"fieldSelector,omitempty"`
	// Mode: one (default), all, fixed, fixedPercent, randomMaxPercent.
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`
	// Value is the count (fixed) or percent (fixedPercent, randomMaxPercent).
	Value int `yaml:"value,omitempty" json:"value,omitempty"`
}

// Validate checks the selector without I/O; paths are built from p.
func (s *Pods) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ns := range s.Namespaces {
		for _, msg := range validation.IsDNS1123Label(ns) {
			errs = append(errs, field.Invalid(p.Child("namespaces").Index(i), ns, msg))
		}
	}
	if _, err := labels.Parse(s.LabelSelector); err != nil {
		errs = append(errs, field.Invalid(p.Child("labelSelector"), s.LabelSelector, err.Error()))
	}
	if _, err := fields.ParseSelector(s.FieldSelector); err != nil {
		errs = append(errs, field.Invalid(p.Child("fieldSelector"), s.FieldSelector, err.Error()))
	}
	switch s.Mode {
	case "", ModeOne, ModeAll:
		if s.Value != 0 {
			errs = append(errs, field.Invalid(p.Child("value"), s.Value, "must be unset with mode one or all"))
		}
	case ModeFixed:
		if s.Value < 1 {
			errs = append(errs, field.Invalid(p.Child("value"), s.Value, "must be >= 1"))
		}
	case ModeFixedPercent, ModeRandomMaxPercent:
		if s.Value < 1 || s.Value > 100 {
			errs = append(errs, field.Invalid(p.Child("value"), s.Value, "must be between 1 and 100"))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("mode"), s.Mode, Modes))
	}
	return errs
}

// NamespaceList returns the namespaces, ["default"] when none are given.
func (s *Pods) NamespaceList() []string {
	if len(s.Namespaces) == 0 {
		return []string{"default"}
	}
	return s.Namespaces
}

// Describe reads as in a plan: "labels app=web, fields spec.nodeName=n1" or
// "(empty selector)".
func (s *Pods) Describe() string {
	var parts []string
	if s.LabelSelector != "" {
		parts = append(parts, "labels "+s.LabelSelector)
	}
	if s.FieldSelector != "" {
		parts = append(parts, "fields "+s.FieldSelector)
	}
	if len(parts) == 0 {
		return "(empty selector)"
	}
	return strings.Join(parts, ", ")
}
