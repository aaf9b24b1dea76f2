package chaosmesh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/internal/kube"
)

// ErrUnreachable is wrapped by Sweep when the cluster could not be asked at all.
var ErrUnreachable = errors.New("asking the cluster for Chaos Mesh")

// errStuck is wrapped when a deleted object is still there when the time is up.
var errStuck = errors.New("deletion stuck")

// ErrStuck is wrapped by revert errors whose object is still present (held by
// Chaos Mesh's finalizer) when the revert timeout ran out.
var ErrStuck = errStuck

// deleteAndWait deletes the object and waits until it is gone; "already gone" is
// success. When ctx ends first it says which object is stuck, why, and what to do.
func deleteAndWait(ctx context.Context, c *kube.Client, st State) error {
	k, ok := lookupKind(st.Kind)
	if !ok {
		return fmt.Errorf("unknown Chaos Mesh kind %q in the journal", st.Kind)
	}
	start := time.Now()
	res := c.Dynamic.Resource(k.gvr()).Namespace(st.Namespace)
	bg := metav1.DeletePropagationBackground
	err := res.Delete(ctx, st.Name, metav1.DeleteOptions{PropagationPolicy: &bg})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("deleting %s %s/%s: %w", st.Kind, st.Namespace, st.Name, err)
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		_, err := res.Get(ctx, st.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			// Read it once more, outside the expired context, to say why.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			obj, gerr := get(rctx, c, k, st.Namespace, st.Name)
			if apierrors.IsNotFound(gerr) {
				return nil
			}
			return stuckError(st, obj, time.Since(start))
		case <-t.C:
		}
	}
}

// stuckError explains a deletion that did not finish: the object, the finalizer,
// the pods Chaos Mesh has not recovered and what the user can do.
func stuckError(st State, obj Object, after time.Duration) error {
	res := strings.ToLower(st.Kind)
	why := "Chaos Mesh has not removed it"
	if obj != nil {
		fin := obj.GetFinalizers()
		if slices.Contains(fin, Finalizer) {
			why = fmt.Sprintf("Chaos Mesh keeps its finalizer %s until every pod is recovered", Finalizer)
		} else if len(fin) > 0 {
			why = "finalizers " + strings.Join(fin, ", ") + " hold it"
		}
		var notRecovered []string
		for _, r := range obj.GetStatus().Experiment.Records {
			if r == nil || r.Phase == v1alpha1.NotInjected {
				continue
			}
			msg := string(r.Phase)
			for _, ev := range r.Events {
				if ev.Type == v1alpha1.TypeFailed {
					msg = ev.Message
				}
			}
			notRecovered = append(notRecovered, r.Id+": "+msg)
		}
		if len(notRecovered) > 0 {
			why += " (not recovered: " + strings.Join(notRecovered, "; ") + ")"
		}
	}
	return fmt.Errorf("%w: %s %s/%s is still there %s after its deletion: %s. "+
		"Find out why: kubectl describe %s -n %s %s. "+
		"Once the pods are recovered or gone, remove the finalizer: "+
		"kubectl patch %s -n %s %s --type=merge -p '{\"metadata\":{\"finalizers\":null}}'; then run: chaos recover",
		errStuck, st.Kind, st.Namespace, st.Name, after.Round(100*time.Millisecond), why,
		res, st.Namespace, st.Name, res, st.Namespace, st.Name)
}

// IsState reports whether a journaled state was written by this engine.
func IsState(state json.RawMessage) bool {
	var s struct {
		Engine string `json:"engine"`
	}
	return json.Unmarshal(state, &s) == nil && s.Engine == EngineName
}

// Recover deletes the object a dead run journaled and waits until it is gone
// (Definition.Recover of chaosMesh and of the pods-targeted network faults).
func Recover(ctx context.Context, env *injectors.Env, state json.RawMessage) error {
	var st State
	if err := json.Unmarshal(state, &st); err != nil {
		return fmt.Errorf("reading the journaled Chaos Mesh state: %w", err)
	}
	if st.Name == "" || st.Namespace == "" {
		return fmt.Errorf("journaled Chaos Mesh state names no object: %s", state)
	}
	c, err := client(env)
	if err != nil {
		return err
	}
	return deleteAndWait(ctx, c, st)
}

// Sweep deletes every Chaos Mesh object of the Kinds that carries the run label
// (only runID's when it is not ""), in every namespace, and waits until they are
// gone. skip, when not nil, keeps objects of runs it returns true for (live runs).
// It returns what it removed. A cluster without Chaos Mesh has nothing to sweep.
func Sweep(ctx context.Context, c *kube.Client, runID string, skip func(runID string) bool) ([]string, error) {
	if _, err := c.Clientset.Discovery().ServerResourcesForGroupVersion(v1alpha1.SchemeGroupVersion.String()); apierrors.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	sel := LabelRunID
	if runID != "" {
		sel = LabelRunID + "=" + runID
	}
	var removed []string
	var errs []error
	for _, name := range Kinds {
		k := kinds[name]
		list, err := c.Dynamic.Resource(k.gvr()).Namespace("").List(ctx, metav1.ListOptions{LabelSelector: sel})
		if apierrors.IsNotFound(err) {
			continue // this kind's CRD is not installed
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("listing %s: %w", k.resource, err))
			continue
		}
		for _, it := range list.Items {
			run := it.GetLabels()[LabelRunID]
			if skip != nil && skip(run) {
				continue
			}
			st := State{Engine: EngineName, RunID: run, Kind: name, Namespace: it.GetNamespace(), Name: it.GetName()}
			if err := deleteAndWait(ctx, c, st); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, fmt.Sprintf("%s %s/%s (run %s)", name, st.Namespace, st.Name, run))
		}
	}
	return removed, errors.Join(errs...)
}
