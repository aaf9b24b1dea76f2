package chaosmesh

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/internal/kube"
)

var metav1GetOptions = metav1.GetOptions{}

// State is what a Chaos Mesh fault journals before creating its object.
type State struct {
	Engine    string   `json:"engine"` // always "chaos-mesh": tells Recover the state is ours
	RunID     string   `json:"runID"`
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Pods      []podRef `json:"pods,omitempty"`
}

// EngineName marks a State.
const EngineName = "chaos-mesh"

// Inject journals the object, creates it and proves from Chaos Mesh's status that
// every chosen pod is injected (pod-kill: that their UIDs are gone). A record whose
// injection failed ends it with Chaos Mesh's message; the object is then deleted.
func (f *fault) Inject(ctx context.Context, j injectors.Journal) (injectors.Injection, error) {
	f.mu.Lock()
	pl := f.planned
	f.mu.Unlock()
	if pl == nil {
		if _, err := f.Plan(ctx); err != nil {
			return injectors.Injection{}, err
		}
		f.mu.Lock()
		pl = f.planned
		f.mu.Unlock()
	}
	c, err := client(f.env)
	if err != nil {
		return injectors.Injection{}, fmt.Errorf("%s: %w", f.key, err)
	}
	st := State{Engine: EngineName, RunID: f.env.RunID, Kind: f.kind.name, Namespace: pl.obj.GetNamespace(), Name: pl.obj.GetName(), Pods: pl.main}
	if err := j.Record(st); err != nil {
		return injectors.Injection{}, fmt.Errorf("%s: journaling: %w", f.key, err)
	}
	u, err := toUnstructured(pl.obj)
	if err != nil {
		return injectors.Injection{}, fmt.Errorf("%s: %w", f.key, err)
	}
	start := time.Now()
	if _, err := c.Dynamic.Resource(f.kind.gvr()).Namespace(st.Namespace).Create(ctx, u, metav1.CreateOptions{}); err != nil {
		return injectors.Injection{}, fmt.Errorf("%s: creating %s %s/%s: %w", f.key, st.Kind, st.Namespace, st.Name, err)
	}
	f.env.Logff("%s: created %s %s/%s", f.key, st.Kind, st.Namespace, st.Name)
	proof, err := f.prove(ctx, c, pl, st)
	if err != nil {
		// Undo: ask for the deletion and give Chaos Mesh a moment; the runner's
		// revert (Recover on the journaled state) waits for it, bounded by revertTimeout.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if uerr := deleteAndWait(uctx, c, st); uerr != nil && !errors.Is(uerr, errStuck) {
			err = errors.Join(err, uerr)
		}
		return injectors.Injection{}, fmt.Errorf("%s: %w", f.key, err)
	}
	f.env.Logff("%s: %s", f.key, proof)
	return injectors.Injection{
		Revert: func(ctx context.Context) error { return deleteAndWait(ctx, c, st) },
		Proof:  fmt.Sprintf("%s after %s", proof, time.Since(start).Round(time.Millisecond)),
	}, nil
}

// prove polls the object's status until every chosen pod has an injected record
// and AllInjected is true, a record reports a failed injection, or ProofTimeout.
func (f *fault) prove(ctx context.Context, c *kube.Client, pl *planned, st State) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, ProofTimeout)
	defer cancel()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	var last string
	for {
		obj, err := get(ctx, c, f.kind, st.Namespace, st.Name)
		switch {
		case apierrors.IsNotFound(err):
			return "", fmt.Errorf("%s %s/%s vanished before Chaos Mesh reported it injected", st.Kind, st.Namespace, st.Name)
		case err == nil:
			done, summary, ferr := injected(obj.GetStatus(), pl.main)
			if ferr != nil {
				return "", fmt.Errorf("%s %s/%s: %w", st.Kind, st.Namespace, st.Name, ferr)
			}
			last = summary
			if done {
				return f.proveOneShot(ctx, c, obj, pl.main, summary)
			}
		case ctx.Err() == nil:
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			if last == "" {
				last = "no status yet"
			}
			return "", fmt.Errorf("Chaos Mesh did not report %s %s/%s injected within %s (%s); is Chaos Mesh's controller running (kubectl get pods -n chaos-mesh)? %w",
				st.Kind, st.Namespace, st.Name, ProofTimeout, last, ctx.Err())
		case <-t.C:
		}
	}
}

// ErrInjectFailed is wrapped when Chaos Mesh reports that it could not inject a pod.
var ErrInjectFailed = errors.New("Chaos Mesh could not inject the fault")

// injected reads a status: done when AllInjected is true and every chosen pod has
// a record in phase Injected; an error when a record's Apply failed.
func injected(s *v1alpha1.ChaosStatus, pods []podRef) (bool, string, error) {
	recs := map[string]*v1alpha1.Record{}
	injectedN := 0
	for _, r := range s.Experiment.Records {
		if r == nil {
			continue
		}
		for _, ev := range r.Events {
			if ev.Type == v1alpha1.TypeFailed && ev.Operation == v1alpha1.Apply {
				return false, "", fmt.Errorf("%w on %s: %s", ErrInjectFailed, r.Id, ev.Message)
			}
		}
		parts := strings.SplitN(r.Id, "/", 3)
		if len(parts) >= 2 {
			recs[parts[0]+"/"+parts[1]] = r
		}
		if r.Phase == v1alpha1.Injected {
			injectedN++
		}
	}
	var conds []string
	all := false
	for _, cnd := range s.Conditions {
		conds = append(conds, fmt.Sprintf("%s=%s", cnd.Type, cnd.Status))
		if cnd.Type == v1alpha1.ConditionAllInjected && cnd.Status == corev1.ConditionTrue {
			all = true
		}
	}
	summary := fmt.Sprintf("conditions %s; %d of %d records injected", strings.Join(conds, ", "), injectedN, len(s.Experiment.Records))
	if !all {
		return false, summary, nil
	}
	for _, p := range pods {
		r, ok := recs[p.key()]
		if !ok || r.Phase != v1alpha1.Injected {
			return false, summary, nil
		}
	}
	return true, summary, nil
}

// proveOneShot also waits, for pod-kill, until the chosen pods' UIDs are gone.
func (f *fault) proveOneShot(ctx context.Context, c *kube.Client, obj Object, pods []podRef, summary string) (string, error) {
	pc, ok := obj.(*v1alpha1.PodChaos)
	if !ok || pc.Spec.Action != v1alpha1.PodKillAction {
		return "Chaos Mesh status: " + summary + " (" + podNames(pods, 5) + ")", nil
	}
	want := map[types.UID]podRef{}
	nss := map[string]bool{}
	for _, p := range pods {
		want[p.UID] = p
		nss[p.Namespace] = true
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		var left []podRef
		for ns := range nss {
			list, err := c.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				left = append(left, podRef{Namespace: ns, Name: "(list failed: " + err.Error() + ")"})
				continue
			}
			for i := range list.Items {
				if p, ok := want[list.Items[i].UID]; ok {
					left = append(left, p)
				}
			}
		}
		if len(left) == 0 {
			return fmt.Sprintf("Chaos Mesh status: %s; %d pod UIDs gone (%s)", summary, len(pods), podNames(pods, 5)), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("Chaos Mesh reported pod-kill injected but %d pods still exist (%s): %w", len(left), podNames(left, 5), ctx.Err())
		case <-t.C:
		}
	}
}
