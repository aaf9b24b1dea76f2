package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/faultline-dev/faultline/internal/kube"
)

// Get reads one ExperimentRun.
func Get(ctx context.Context, c *kube.Client, ns, name string) (*ExperimentRun, error) {
	u, err := c.Dynamic.Resource(Resource).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("cluster: reading ExperimentRun %s/%s: %w", ns, name, err)
	}
	return fromUnstructured(u)
}

// List returns the ExperimentRuns in ns (of one experiment when experiment != ""),
// oldest first.
func List(ctx context.Context, c *kube.Client, ns, experiment string) ([]ExperimentRun, error) {
	lo := metav1.ListOptions{}
	if experiment != "" {
		lo.LabelSelector = LabelExperiment + "=" + labelValue(experiment)
	}
	ul, err := c.Dynamic.Resource(Resource).Namespace(ns).List(ctx, lo)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%w (listing experimentruns in %s: %v)", ErrNotInstalled, ns, err)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: listing ExperimentRuns in %s: %w", ns, err)
	}
	runs := make([]ExperimentRun, 0, len(ul.Items))
	for i := range ul.Items {
		o, err := fromUnstructured(&ul.Items[i])
		if err != nil {
			return nil, err
		}
		if experiment == "" || o.Spec.Experiment == experiment {
			runs = append(runs, *o)
		}
	}
	sort.SliceStable(runs, func(i, j int) bool { return started(runs[i]).Before(started(runs[j])) })
	return runs, nil
}

func started(r ExperimentRun) time.Time {
	if r.Status.StartTime != nil {
		return r.Status.StartTime.Time
	}
	return r.CreationTimestamp.Time
}

// Prune deletes the oldest finished runs of experiment beyond opts.HistoryLimit. Runs
// still Running (alive or waiting for recovery) are never pruned.
func Prune(ctx context.Context, c *kube.Client, opts Options, experiment string) error {
	opts = opts.withDefaults()
	runs, err := List(ctx, c, opts.Namespace, experiment)
	if err != nil {
		return err
	}
	var done []ExperimentRun
	for _, r := range runs {
		if r.Status.Phase != PhaseRunning {
			done = append(done, r)
		}
	}
	var errs []error
	for i := 0; i < len(done)-opts.HistoryLimit; i++ {
		err := c.Dynamic.Resource(Resource).Namespace(opts.Namespace).Delete(ctx, done[i].Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("cluster: pruning %s: %w", done[i].Name, err))
		}
	}
	return errors.Join(errs...)
}

// Dead returns the runs in ns whose runner died and may have left faults active:
// Running with an expired (or missing) Lease, or Finished with a revert that failed
// (their Lease is kept, no longer renewed) once it expired.
func Dead(ctx context.Context, c *kube.Client, ns string, now time.Time) ([]ExperimentRun, error) {
	runs, err := List(ctx, c, ns, "")
	if err != nil {
		return nil, err
	}
	var dead []ExperimentRun
	for _, r := range runs {
		switch r.Status.Phase {
		case PhaseRunning:
		case PhaseFinished:
			if r.Spec.Lease == "" {
				continue
			}
			if _, err := c.Clientset.CoordinationV1().Leases(ns).Get(ctx, r.Spec.Lease, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				continue // released: everything was reverted
			} else if err != nil {
				return nil, fmt.Errorf("cluster: reading lease %s/%s: %w", ns, r.Spec.Lease, err)
			}
		default:
			continue
		}
		alive, err := runAlive(ctx, c, r, now)
		if err != nil {
			return nil, err
		}
		if !alive {
			dead = append(dead, r)
		}
	}
	return dead, nil
}

// Alive returns the runs in ns that are Running with a live Lease.
func Alive(ctx context.Context, c *kube.Client, ns string, now time.Time) ([]ExperimentRun, error) {
	runs, err := List(ctx, c, ns, "")
	if err != nil {
		return nil, err
	}
	var alive []ExperimentRun
	for _, r := range runs {
		if r.Status.Phase != PhaseRunning {
			continue
		}
		ok, err := runAlive(ctx, c, r, now)
		if err != nil {
			return nil, err
		}
		if ok {
			alive = append(alive, r)
		}
	}
	return alive, nil
}

// leaseGrace: a Running run without a Lease is young (its runner creates the Lease
// right after the ExperimentRun) rather than dead until it is this old.
const leaseGrace = 30 * time.Second

// runAlive: r's Lease is current, or r was created too recently to have one.
func runAlive(ctx context.Context, c *kube.Client, r ExperimentRun, now time.Time) (bool, error) {
	if r.Spec.Lease == "" {
		return false, nil
	}
	l, err := c.Clientset.CoordinationV1().Leases(r.Namespace).Get(ctx, r.Spec.Lease, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return now.Sub(r.CreationTimestamp.Time) < leaseGrace, nil
	}
	if err != nil {
		return false, fmt.Errorf("cluster: reading lease %s/%s: %w", r.Namespace, r.Spec.Lease, err)
	}
	return LeaseAlive(l, now), nil
}

// LeaseAlive: the Lease was renewed less than its duration before now.
func LeaseAlive(l *coordinationv1.Lease, now time.Time) bool {
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return false
	}
	return now.Before(l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second))
}

// MarkRecovered appends lines to a dead run's journal and, when nothing is left
// active, sets its phase Recovered with reason and deletes its Lease.
func MarkRecovered(ctx context.Context, c *kube.Client, run *ExperimentRun, lines [][]byte, done bool, reason string) error {
	o := run.DeepCopy()
	for _, l := range lines {
		o.Status.Journal = append(o.Status.Journal, string(l))
	}
	if done {
		o.Status.Phase = PhaseRecovered
		o.Status.Step = "recovered"
		if o.Status.Verdict == "" {
			o.Status.Verdict = "errored"
			o.Status.Reason = reason
		} else {
			o.Status.Reason += "; " + reason
		}
		now := metav1.Now()
		o.Status.EndTime = &now
		if o.Status.StartTime != nil {
			o.Status.Duration = roundDuration(now.Sub(o.Status.StartTime.Time)).String()
		}
	}
	got, err := writeRun(ctx, c, o, false)
	if err != nil {
		return err
	}
	*run = *got
	if done && run.Spec.Lease != "" {
		err := c.Clientset.CoordinationV1().Leases(run.Namespace).Delete(ctx, run.Spec.Lease, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("cluster: deleting lease of %s: %w", run.Name, err)
		}
	}
	return nil
}
