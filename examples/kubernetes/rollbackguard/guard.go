// Package rollbackguard is an example of a platform's automated rollback, the thing
// Faultline's `rollback` assertion verifies: it watches Deployments and, when a rollout
// stops progressing, rolls the Deployment back to its previous revision exactly as
// `kubectl rollout undo` does. Argo Rollouts, Flagger or a delivery pipeline's health
// gate play this part in a real cluster; this one is small enough to read in a minute.
//
//	poll Deployments ──▶ rollout stuck? ──no──▶ forget it
//	                          │yes: Progressing=False/ProgressDeadlineExceeded,
//	                          │     or updated pods not all available for UnreadyFor
//	                          ▼
//	      template of the ReplicaSet with the highest revision below the current one
//	      (minus its pod-template-hash label) patched back into the Deployment
//
// After a rollback the guard leaves that Deployment alone until it has seen it fully
// rolled out and available again: it never rolls back its own rollback (while the
// previous revision comes back, the old ProgressDeadlineExceeded condition and the
// unready pods are still there to be seen).
package rollbackguard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// revisionAnnotation is where the Deployment controller numbers revisions.
const revisionAnnotation = "deployment.kubernetes.io/revision"

// Guard watches the Deployments of one namespace.
type Guard struct {
	Client    kubernetes.Interface
	Namespace string
	// Selector is a label selector on the Deployments' own labels (not their pods')
	// restricting the Deployments watched ("" = all).
	Selector string
	// UnreadyFor rolls back a rollout whose updated pods have not all been available
	// for this long; 0 waits for the Deployment's own progressDeadlineSeconds only.
	UnreadyFor time.Duration
	// Poll is how often the Deployments are read (default 250ms).
	Poll time.Duration
	// Logf receives one line per decision (default: discarded).
	Logf func(format string, args ...any)
}

// Rollback is what the guard did to one Deployment.
type Rollback struct {
	Namespace, Name string
	From, To        int    // revisions
	Reason          string // why the rollout was judged stuck
	At              time.Time
}

// Run watches until ctx ends and returns ctx's error, or the first error it could
// not recover from. Each rollback is also sent to done when it is not nil (never
// blocking: a full channel drops the notification, not the rollback).
func (g *Guard) Run(ctx context.Context, done chan<- Rollback) error {
	poll := g.Poll
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	logf := g.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	stuckSince := map[string]time.Time{} // by name, for UnreadyFor
	rolledBack := map[string]bool{}      // waiting for the rollback to complete, by name
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		list, err := g.Client.AppsV1().Deployments(g.Namespace).List(ctx, metav1.ListOptions{LabelSelector: g.Selector})
		if err != nil && ctx.Err() == nil {
			logf("listing deployments in %s: %v (retrying)", g.Namespace, err)
		}
		if list != nil {
			for i := range list.Items {
				d := &list.Items[i]
				if rolledBack[d.Name] {
					if complete(d) {
						delete(rolledBack, d.Name)
						logf("deployment %s/%s is available again on revision %s", d.Namespace, d.Name, d.Annotations[revisionAnnotation])
					}
					continue
				}
				reason := g.stuck(d, stuckSince, time.Now())
				if reason == "" {
					continue
				}
				rb, err := Undo(ctx, g.Client, d)
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					logf("deployment %s/%s is stuck (%s) but cannot be rolled back: %v", d.Namespace, d.Name, reason, err)
					rolledBack[d.Name] = true // do not retry the same rollout forever
					continue
				}
				rb.Reason = reason
				rolledBack[d.Name] = true
				delete(stuckSince, d.Name)
				logf("deployment %s/%s: rollout of revision %d is stuck (%s): rolled back to revision %d's template",
					rb.Namespace, rb.Name, rb.From, reason, rb.To)
				if done != nil {
					select {
					case done <- rb:
					default:
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// complete reports whether d's current template is fully rolled out and available.
func complete(d *appsv1.Deployment) bool {
	want := replicas(d)
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.AvailableReplicas == want && s.Replicas == want
}

func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// stuck says why d's rollout counts as stuck at now, or "" when it does not.
func (g *Guard) stuck(d *appsv1.Deployment, since map[string]time.Time, now time.Time) string {
	if d.Status.ObservedGeneration < d.Generation {
		return "" // the controller has not looked at the latest change yet
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == "False" && c.Reason == "ProgressDeadlineExceeded" {
			return "progress deadline exceeded: " + c.Message
		}
	}
	if g.UnreadyFor <= 0 {
		return ""
	}
	want := replicas(d)
	if complete(d) || want == 0 {
		delete(since, d.Name)
		return ""
	}
	first, ok := since[d.Name]
	if !ok {
		since[d.Name] = now
		return ""
	}
	if now.Sub(first) < g.UnreadyFor {
		return ""
	}
	return fmt.Sprintf("updated pods not all available for %s (%d/%d updated, %d available)",
		g.UnreadyFor, d.Status.UpdatedReplicas, want, d.Status.AvailableReplicas)
}

// ErrNoPreviousRevision means there is nothing to roll back to.
var ErrNoPreviousRevision = errors.New("rollbackguard: no previous revision")

// Undo does what `kubectl rollout undo` does: it finds the ReplicaSet of d with the
// highest revision below d's current one and patches its pod template (without the
// pod-template-hash label the controller adds) into d. The patch is guarded by d's
// resourceVersion, so a Deployment changed in the meantime is not overwritten.
func Undo(ctx context.Context, cs kubernetes.Interface, d *appsv1.Deployment) (Rollback, error) {
	rb := Rollback{Namespace: d.Namespace, Name: d.Name, At: time.Now()}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return rb, fmt.Errorf("selector of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	rss, err := cs.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return rb, fmt.Errorf("listing replicasets of %s/%s: %w", d.Namespace, d.Name, err)
	}
	rb.From, _ = strconv.Atoi(d.Annotations[revisionAnnotation])
	var prev *appsv1.ReplicaSet
	for i := range rss.Items {
		rs := &rss.Items[i]
		rev, _ := strconv.Atoi(rs.Annotations[revisionAnnotation])
		if metav1.IsControlledBy(rs, d) && rev < rb.From && rev > rb.To {
			prev, rb.To = rs, rev
		}
	}
	if prev == nil {
		return rb, fmt.Errorf("%w of deployment %s/%s (current revision %d)", ErrNoPreviousRevision, d.Namespace, d.Name, rb.From)
	}
	tmpl := prev.Spec.Template.DeepCopy()
	delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	patch, err := json.Marshal([]map[string]any{
		{"op": "test", "path": "/metadata/resourceVersion", "value": d.ResourceVersion},
		{"op": "replace", "path": "/spec/template", "value": tmpl},
	})
	if err != nil {
		return rb, err
	}
	if _, err := cs.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		return rb, fmt.Errorf("rolling back deployment %s/%s to revision %d: %w", d.Namespace, d.Name, rb.To, err)
	}
	return rb, nil
}
