package experiments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/experiments/cluster"
	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/internal/kube"
	"github.com/faultline-dev/faultline/reports"
)

// Result modes of ClusterOptions.Results.
const (
	ResultsAuto    = "auto"    // record in the cluster when the target serves ExperimentRuns
	ResultsCluster = "cluster" // record in the cluster; a run that cannot is errored
	ResultsLocal   = "local"   // never touch the cluster for results, journal or halt
)

// ClusterOptions say how a run with a Kubernetes target keeps its state in that
// cluster: its ExperimentRun (results and journal), its Lease, the halt switch.
type ClusterOptions struct {
	// Results is ResultsAuto (""), ResultsCluster or ResultsLocal.
	Results string
	cluster.Options
}

func (r *run) clusterEnabled() bool {
	return r.opts.Cluster.Results != ResultsLocal && r.kubeTarget() != nil
}

// clusterObserver records a run in its target cluster (package cluster): before
// anything is touched it refuses to start while halted and reverts what dead runs
// left; then it mirrors phases and journal lines, watches the halt switch, and
// records the verdict.
type clusterObserver struct {
	r         *run
	rec       *cluster.Recorder
	stopWatch context.CancelFunc
	watching  sync.WaitGroup
}

var _ Observer = (*clusterObserver)(nil)

func (o *clusterObserver) Start(ctx context.Context, info RunInfo, stop func(string)) error {
	mode := o.r.opts.Cluster.Results
	c, err := o.r.env.Kube()
	if err == nil {
		var ok bool
		ok, err = cluster.Installed(c)
		if err == nil && !ok {
			err = cluster.ErrNotInstalled
		}
	}
	if err != nil {
		if mode == ResultsCluster {
			return fmt.Errorf("--results cluster: %w", err)
		}
		return nil // auto: results stay local
	}
	opts := o.r.opts.Cluster.Options
	opts.Namespace = cluster.ResolveNamespace(opts.Namespace)
	if err := cluster.CheckAccess(ctx, c, opts.Namespace); err != nil {
		return fmt.Errorf("recording the run in the cluster (--results local to keep it off the cluster): %w", err)
	}
	rec, err := cluster.Start(ctx, c, cluster.RunInfo{Experiment: info.Experiment, RunID: info.RunID, Source: info.Source, Started: info.Started}, opts)
	if err != nil {
		return fmt.Errorf("recording the run in the cluster (--results local to keep it off the cluster): %w", err)
	}
	o.rec = rec
	o.r.prog.event("recorded as experimentrun %s/%s", rec.Namespace(), rec.Name())
	if o.r.windowReason() != "" {
		return nil // skipped: recorded, nothing else touched
	}
	h, err := cluster.GetHalt(ctx, c, opts.Namespace)
	if err != nil {
		return err
	}
	if h.Halted {
		return fmt.Errorf("%w: the halt switch %s/%s is on since %s (%s); `chaos resume` turns it off",
			ErrHalted, opts.Namespace, cluster.HaltName, h.Since.Format(time.RFC3339), h.Reason)
	}
	actions, err := RecoverCluster(ctx, c, o.r.opts.Registries, ClusterRecoverOptions{Namespace: opts.Namespace, Timeout: o.r.e.Spec.Safety.RevertTimeout})
	for _, a := range actions {
		o.r.prog.event("dead run %s (%s) fault %s: %s", a.RunID, a.Experiment, a.Fault, a.Action)
	}
	if err != nil {
		return fmt.Errorf("reverting what a dead run left: %w", err)
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	o.stopWatch = cancel
	o.watching.Add(1)
	go func() {
		defer o.watching.Done()
		cluster.WatchHalt(wctx, c, opts.Namespace, func(h cluster.Halt) {
			o.r.prog.event("halt switch on (%s): reverting every fault", h.Reason)
			stop("halted by `chaos halt`: " + h.Reason)
		})
	}()
	return nil
}

func (o *clusterObserver) Phase(ctx context.Context, name string) {
	if o.rec != nil {
		o.rec.Step(ctx, name)
	}
}

func (o *clusterObserver) Journal(ctx context.Context, e JournalEntry) error {
	if o.rec == nil {
		return nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return o.rec.Journal(ctx, b)
}

func (o *clusterObserver) Finish(ctx context.Context, res *reports.Result) {
	if o.stopWatch != nil {
		o.stopWatch()
		o.watching.Wait()
	}
	if o.rec == nil {
		return
	}
	cr := cluster.Result{Verdict: res.Verdict, Reason: res.Reason, Ended: res.Ended, Errors: res.Errors,
		Notifications: res.Notifications, ReportPath: o.r.opts.ReportPath,
		Reverted: o.r.journal == nil || !o.r.revertFailures()}
	if s, ok := reports.Score(res); ok {
		cr.Score = &s
	}
	for _, c := range res.Checks {
		cr.Checks = append(cr.Checks, cluster.Check{Name: c.Name, Kind: c.Kind, Status: c.Status, Expected: c.Expected, Measured: c.Measured, Reason: c.Reason})
	}
	cr.Report, _ = json.Marshal(res)
	summary := *res
	summary.Probes = nil
	for _, p := range res.Probes {
		p.Observations = nil
		summary.Probes = append(summary.Probes, p)
	}
	cr.Summary, _ = json.Marshal(summary)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := o.rec.Finish(ctx, cr); err != nil {
		res.Errors = append(res.Errors, "recording the result in the cluster: "+err.Error())
	}
}

// ClusterRecoverOptions tune RecoverCluster.
type ClusterRecoverOptions struct {
	Namespace string
	// RunID limits recovery to one run.
	RunID string
	// Timeout bounds each fault's recovery (default 30s).
	Timeout time.Duration
}

// RecoverCluster reverts every fault that runs recorded in the cluster left active
// when their runner died (their Lease expired): the cluster's copy of `chaos recover`,
// which needs no local journal. Each fault is undone by its kind's Recover from the
// state journaled in the ExperimentRun, last in first out; the run is then marked
// Recovered and its Lease deleted. Safe to run twice.
func RecoverCluster(ctx context.Context, c *kube.Client, reg Registries, opts ClusterRecoverOptions) ([]RecoverAction, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	ns := cluster.ResolveNamespace(opts.Namespace)
	dead, err := cluster.Dead(ctx, c, ns, time.Now())
	if err != nil {
		return nil, err
	}
	var actions []RecoverAction
	var errs []error
	for i := range dead {
		er := &dead[i]
		if opts.RunID != "" && er.Spec.RunID != opts.RunID {
			continue
		}
		run := journaledFromLines(er.Status.Journal)
		run.RunID, run.Experiment = er.Spec.RunID, er.Spec.Experiment
		env := &injectors.Env{RunID: run.RunID, Experiment: run.Experiment, Logf: func(string, ...any) {},
			Kube: func() (*kube.Client, error) { return c, nil }, Resources: map[string]any{}}
		base := RecoverAction{RunID: run.RunID, Experiment: run.Experiment}
		var lines [][]byte
		left := 0
		for k := len(run.Pending) - 1; k >= 0; k-- {
			p := run.Pending[k]
			a := base
			a.Fault, a.Kind = p.Fault, p.Kind
			e := JournalEntry{Event: "recovered", Fault: p.Fault, Time: time.Now().UTC()}
			switch err := recoverOne(ctx, reg, env, p, opts.Timeout); {
			case err != nil:
				a.Action, a.Error = "failed", err.Error()
				errs = append(errs, fmt.Errorf("run %s fault %q: %w", run.RunID, p.Fault, err))
				left++
				e = JournalEntry{Event: "revert-failed", Fault: p.Fault, Error: "recover: " + err.Error(), Time: time.Now().UTC()}
			case p.State == nil:
				a.Action = "nothing to revert: the injector had not changed anything yet"
			default:
				a.Action = "reverted"
			}
			b, _ := json.Marshal(e)
			lines = append(lines, b)
			actions = append(actions, a)
		}
		if len(run.Pending) == 0 {
			a := base
			a.Action = "nothing to revert: the run left no active fault"
			actions = append(actions, a)
		}
		host, _ := os.Hostname()
		reason := fmt.Sprintf("the runner was lost (its Lease %s expired) during %s; what it left was reverted from its journal in the cluster by %s pid %d",
			er.Spec.Lease, er.Status.Step, host, os.Getpid())
		if err := cluster.MarkRecovered(ctx, c, er, lines, left == 0, reason); err != nil {
			errs = append(errs, err)
		}
	}
	return actions, errors.Join(errs...)
}

// journaledFromLines reads a journal kept as JSON lines in an ExperimentRun.
func journaledFromLines(lines []string) JournaledRun {
	var run JournaledRun
	pending := map[string]*PendingFault{}
	var order []string
	for _, l := range lines {
		var e JournalEntry
		if json.Unmarshal([]byte(l), &e) != nil {
			continue
		}
		switch e.Event {
		case "run":
			run.RunID, run.Experiment, run.Target = e.RunID, e.Experiment, e.Target
		case "inject":
			if _, ok := pending[e.Fault]; !ok {
				order = append(order, e.Fault)
			}
			pending[e.Fault] = &PendingFault{Fault: e.Fault, Kind: e.Kind}
		case "state":
			if p, ok := pending[e.Fault]; ok {
				p.State = e.State
			}
		case "revert-failed":
			if p, ok := pending[e.Fault]; ok {
				p.Error = e.Error
			}
		case "reverted", "recovered":
			delete(pending, e.Fault)
		case "end":
			run.Ended = true
		}
	}
	for _, name := range order {
		if p, ok := pending[name]; ok {
			run.Pending = append(run.Pending, *p)
		}
	}
	return run
}
