package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/internal/kube"
)

// DefaultBadImage is an image that can never be pulled: its registry is under the
// reserved .invalid TLD (RFC 2606), so the rollout's pods never become ready.
const DefaultBadImage = "faultline.invalid/never:ready"

// BadRolloutSpec is the YAML of badRollout.
type BadRolloutSpec struct {
	// Namespace of the workload; default "default".
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	// Kind: Deployment (default) or StatefulSet.
	Kind string `yaml:"kind,omitempty" json:"kind,omitempty"`
	// Name of the workload.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Containers to break, by name; default: all containers of the template.
	Containers []string `yaml:"containers,omitempty" json:"containers,omitempty"`
	// Image to roll out; default DefaultBadImage, unless Command is set (then the
	// image is kept and only the command changes).
	Image string `yaml:"image,omitempty" json:"image,omitempty"`
	// Command replaces the containers' command, e.g. ["/bin/false"].
	Command []string `yaml:"command,omitempty" json:"command,omitempty"`
}

// Validate checks the spec without I/O.
func (s *BadRolloutSpec) Validate(p *field.Path) field.ErrorList {
	errs := s.workload().validate(p)
	for i, c := range s.Containers {
		if c == "" {
			errs = append(errs, field.Required(p.Child("containers").Index(i), "must name a container"))
		}
	}
	if strings.ContainsAny(s.Image, " \t\n") {
		errs = append(errs, field.Invalid(p.Child("image"), s.Image, "must not contain whitespace"))
	}
	if len(s.Command) > 0 && s.Command[0] == "" {
		errs = append(errs, field.Invalid(p.Child("command").Index(0), "", "must name the program"))
	}
	return errs
}

func (s *BadRolloutSpec) workload() workloadFields {
	return workloadFields{Namespace: s.Namespace, Kind: s.Kind, Name: s.Name}
}

func (s *BadRolloutSpec) image() string {
	if s.Image == "" && len(s.Command) == 0 {
		return DefaultBadImage
	}
	return s.Image
}

// rolloutState is what badRollout journals before changing the template.
type rolloutState struct {
	RunID            string          `json:"runID"`
	Kind             string          `json:"kind"`
	Namespace        string          `json:"namespace"`
	Name             string          `json:"name"`
	UID              types.UID       `json:"uid"`
	OriginalRevision string          `json:"originalRevision"`
	OriginalTemplate json.RawMessage `json:"originalTemplate"`
	Containers       []string        `json:"containers"`
	BadImage         string          `json:"badImage,omitempty"`
	BadCommand       []string        `json:"badCommand,omitempty"`
}

func (s rolloutState) ref() kube.WorkloadRef {
	return kube.WorkloadRef{Kind: s.Kind, Namespace: s.Namespace, Name: s.Name}
}

func badRolloutDefinition() injectors.Definition {
	return injectors.Definition{
		Key:     "badRollout",
		Summary: "Roll out a pod template that never becomes ready (unpullable image or failing command); the original template is restored unless the platform already rolled back.",
		NewSpec: func() any { return &BadRolloutSpec{} },
		New: func(spec any, env *injectors.Env) (injectors.Injector, error) {
			s, ok := spec.(*BadRolloutSpec)
			if !ok {
				return nil, fmt.Errorf("badRollout: unexpected spec type %T", spec)
			}
			return &BadRollout{spec: *s, env: env}, nil
		},
		Recover: recoverRollout,
	}
}

// BadRollout replaces a workload's pod template with a broken one.
type BadRollout struct {
	spec BadRolloutSpec
	env  *injectors.Env
	mu   sync.Mutex
}

var _ injectors.Injector = (*BadRollout)(nil)

// Plan checks namespace, permissions, that the containers exist and that no other
// run holds the workload.
func (b *BadRollout) Plan(ctx context.Context) (injectors.Plan, error) {
	_, _, plan, err := b.plan(ctx)
	return plan, err
}

func (b *BadRollout) plan(ctx context.Context) (*kube.Workload, []string, injectors.Plan, error) {
	ref := b.spec.workload().ref()
	fail := func(err error) (*kube.Workload, []string, injectors.Plan, error) {
		return nil, nil, injectors.Plan{}, fmt.Errorf("badRollout: %w", err)
	}
	if err := checkNamespace(b.env.BlastRadius, ref.Namespace); err != nil {
		return fail(err)
	}
	c, err := client(b.env)
	if err != nil {
		return fail(err)
	}
	if err := kube.CheckAccess(ctx, c.Clientset,
		kube.Permission{Verb: "get", Group: "apps", Resource: ref.Resource(), Namespace: ref.Namespace},
		kube.Permission{Verb: "patch", Group: "apps", Resource: ref.Resource(), Namespace: ref.Namespace}); err != nil {
		return fail(err)
	}
	w, err := kube.GetWorkload(ctx, c.Clientset, ref)
	if apierrors.IsNotFound(err) {
		return fail(fmt.Errorf("%s: %w", ref, injectors.ErrNoTargets))
	}
	if err != nil {
		return fail(fmt.Errorf("reading %s: %w", ref, err))
	}
	if run, held := w.Meta.Annotations[AnnotationRunID]; held {
		return fail(fmt.Errorf("%s is already under a fault of run %s (annotation %s); run `chaos recover` for it first", ref, run, AnnotationRunID))
	}
	var names []string
	for _, ct := range w.Template.Spec.Containers {
		if len(b.spec.Containers) == 0 || slices.Contains(b.spec.Containers, ct.Name) {
			names = append(names, ct.Name)
		}
	}
	for _, want := range b.spec.Containers {
		if !slices.Contains(names, want) {
			return fail(fmt.Errorf("%s has no container %q: %w", ref, want, injectors.ErrNoTargets))
		}
	}
	var change []string
	if img := b.spec.image(); img != "" {
		change = append(change, "image "+img)
	}
	if len(b.spec.Command) > 0 {
		change = append(change, "command "+strings.Join(b.spec.Command, " "))
	}
	return w, names, injectors.Plan{
		Targets: []injectors.Target{{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name,
			Detail: fmt.Sprintf("revision %s, containers %s", w.Revision, strings.Join(names, ", "))}},
		Action: fmt.Sprintf("roll out %s with %s in containers %s", ref, strings.Join(change, " and "), strings.Join(names, ", ")),
		Revert: fmt.Sprintf("restore the pod template of revision %s (saved in annotation %s) unless already rolled back",
			w.Revision, AnnotationOriginalTemplate),
		Matched: int(w.Replicas),
	}, nil
}

// Inject journals the original template, patches in the bad one (guarded by the
// resourceVersion) and proves the rollout started: the controller observed the
// new generation and created at least one pod of the new template.
func (b *BadRollout) Inject(ctx context.Context, j injectors.Journal) (injectors.Injection, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w, names, _, err := b.plan(ctx)
	if err != nil {
		return injectors.Injection{}, err
	}
	c, err := client(b.env)
	if err != nil {
		return injectors.Injection{}, fmt.Errorf("badRollout: %w", err)
	}
	orig, err := json.Marshal(w.Template)
	if err != nil {
		return injectors.Injection{}, fmt.Errorf("badRollout: %w", err)
	}
	st := rolloutState{RunID: b.env.RunID, Kind: w.Ref.Kind, Namespace: w.Ref.Namespace, Name: w.Ref.Name, UID: w.Meta.UID,
		OriginalRevision: w.Revision, OriginalTemplate: orig, Containers: names, BadImage: b.spec.image(), BadCommand: b.spec.Command}
	bad := *w.Template.DeepCopy()
	for i := range bad.Spec.Containers {
		ct := &bad.Spec.Containers[i]
		if slices.Contains(names, ct.Name) {
			if st.BadImage != "" {
				ct.Image = st.BadImage
			}
			if len(st.BadCommand) > 0 {
				ct.Command, ct.Args = st.BadCommand, nil
			}
		}
	}
	if err := j.Record(st); err != nil {
		return injectors.Injection{}, fmt.Errorf("badRollout: journaling: %w", err)
	}
	ann := map[string]string{AnnotationRunID: b.env.RunID, AnnotationOriginalTemplate: string(orig)}
	ops := []map[string]any{{"op": "replace", "path": "/metadata/resourceVersion", "value": w.Meta.ResourceVersion}}
	if w.Meta.Annotations == nil {
		ops = append(ops, map[string]any{"op": "add", "path": "/metadata/annotations", "value": ann})
	} else {
		for k, v := range ann {
			ops = append(ops, map[string]any{"op": "add", "path": "/metadata/annotations/" + escapePointer(k), "value": v})
		}
	}
	ops = append(ops, map[string]any{"op": "replace", "path": "/spec/template", "value": bad})
	patch, _ := json.Marshal(ops)
	start := time.Now()
	revert := func(ctx context.Context) error { return restoreTemplate(ctx, c.Clientset, st, b.env.Logff) }
	if err := kube.PatchWorkload(ctx, c.Clientset, w.Ref, types.JSONPatchType, patch); err != nil {
		// A patch whose answer was lost may still have been applied: undo anyway
		// (restoreTemplate only acts on this run's annotation).
		return injectors.Injection{}, joinUndo(fmt.Errorf("badRollout: patching %s: %w", w.Ref, err), undo(ctx, revert))
	}
	proof, err := proveRollout(ctx, c.Clientset, w.Ref, 60*time.Second)
	if err != nil {
		return injectors.Injection{}, joinUndo(fmt.Errorf("badRollout: %w", err), undo(ctx, revert))
	}
	b.env.Logff("badRollout: %s rolling out %s in %s", w.Ref, st.BadImage, time.Since(start).Round(time.Millisecond))
	return injectors.Injection{Revert: revert, Proof: proof}, nil
}

// proveRollout waits until the controller observed the bad template and at least
// one pod of it exists.
func proveRollout(ctx context.Context, cs kubernetes.Interface, ref kube.WorkloadRef, timeout time.Duration) (string, error) {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		w, err := kube.GetWorkload(ctx, cs, ref)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprintf("revision %s, %d updated pod(s) of the bad template, %d/%d available",
			w.Revision, w.UpdatedReplicas, w.AvailableReplicas, w.Replicas)
		return w.ObservedGeneration >= w.Meta.Generation && w.UpdatedReplicas >= 1, nil
	})
	if err != nil {
		return "", fmt.Errorf("proving the rollout of %s started: %w (last: %s)", ref, err, last)
	}
	return fmt.Sprintf("%s: %s", ref, last), nil
}

// stillBad reports whether the template still carries the bad image/command.
func stillBad(t *corev1.PodTemplateSpec, st rolloutState) bool {
	for _, ct := range t.Spec.Containers {
		if !slices.Contains(st.Containers, ct.Name) {
			continue
		}
		if st.BadImage != "" && ct.Image == st.BadImage {
			return true
		}
		if len(st.BadCommand) > 0 && slices.Equal(ct.Command, st.BadCommand) {
			return true
		}
	}
	return false
}

// restoreTemplate puts the original template back if the bad one is still in
// place, and removes this run's annotations. If something else already replaced
// the bad template (the platform's rollback), it only removes the annotations and
// says so. Deleted or recreated workloads are left alone.
func restoreTemplate(ctx context.Context, cs kubernetes.Interface, st rolloutState, logf func(string, ...any)) error {
	ref := st.ref()
	return retryConflict(ctx, func() error {
		w, err := kube.GetWorkload(ctx, cs, ref)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reverting badRollout of %s: %w", ref, err)
		}
		if w.Meta.UID != st.UID {
			return nil
		}
		ops := []map[string]any{{"op": "replace", "path": "/metadata/resourceVersion", "value": w.Meta.ResourceVersion}}
		for _, k := range []string{AnnotationRunID, AnnotationOriginalTemplate} {
			if _, ok := w.Meta.Annotations[k]; ok {
				ops = append(ops, map[string]any{"op": "remove", "path": "/metadata/annotations/" + escapePointer(k)})
			}
		}
		bad := stillBad(&w.Template, st)
		if bad {
			orig := st.OriginalTemplate
			if len(orig) == 0 {
				orig = json.RawMessage(w.Meta.Annotations[AnnotationOriginalTemplate])
			}
			if len(orig) == 0 {
				return fmt.Errorf("reverting badRollout of %s: the original template is neither journaled nor annotated", ref)
			}
			ops = append(ops, map[string]any{"op": "replace", "path": "/spec/template", "value": orig})
		}
		if len(ops) == 1 {
			if !bad {
				logf("badRollout: %s: template already restored (revision %s); nothing to revert", ref, w.Revision)
			}
			return nil
		}
		patch, _ := json.Marshal(ops)
		if err := kube.PatchWorkload(ctx, cs, ref, types.JSONPatchType, patch); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			if apierrors.IsConflict(err) {
				return err // the resourceVersion moved: retryConflict reads again
			}
			return fmt.Errorf("reverting badRollout of %s: %w", ref, err)
		}
		if bad {
			logf("badRollout: %s: original template (revision %s) restored", ref, st.OriginalRevision)
		} else {
			logf("badRollout: %s: template already restored by someone else (now revision %s); removed the annotations only", ref, w.Revision)
		}
		return nil
	})
}

// recoverRollout is Definition.Recover: restore from the journal after kill -9.
func recoverRollout(ctx context.Context, env *injectors.Env, state json.RawMessage) error {
	var st rolloutState
	if err := json.Unmarshal(state, &st); err != nil {
		return fmt.Errorf("badRollout: reading journal state: %w", err)
	}
	c, err := client(env)
	if err != nil {
		return fmt.Errorf("badRollout: %w", err)
	}
	return restoreTemplate(ctx, c.Clientset, st, env.Logff)
}

// escapePointer escapes a map key for a JSON Pointer (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
