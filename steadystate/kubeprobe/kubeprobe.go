// Package kubeprobe implements the `kubernetes` probe: it reads the cluster of
// spec.target.kubernetes and answers one of three questions per observation:
//
//   - selector: how many pods matching a label selector are Ready, compared with
//     readyAtLeast N, or with the replicas their controllers want (readyEqualsDesired);
//   - workload: is a Deployment/StatefulSet available and fully rolled out
//     (observedGeneration caught up, every replica updated and available), and at
//     which revision and pod-template hash;
//   - object: any object's field by JSONPath, compared with a value.
//
// Values carry the readings (ready, desired, revision, templateHash, value) for the
// selfHealing and rollback assertions. A probe that cannot ask (API unreachable,
// forbidden, timed out) is StatusErrored; a cluster that answers "not ready" or
// "no such object" is StatusFailed.
package kubeprobe

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/util/jsonpath"

	"github.com/faultline-dev/faultline/internal/kube"
	"github.com/faultline-dev/faultline/steadystate"
)

// Spec is the YAML of the kubernetes probe. Exactly one of Selector, Workload and
// Object is set.
type Spec struct {
	// Namespace of the pods or workload; default "default".
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	// Selector is a label selector (kubectl syntax) for pods.
	Selector string `yaml:"selector,omitempty" json:"selector,omitempty"`
	// ReadyAtLeast: at least this many ready pods (selector or workload mode).
	ReadyAtLeast *int32 `yaml:"readyAtLeast,omitempty" json:"readyAtLeast,omitempty"`
	// ReadyEqualsDesired: ready pods == the replicas their controllers want, and at
	// least one (selector mode).
	ReadyEqualsDesired bool `yaml:"readyEqualsDesired,omitempty" json:"readyEqualsDesired,omitempty"`
	// Workload must be available and fully rolled out.
	Workload *WorkloadSpec `yaml:"workload,omitempty" json:"workload,omitempty"`
	// Object compares one field of any object.
	Object *ObjectSpec `yaml:"object,omitempty" json:"object,omitempty"`
	// Timeout of one observation; default 5s.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// WorkloadSpec names a Deployment or StatefulSet in Spec.Namespace.
type WorkloadSpec struct {
	Kind string `yaml:"kind,omitempty" json:"kind,omitempty"` // Deployment (default) or StatefulSet
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
}

// ObjectSpec names one object and the field to compare.
type ObjectSpec struct {
	APIVersion string `yaml:"apiVersion,omitempty" json:"apiVersion,omitempty"` // "v1", "apps/v1"
	Kind       string `yaml:"kind,omitempty" json:"kind,omitempty"`
	Namespace  string `yaml:"namespace,omitempty" json:"namespace,omitempty"` // default Spec.Namespace; ignored for cluster-scoped kinds
	Name       string `yaml:"name,omitempty" json:"name,omitempty"`
	// JSONPath as kubectl -o jsonpath: "{.status.phase}" (braces optional).
	JSONPath string `yaml:"jsonPath,omitempty" json:"jsonPath,omitempty"`
	// Equals is the expected value; empty: the field must exist and be non-empty.
	Equals string `yaml:"equals,omitempty" json:"equals,omitempty"`
}

// Validate checks the spec without I/O.
func (s *Spec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	modes := 0
	for _, set := range []bool{s.Selector != "", s.Workload != nil, s.Object != nil} {
		if set {
			modes++
		}
	}
	switch {
	case modes == 0:
		errs = append(errs, field.Required(p, "must set one of selector, workload, object"))
	case modes > 1:
		errs = append(errs, field.Forbidden(p, "must set only one of selector, workload, object"))
	}
	if s.Namespace != "" {
		for _, msg := range validation.IsDNS1123Label(s.Namespace) {
			errs = append(errs, field.Invalid(p.Child("namespace"), s.Namespace, msg))
		}
	}
	if s.Selector != "" {
		if _, err := labels.Parse(s.Selector); err != nil {
			errs = append(errs, field.Invalid(p.Child("selector"), s.Selector, err.Error()))
		}
		if s.ReadyAtLeast == nil && !s.ReadyEqualsDesired {
			errs = append(errs, field.Required(p.Child("readyAtLeast"), "selector needs readyAtLeast or readyEqualsDesired"))
		}
	} else if s.ReadyEqualsDesired {
		errs = append(errs, field.Invalid(p.Child("readyEqualsDesired"), true, "only with selector (a workload probe always compares with desired)"))
	}
	if s.ReadyAtLeast != nil && *s.ReadyAtLeast < 0 {
		errs = append(errs, field.Invalid(p.Child("readyAtLeast"), *s.ReadyAtLeast, "must be >= 0"))
	}
	if s.Object != nil && s.ReadyAtLeast != nil {
		errs = append(errs, field.Invalid(p.Child("readyAtLeast"), *s.ReadyAtLeast, "not with object"))
	}
	if w := s.Workload; w != nil {
		if w.Kind != "" && !slices.Contains(kube.WorkloadKinds, w.Kind) {
			errs = append(errs, field.NotSupported(p.Child("workload", "kind"), w.Kind, kube.WorkloadKinds))
		}
		if w.Name == "" {
			errs = append(errs, field.Required(p.Child("workload", "name"), "must name the workload"))
		}
	}
	if o := s.Object; o != nil {
		op := p.Child("object")
		for name, v := range map[string]string{"apiVersion": o.APIVersion, "kind": o.Kind, "name": o.Name, "jsonPath": o.JSONPath} {
			if v == "" {
				errs = append(errs, field.Required(op.Child(name), "must be set"))
			}
		}
		if o.JSONPath != "" {
			if err := jsonpath.New("probe").Parse(braced(o.JSONPath)); err != nil {
				errs = append(errs, field.Invalid(op.Child("jsonPath"), o.JSONPath, err.Error()))
			}
		}
	}
	if s.Timeout < 0 {
		errs = append(errs, field.Invalid(p.Child("timeout"), s.Timeout.String(), "must be >= 0"))
	}
	return errs
}

func braced(path string) string {
	if strings.HasPrefix(path, "{") {
		return path
	}
	return "{" + path + "}"
}

// Register adds the kubernetes probe to r.
func Register(r *steadystate.Registry) error {
	return r.Register(steadystate.Definition{
		Key:     "kubernetes",
		Summary: "Ready pods by selector, a workload fully rolled out (revision, template hash), or an object's field by JSONPath.",
		NewSpec: func() any { return &Spec{} },
		New: func(spec any, env *steadystate.Env) (steadystate.Probe, error) {
			s, ok := spec.(*Spec)
			if !ok {
				return nil, fmt.Errorf("kubernetes probe: unexpected spec type %T", spec)
			}
			return New(*s, env), nil
		},
	})
}

// Probe is one configured kubernetes probe. Safe for concurrent use.
type Probe struct {
	spec Spec
	env  *steadystate.Env

	mapperOnce sync.Once
	mapper     *objectMapper
	mapperErr  error
}

var _ steadystate.Probe = (*Probe)(nil)

// New builds a probe; it has no side effects.
func New(s Spec, env *steadystate.Env) *Probe {
	if s.Namespace == "" {
		s.Namespace = "default"
	}
	if s.Timeout == 0 {
		s.Timeout = 5 * time.Second
	}
	if s.Workload != nil && s.Workload.Kind == "" {
		w := *s.Workload
		w.Kind = kube.KindDeployment
		s.Workload = &w
	}
	return &Probe{spec: s, env: env}
}

// Probe answers one observation.
func (p *Probe) Probe(ctx context.Context) steadystate.Observation {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, p.spec.Timeout)
	defer cancel()
	o := steadystate.Observation{Time: start}
	c, err := p.client()
	if err == nil {
		switch {
		case p.spec.Workload != nil:
			err = p.probeWorkload(ctx, c, &o)
		case p.spec.Object != nil:
			err = p.probeObject(ctx, c, &o)
		default:
			err = p.probeSelector(ctx, c, &o)
		}
	}
	o.Latency = time.Since(start)
	if err != nil {
		o.Status, o.Detail = classify(err), err.Error()
	}
	return o
}

func (p *Probe) client() (*kube.Client, error) {
	if p.env == nil || p.env.Kube == nil {
		return nil, errors.New("no kubernetes target: set spec.target.kubernetes")
	}
	return p.env.Kube()
}

// classify says whether err means the system is bad (failed) or the probe could
// not ask (errored): NotFound is the cluster's answer; everything else (forbidden,
// unauthorized, unreachable, timeouts, server errors) is the probe's.
func classify(err error) steadystate.Status {
	if apierrors.IsNotFound(err) {
		return steadystate.StatusFailed
	}
	return steadystate.StatusErrored
}

func itoa(n int32) string { return strconv.FormatInt(int64(n), 10) }
