package chaosmesh

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/genericwebhook"
	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/internal/kube"
)

// Timeouts of one fault.
const (
	// ProofTimeout bounds how long Inject waits for Chaos Mesh to report the fault
	// injected on every chosen pod.
	ProofTimeout = 60 * time.Second
	// DefaultExpiry is Chaos Mesh's duration when the runner gave no schedule.
	DefaultExpiry = 10 * time.Minute
)

// fault is one Chaos Mesh object's worth of fault.
type fault struct {
	key       string    // YAML key, for messages: "chaosMesh", "networkLatency"
	kind      *kindInfo // its Chaos Mesh kind
	spec      any       // pointer to the kind's spec; never modified
	namespace string    // of the object; "" = the selector's first namespace
	what      string    // e.g. "delay 100ms ±10ms", for the plan
	env       *injectors.Env
	sched     injectors.Schedule

	mu      sync.Mutex
	planned *planned
}

var (
	_ injectors.Injector  = (*fault)(nil)
	_ injectors.Scheduled = (*fault)(nil)
)

// planned is the object a Plan built, with the pods it pins.
type planned struct {
	obj  Object
	main []podRef // pods the chaos acts on (selector ".")
	hit  []podRef // every pod of every selector
}

func newFromSpec(s *Spec, env *injectors.Env) (*fault, error) {
	k, ok := lookupKind(s.Kind)
	if !ok {
		return nil, fmt.Errorf("chaosMesh: unknown kind %q", s.Kind)
	}
	if s.Spec == nil {
		return nil, fmt.Errorf("chaosMesh: %s has no spec", s.Kind)
	}
	return &fault{key: "chaosMesh", kind: k, spec: s.Spec, namespace: s.Namespace, what: s.Kind, env: envOrEmpty(env)}, nil
}

// Schedule implements injectors.Scheduled: the fault's duration and the revert
// timeout make Chaos Mesh's own duration (the dead-man's switch).
func (f *fault) Schedule(s injectors.Schedule) { f.sched = s }

// expiry is the duration given to Chaos Mesh.
func (f *fault) expiry() time.Duration {
	if f.sched.Duration <= 0 {
		return DefaultExpiry
	}
	return f.sched.Duration + max(f.sched.RevertTimeout, 0)
}

// Plan checks that Chaos Mesh is installed and the permissions, resolves every
// selector by listing pods, checks the blast radius and pins the chosen pods.
func (f *fault) Plan(ctx context.Context) (injectors.Plan, error) {
	pl, plan, err := f.makePlan(ctx)
	if err != nil {
		return injectors.Plan{}, fmt.Errorf("%s: %w", f.key, err)
	}
	f.mu.Lock()
	f.planned = pl
	f.mu.Unlock()
	return plan, nil
}

func (f *fault) makePlan(ctx context.Context) (*planned, injectors.Plan, error) {
	obj, err := f.kind.newObject(f.spec, "", objectName(f.env.RunID))
	if err != nil {
		return nil, injectors.Plan{}, err
	}
	keys, sels := podSelectors(obj)
	main, ok := sels["."]
	if !ok {
		return nil, injectors.Plan{}, fmt.Errorf("%s selects no pods (action %s)", f.kind.name, actionOf(obj))
	}
	ns := f.namespace
	if ns == "" {
		ns = firstNamespace(&main.Selector)
	}
	obj.SetNamespace(ns)
	genericwebhook.Default(obj) // as Chaos Mesh's webhook would: selector namespaces default to ns
	br := f.env.BlastRadius
	if err := checkNamespace(br, ns); err != nil {
		return nil, injectors.Plan{}, err
	}
	source := map[string]string{}
	for _, key := range keys {
		s := &sels[key].Selector
		for _, n := range namespacesOf(s) {
			if err := checkNamespace(br, n); err != nil {
				return nil, injectors.Plan{}, err
			}
		}
		if emptySelector(s) && !br.AllowAll {
			return nil, injectors.Plan{}, fmt.Errorf("%w: empty selector would select every pod in %s; set blastRadius.allowAll to allow it",
				ErrBlastRadius, strings.Join(s.Namespaces, ", "))
		}
		source[key] = describe(s)
	}
	c, err := client(f.env)
	if err != nil {
		return nil, injectors.Plan{}, err
	}
	if err := checkInstalled(ctx, c, f.kind); err != nil {
		return nil, injectors.Plan{}, err
	}
	perms := chaosPermissions(f.kind, ns)
	for _, key := range keys {
		perms = append(perms, permissions(&sels[key].Selector)...)
	}
	if err := kube.CheckAccess(ctx, c.Clientset, perms...); err != nil {
		return nil, injectors.Plan{}, err
	}
	pl := &planned{obj: obj}
	matchedAll := 0
	seen := map[string]bool{}
	for _, key := range keys {
		sel := sels[key]
		matched, err := resolve(ctx, c, &sel.Selector)
		if err != nil {
			return nil, injectors.Plan{}, err
		}
		if len(matched) == 0 {
			return nil, injectors.Plan{}, fmt.Errorf("pods matching %s (selector %s): %w", source[key], selectorName(key), injectors.ErrNoTargets)
		}
		chosen := choose(matched, sel.Mode, sel.Value)
		if err := checkCount(br, len(chosen), len(matched)); err != nil {
			return nil, injectors.Plan{}, err
		}
		if key == "." {
			pl.main = chosen
		}
		matchedAll += len(matched)
		for _, p := range chosen {
			if !seen[p.key()] {
				seen[p.key()] = true
				pl.hit = append(pl.hit, p)
			}
		}
		pin(sel, chosen)
	}
	if br.MaxPods > 0 && len(pl.hit) > br.MaxPods {
		return nil, injectors.Plan{}, fmt.Errorf("%w: would hit %d pods, more than maxPods %d", ErrBlastRadius, len(pl.hit), br.MaxPods)
	}
	f.label(obj, source)
	plan := injectors.Plan{
		Action: fmt.Sprintf("create %s %s/%s (%s) on %d of %d matching pods (%s); Chaos Mesh duration %s (dead-man's switch)",
			f.kind.name, ns, obj.GetName(), f.whatOf(obj), len(pl.main), matchedAll, source["."], f.expiry()),
		Revert: fmt.Sprintf("delete the %s and wait until Chaos Mesh has recovered every pod (its finalizer %s gone)", f.kind.name, Finalizer),
		// Every pod of every selector is a target; Matched counts their candidates.
		Matched: matchedAll,
	}
	for _, p := range pl.hit {
		plan.Targets = append(plan.Targets, injectors.Target{Kind: "pod", Namespace: p.Namespace, Name: p.Name,
			Detail: fmt.Sprintf("uid %s, node %s", p.UID, p.Node)})
	}
	return pl, plan, nil
}

// label tags obj with the run, and sets Chaos Mesh's duration when the user did not.
func (f *fault) label(obj Object, source map[string]string) {
	obj.SetLabels(map[string]string{LabelRunID: f.env.RunID, LabelManagedBy: ManagedBy})
	ann := map[string]string{AnnotationFault: f.key, AnnotationSource: source["."]}
	if f.env.Experiment != "" {
		ann["faultline.dev/experiment"] = f.env.Experiment
	}
	obj.SetAnnotations(ann)
	if d := durationOf(obj); d != nil && *d == nil {
		s := f.expiry().String()
		*d = &s
	}
}

func (f *fault) whatOf(obj Object) string {
	if f.what != "" && f.what != f.kind.name {
		return f.what
	}
	if a := actionOf(obj); a != "" {
		return "action " + a
	}
	return f.kind.name
}

// actionOf returns spec.action of obj, when the kind has one.
func actionOf(obj Object) string {
	if s, ok := specOf(obj).(interface{ GetAction() string }); ok {
		return s.GetAction()
	}
	switch o := obj.(type) {
	case *v1alpha1.PodChaos:
		return string(o.Spec.Action)
	case *v1alpha1.NetworkChaos:
		return string(o.Spec.Action)
	case *v1alpha1.DNSChaos:
		return string(o.Spec.Action)
	case *v1alpha1.IOChaos:
		return string(o.Spec.Action)
	case *v1alpha1.JVMChaos:
		return string(o.Spec.Action)
	}
	return ""
}

func firstNamespace(s *v1alpha1.PodSelectorSpec) string {
	if ns := namespacesOf(s); len(ns) > 0 {
		return ns[0]
	}
	return "default"
}

// namespacesOf lists the namespaces a selector reaches (its pods' when it names pods).
func namespacesOf(s *v1alpha1.PodSelectorSpec) []string {
	if len(s.Pods) > 0 {
		var out []string
		for ns := range s.Pods {
			out = append(out, ns)
		}
		return sortStrings(out)
	}
	return s.Namespaces
}

func selectorName(key string) string {
	if key == "." {
		return "spec.selector"
	}
	return "spec." + strings.ToLower(strings.TrimPrefix(key, "."))
}

var nameSafe = regexp.MustCompile(`[^a-z0-9-]+`)

// objectName is "faultline-<run>-<random>", a valid object name.
func objectName(runID string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	run := strings.Trim(nameSafe.ReplaceAllString(strings.ToLower(runID), "-"), "-")
	if len(run) > 40 {
		run = run[len(run)-40:]
	}
	if run == "" {
		return "faultline-" + hex.EncodeToString(b)
	}
	return "faultline-" + run + "-" + hex.EncodeToString(b)
}

// envOrEmpty gives injectors built without a runner (Go users, tests) a run ID.
func envOrEmpty(env *injectors.Env) *injectors.Env {
	if env == nil {
		return &injectors.Env{RunID: fmt.Sprintf("adhoc-%d", time.Now().UnixNano())}
	}
	return env
}
