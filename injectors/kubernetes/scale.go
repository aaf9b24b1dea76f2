package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/internal/kube"
)

// workloadFields are the namespace, kind and name fields shared by the specs.
type workloadFields struct{ Namespace, Kind, Name string }

func (w workloadFields) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if w.Namespace != "" {
		for _, msg := range validation.IsDNS1123Label(w.Namespace) {
			errs = append(errs, field.Invalid(p.Child("namespace"), w.Namespace, msg))
		}
	}
	if w.Kind != "" && !slices.Contains(kube.WorkloadKinds, w.Kind) {
		errs = append(errs, field.NotSupported(p.Child("kind"), w.Kind, kube.WorkloadKinds))
	}
	if w.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), "must name the workload"))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(w.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), w.Name, msg))
		}
	}
	return errs
}

func (w workloadFields) ref() kube.WorkloadRef {
	r := kube.WorkloadRef{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name}
	if r.Kind == "" {
		r.Kind = kube.KindDeployment
	}
	if r.Namespace == "" {
		r.Namespace = "default"
	}
	return r
}

// DeploymentScaleSpec is the YAML of deploymentScale.
type DeploymentScaleSpec struct {
	// Namespace of the workload; default "default".
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	// Kind: Deployment (default) or StatefulSet.
	Kind string `yaml:"kind,omitempty" json:"kind,omitempty"`
	// Name of the workload.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Replicas to scale to; default 0 (an outage).
	Replicas int32 `yaml:"replicas,omitempty" json:"replicas,omitempty"`
}

// Validate checks the spec without I/O.
func (s *DeploymentScaleSpec) Validate(p *field.Path) field.ErrorList {
	errs := s.workload().validate(p)
	if s.Replicas < 0 {
		errs = append(errs, field.Invalid(p.Child("replicas"), s.Replicas, "must be >= 0"))
	}
	return errs
}

func (s *DeploymentScaleSpec) workload() workloadFields {
	return workloadFields{Namespace: s.Namespace, Kind: s.Kind, Name: s.Name}
}

// scaleState is what deploymentScale journals: enough to restore after kill -9.
type scaleState struct {
	RunID            string    `json:"runID"`
	Kind             string    `json:"kind"`
	Namespace        string    `json:"namespace"`
	Name             string    `json:"name"`
	UID              types.UID `json:"uid"`
	OriginalReplicas int32     `json:"originalReplicas"`
	Replicas         int32     `json:"replicas"`
}

func (s scaleState) ref() kube.WorkloadRef {
	return kube.WorkloadRef{Kind: s.Kind, Namespace: s.Namespace, Name: s.Name}
}

func deploymentScaleDefinition() injectors.Definition {
	return injectors.Definition{
		Key:     "deploymentScale",
		Summary: "Scale a Deployment or StatefulSet (to 0: a dependency outage); the original replicas are restored.",
		NewSpec: func() any { return &DeploymentScaleSpec{} },
		New: func(spec any, env *injectors.Env) (injectors.Injector, error) {
			s, ok := spec.(*DeploymentScaleSpec)
			if !ok {
				return nil, fmt.Errorf("deploymentScale: unexpected spec type %T", spec)
			}
			return &DeploymentScale{spec: *s, env: env}, nil
		},
		Recover: recoverScale,
	}
}

// DeploymentScale scales one workload and restores it on revert.
type DeploymentScale struct {
	spec DeploymentScaleSpec
	env  *injectors.Env
	mu   sync.Mutex
}

var _ injectors.Injector = (*DeploymentScale)(nil)

func scalePermissions(ref kube.WorkloadRef) []kube.Permission {
	return []kube.Permission{
		{Verb: "get", Group: "apps", Resource: ref.Resource(), Namespace: ref.Namespace},
		{Verb: "patch", Group: "apps", Resource: ref.Resource(), Namespace: ref.Namespace},
		{Verb: "list", Resource: "pods", Namespace: ref.Namespace},
	}
}

// Plan checks namespace, permissions, the blast radius (the pods removed by
// scaling down) and that no other run holds the workload.
func (d *DeploymentScale) Plan(ctx context.Context) (injectors.Plan, error) {
	_, plan, err := d.plan(ctx)
	return plan, err
}

func (d *DeploymentScale) plan(ctx context.Context) (*kube.Workload, injectors.Plan, error) {
	ref := d.spec.workload().ref()
	if err := checkNamespace(d.env.BlastRadius, ref.Namespace); err != nil {
		return nil, injectors.Plan{}, fmt.Errorf("deploymentScale: %w", err)
	}
	c, err := client(d.env)
	if err != nil {
		return nil, injectors.Plan{}, fmt.Errorf("deploymentScale: %w", err)
	}
	if err := kube.CheckAccess(ctx, c.Clientset, scalePermissions(ref)...); err != nil {
		return nil, injectors.Plan{}, fmt.Errorf("deploymentScale: %w", err)
	}
	w, err := kube.GetWorkload(ctx, c.Clientset, ref)
	if apierrors.IsNotFound(err) {
		return nil, injectors.Plan{}, fmt.Errorf("deploymentScale: %s: %w", ref, injectors.ErrNoTargets)
	}
	if err != nil {
		return nil, injectors.Plan{}, fmt.Errorf("deploymentScale: reading %s: %w", ref, err)
	}
	if run, held := w.Meta.Annotations[AnnotationRunID]; held {
		return nil, injectors.Plan{}, fmt.Errorf("deploymentScale: %s is already under a fault of run %s (annotation %s); run `chaos recover` for it first",
			ref, run, AnnotationRunID)
	}
	if removed := int(w.Replicas - d.spec.Replicas); removed > 0 {
		if err := checkCount(d.env.BlastRadius, "deploymentScale", removed, int(w.Replicas)); err != nil {
			return nil, injectors.Plan{}, fmt.Errorf("deploymentScale: %w", err)
		}
	}
	return w, injectors.Plan{
		Targets: []injectors.Target{{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name,
			Detail: fmt.Sprintf("replicas %d -> %d", w.Replicas, d.spec.Replicas)}},
		Action:  fmt.Sprintf("scale %s from %d to %d replicas", ref, w.Replicas, d.spec.Replicas),
		Revert:  fmt.Sprintf("scale back to %d replicas (saved in annotation %s)", w.Replicas, AnnotationOriginalReplicas),
		Matched: int(w.Replicas),
	}, nil
}

// Inject journals the original replicas, then patches the workload's replicas and
// annotations in one request guarded by its resourceVersion, and proves the
// change: spec.replicas read back and, when scaling down, the surplus pods gone.
func (d *DeploymentScale) Inject(ctx context.Context, j injectors.Journal) (injectors.Injection, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := client(d.env)
	if err != nil {
		return injectors.Injection{}, fmt.Errorf("deploymentScale: %w", err)
	}
	// Read, journal and patch, guarded by the resourceVersion read, so the journal
	// holds exactly the replicas we change. A controller's status update in between
	// makes the patch conflict without applying anything: read again and retry.
	var (
		w      *kube.Workload
		revert func(context.Context) error
		start  time.Time
	)
	for attempt := 1; ; attempt++ {
		w, _, err = d.plan(ctx) // fresh read
		if err != nil {
			return injectors.Injection{}, err
		}
		ref := w.Ref
		st := scaleState{RunID: d.env.RunID, Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name, UID: w.Meta.UID,
			OriginalReplicas: w.Replicas, Replicas: d.spec.Replicas}
		if err := j.Record(st); err != nil {
			return injectors.Injection{}, fmt.Errorf("deploymentScale: journaling: %w", err)
		}
		patch, _ := json.Marshal(map[string]any{
			"metadata": map[string]any{
				"resourceVersion": w.Meta.ResourceVersion,
				"annotations": map[string]string{
					AnnotationOriginalReplicas: kube.FormatReplicas(w.Replicas),
					AnnotationRunID:            d.env.RunID,
				},
			},
			"spec": map[string]any{"replicas": d.spec.Replicas},
		})
		start = time.Now()
		revert = func(ctx context.Context) error { return restoreScale(ctx, c.Clientset, st, d.env.Logff) }
		err = kube.PatchWorkload(ctx, c.Clientset, ref, types.MergePatchType, patch)
		if apierrors.IsConflict(err) && attempt < 5 {
			continue
		}
		if err != nil {
			// The server may have applied a patch whose answer was lost (ctx cancelled in
			// flight): undo anyway; restoreScale only acts on this run's annotation.
			return injectors.Injection{}, joinUndo(fmt.Errorf("deploymentScale: scaling %s: %w", ref, err), undo(ctx, revert))
		}
		break
	}
	ref := w.Ref
	proof, err := proveScaled(ctx, c.Clientset, ref, w.Replicas, d.spec.Replicas, 60*time.Second)
	if err != nil {
		return injectors.Injection{}, joinUndo(fmt.Errorf("deploymentScale: %w", err), undo(ctx, revert))
	}
	d.env.Logff("deploymentScale: %s scaled %d -> %d in %s", ref, w.Replicas, d.spec.Replicas, time.Since(start).Round(time.Millisecond))
	return injectors.Injection{Revert: revert, Proof: proof}, nil
}

// proveScaled waits until the controller observed the new replicas and, when
// scaling down, no more than replicas pods of the workload exist.
func proveScaled(ctx context.Context, cs kubernetes.Interface, ref kube.WorkloadRef, original, replicas int32, timeout time.Duration) (string, error) {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		w, err := kube.GetWorkload(ctx, cs, ref)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		if w.Replicas != replicas {
			return false, fmt.Errorf("%s: spec.replicas read back %d, want %d (changed by someone else?)", ref, w.Replicas, replicas)
		}
		sel, err := metav1.LabelSelectorAsSelector(w.Selector)
		if err != nil {
			return false, err
		}
		pods, err := cs.CoreV1().Pods(ref.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprintf("spec.replicas %d, status.replicas %d, %d pods exist", w.Replicas, w.StatusReplicas, len(pods.Items))
		return w.ObservedGeneration >= w.Meta.Generation && w.StatusReplicas == replicas &&
			(replicas >= original || int32(len(pods.Items)) <= replicas), nil
	})
	if err != nil {
		return "", fmt.Errorf("proving %s scaled to %d: %w (last: %s)", ref, replicas, err, last)
	}
	return fmt.Sprintf("%s: %s", ref, last), nil
}

// restoreScale sets replicas back to st.OriginalReplicas and removes the
// annotations, if the workload still carries this run's annotation. Deleted,
// recreated (other UID) or already restored workloads are left alone.
func restoreScale(ctx context.Context, cs kubernetes.Interface, st scaleState, logf func(string, ...any)) error {
	ref := st.ref()
	return retryConflict(ctx, func() error {
		w, err := kube.GetWorkload(ctx, cs, ref)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reverting deploymentScale of %s: %w", ref, err)
		}
		if w.Meta.UID != st.UID || w.Meta.Annotations[AnnotationRunID] != st.RunID {
			logf("deploymentScale: %s no longer carries run %s; nothing to restore", ref, st.RunID)
			return nil
		}
		original := st.OriginalReplicas
		if v, err := strconv.ParseInt(w.Meta.Annotations[AnnotationOriginalReplicas], 10, 32); err == nil {
			original = int32(v) // the object's own record wins; it equals the journal's
		}
		patch, _ := json.Marshal(map[string]any{
			"metadata": map[string]any{
				"resourceVersion": w.Meta.ResourceVersion,
				"annotations":     map[string]any{AnnotationOriginalReplicas: nil, AnnotationRunID: nil},
			},
			"spec": map[string]any{"replicas": original},
		})
		if err := kube.PatchWorkload(ctx, cs, ref, types.MergePatchType, patch); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
		logf("deploymentScale: %s restored to %d replicas", ref, original)
		return nil
	})
}

// recoverScale is Definition.Recover: restore from the journal after kill -9.
func recoverScale(ctx context.Context, env *injectors.Env, state json.RawMessage) error {
	var st scaleState
	if err := json.Unmarshal(state, &st); err != nil {
		return fmt.Errorf("deploymentScale: reading journal state: %w", err)
	}
	c, err := client(env)
	if err != nil {
		return fmt.Errorf("deploymentScale: %w", err)
	}
	return restoreScale(ctx, c.Clientset, st, env.Logff)
}

// retryConflict runs f again while it fails with a Conflict (someone else wrote
// the object between our read and write), at most 5 times.
func retryConflict(ctx context.Context, f func() error) error {
	var err error
	for range 5 {
		if err = f(); !apierrors.IsConflict(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return err
}

// joinUndo reports an injection error together with a failed undo.
func joinUndo(err, undo error) error {
	if undo != nil {
		return fmt.Errorf("%w (undo also failed: %v)", err, undo)
	}
	return err
}

// undoTimeout bounds the undo of a partial injection: it runs on a context that the
// caller's cancellation does not reach, and must not hang on a stuck apiserver.
const undoTimeout = 30 * time.Second

// undo runs revert under context.WithTimeout(context.WithoutCancel(ctx), undoTimeout).
func undo(ctx context.Context, revert func(context.Context) error) error {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	return revert(uctx)
}
