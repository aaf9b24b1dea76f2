package experiments

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/injectors"
	"github.com/faultline-dev/faultline/internal/kube"
	"github.com/faultline-dev/faultline/reports"
	"github.com/faultline-dev/faultline/steadystate"
)

// Options configure one Run.
type Options struct {
	// Registries to build faults, probes and assertions from; zero: DefaultRegistries().
	Registries Registries
	// JournalDir receives the run's journal; "": DefaultJournalDir().
	JournalDir string
	// Progress receives live progress; nil: silent. TTY selects the compact
	// one-line display instead of timestamped lines.
	Progress io.Writer
	TTY      bool
	// Resources are added to every injector's Env.Resources (Go users' own objects).
	Resources map[string]any
	// DryRun stops after the plan: nothing is started, injected or journaled.
	DryRun bool
	// Kubeconfig and KubeContext override spec.target.kubernetes (CLI flags).
	Kubeconfig, KubeContext string
	// Tracker, if set, is kept up to date with the phase and what is being reverted.
	Tracker *Tracker
	// RunID overrides the generated run ID (tests, chaostest).
	RunID string
}

// ErrInvalid wraps errors that make an experiment impossible to start: invalid spec,
// a probe or fault that cannot be built. Nothing was touched. `chaos run` exits 2.
var ErrInvalid = errors.New("invalid experiment")

// Stop causes of a run, kept in the run context's cause.
var (
	errInterrupted = errors.New("interrupted by signal or caller")
	errMaxDuration = errors.New("safety.maxDuration exceeded")
)

type abortError struct{ reason string }

func (e abortError) Error() string { return e.reason }

type injectError struct{ err error }

func (e injectError) Error() string { return e.err.Error() }

// Run carries e through its lifecycle: validate, plan, baseline, inject, observe,
// revert, recover, rollbacks, verdict. It returns an error wrapping ErrInvalid (with
// the validation problems) when e cannot be started; otherwise a Result whose Verdict
// says what happened. Cancelling ctx interrupts the run: every fault is reverted
// (under contexts ctx does not cancel), rollbacks run, and the verdict is "aborted".
func Run(ctx context.Context, e *Experiment, opts Options) (*reports.Result, error) {
	if opts.Registries.Injectors == nil || opts.Registries.Probes == nil {
		reg, err := DefaultRegistries()
		if err != nil {
			return nil, err
		}
		opts.Registries = reg
	}
	e.SetDefaults()
	if err := e.Validate(opts.Registries); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	r, err := newRun(e, opts)
	if err != nil {
		r.closeProbes()
		r.prog.close()
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return r.execute(ctx), nil
}

// ExitCode maps a result to the exit code of `chaos run`: 0 passed (and dry runs),
// 1 failed, 3 aborted, errored or not-steady.
func ExitCode(res *reports.Result) int {
	switch res.Verdict {
	case reports.VerdictPassed, VerdictPlanned:
		return 0
	case reports.VerdictFailed:
		return 1
	default:
		return 3
	}
}

// VerdictPlanned is the verdict of a dry run.
const VerdictPlanned = "planned"

func newRunID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102t150405") + "-" + hex.EncodeToString(b)
}

type run struct {
	e    *Experiment
	opts Options
	id   string
	env  *injectors.Env
	senv *steadystate.Env
	res  *reports.Result
	prog *progress

	probes  []*probeRun
	faults  []*faultRun
	asserts []assertRun

	journal *runJournal
	samples *sampleStore

	mu         sync.Mutex
	phases     []steadystate.Window
	active     []*faultRun // injected and not yet reverted, in injection order
	errs       []string
	cancel     context.CancelCauseFunc // stops the run with a cause
	undoFailed bool                    // a failed Inject could not be undone
}

type assertRun struct {
	key string
	a   steadystate.Assertion
}

func newRun(e *Experiment, opts Options) (*run, error) {
	id := opts.RunID
	if id == "" {
		id = newRunID()
	}
	r := &run{e: e, opts: opts, id: id, samples: newSampleStore()}
	r.prog = newProgress(opts.Progress, opts.TTY, e.Metadata.Name)
	kubeOnce := sync.OnceValues(func() (*kube.Client, error) {
		t := r.kubeTarget()
		if t == nil {
			return nil, errors.New("the experiment has no spec.target.kubernetes")
		}
		return kube.NewClient(*t)
	})
	resources := map[string]any{}
	for k, v := range opts.Resources {
		resources[k] = v
	}
	r.env = &injectors.Env{RunID: id, Experiment: e.Metadata.Name, Logf: r.prog.logf, Kube: kubeOnce,
		BlastRadius: e.Spec.Safety.BlastRadius, Resources: resources}
	r.env.Claims = func() []injectors.Claim { return journalClaims(r.journalDir(), id) }
	r.senv = &steadystate.Env{RunID: id, Logf: r.prog.logf, Kube: kubeOnce}
	reg := opts.Registries
	var errs []error
	for i := range e.Spec.SteadyState.Probes {
		p := &e.Spec.SteadyState.Probes[i]
		def, _ := reg.Probes.Probe(p.Kind)
		pr, err := def.New(p.Spec, r.senv)
		if err != nil {
			errs = append(errs, fmt.Errorf("probe %q: %w", p.Name, err))
			continue
		}
		r.probes = append(r.probes, &probeRun{spec: p, probe: pr})
	}
	for i := range e.Spec.Faults {
		f := &e.Spec.Faults[i]
		def, _ := reg.Injectors.Lookup(f.Kind)
		inj, err := def.New(f.Spec, r.env)
		if err != nil {
			errs = append(errs, fmt.Errorf("fault %q: %w", f.Name, err))
			continue
		}
		r.faults = append(r.faults, &faultRun{spec: f, def: def, inj: inj, rec: reports.Injection{Fault: f.Name, Kind: f.Kind}})
	}
	for i, a := range e.Spec.Verify {
		adef, _ := reg.Probes.Assertion(a.Kind)
		as, err := adef.New(a.Spec, r.senv)
		if err != nil {
			errs = append(errs, fmt.Errorf("verify[%d] %s: %w", i, a.Kind, err))
			continue
		}
		r.asserts = append(r.asserts, assertRun{key: a.Kind, a: as})
	}
	r.res = &reports.Result{RunID: id, Experiment: e.Metadata.Name, Source: e.Source,
		Description: e.Spec.Description, Labels: e.Metadata.Labels, Spec: e.Spec}
	return r, errors.Join(errs...)
}

// execute runs the lifecycle and always returns a finished result.
func (r *run) execute(parent context.Context) *reports.Result {
	r.res.Started = time.Now()
	defer func() { r.res.Ended = time.Now(); r.prog.close() }()
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	r.cancel = cancel
	stopAfter := context.AfterFunc(parent, func() { cancel(errInterrupted) })
	defer stopAfter()
	maxTimer := time.AfterFunc(r.e.Spec.Safety.MaxDuration, func() { cancel(errMaxDuration) })
	defer maxTimer.Stop()

	r.setPhase("plan", 0)
	stop, err := r.startResources(ctx) // a dry run only looks up the api: proxies
	if err != nil {
		return r.finish(reports.VerdictErrored, fmt.Sprintf("starting spec.proxies: %v", err))
	}
	defer stop()
	if reason := r.plan(ctx); reason != "" {
		return r.finish(reports.VerdictErrored, reason)
	}
	if r.opts.DryRun {
		return r.finish(VerdictPlanned, "dry run: nothing was injected")
	}
	j, err := openRunJournal(r.journalDir(), JournalEntry{RunID: r.id, Experiment: r.e.Metadata.Name,
		Source: r.e.Source, PID: os.Getpid(), PIDStart: selfStartTime(), Target: r.kubeTarget()})
	if err != nil {
		return r.finish(reports.VerdictErrored, err.Error())
	}
	r.journal = j

	// Probes sample from the start of the baseline to the end of the recover phase,
	// under a context that an interrupt does not cancel: a probe cut short by Ctrl-C
	// would look like an error of the system.
	sampleCtx, stopSampling := context.WithCancel(context.WithoutCancel(ctx))
	var samplers sync.WaitGroup
	for _, p := range r.probes {
		samplers.Add(1)
		go func() { defer samplers.Done(); r.sample(sampleCtx, p) }()
	}
	stopAbort := r.watchAbort(ctx)

	verdict, reason := r.lifecycle(ctx)

	stopAbort()
	stopSampling()
	samplers.Wait()
	r.closeProbes()
	r.runRollbacks(ctx)
	return r.finish(verdict, reason)
}

// lifecycle runs baseline, faults and recovery; it returns a verdict only when the
// run could not be judged by its checks (aborted, errored, not-steady).
func (r *run) lifecycle(ctx context.Context) (verdict, reason string) {
	ss := r.e.Spec.SteadyState
	r.setPhase("baseline", ss.Baseline)
	sleepCtx(ctx, ss.Baseline)
	r.endPhase()
	if ctx.Err() != nil {
		return r.stopVerdict(ctx)
	}
	if failing := r.baselineFailures(); failing != "" {
		return reports.VerdictNotSteady, "steady state did not hold before injection (" + failing + "); nothing was injected"
	}
	r.runFaults(ctx)
	if ctx.Err() != nil {
		return r.stopVerdict(ctx) // halted: reverted at once, no recovery wait
	}
	r.recoverPhase(ctx)
	if ctx.Err() != nil {
		return r.stopVerdict(ctx)
	}
	return "", ""
}

// stopVerdict turns the cause of a stopped run into its verdict.
func (r *run) stopVerdict(ctx context.Context) (string, string) {
	cause := context.Cause(ctx)
	var ab abortError
	var ie injectError
	switch {
	case errors.As(cause, &ie):
		return reports.VerdictErrored, "a fault could not be injected, so the experiment proves nothing: " + ie.Error()
	case errors.As(cause, &ab):
		return reports.VerdictAborted, "abort condition: " + ab.reason
	case errors.Is(cause, errMaxDuration):
		return reports.VerdictAborted, fmt.Sprintf("safety.maxDuration (%s) exceeded", r.e.Spec.Safety.MaxDuration)
	default:
		return reports.VerdictAborted, "interrupted (signal or cancelled context); every fault was reverted"
	}
}

func (r *run) journalDir() string {
	if r.opts.JournalDir != "" {
		return r.opts.JournalDir
	}
	return DefaultJournalDir()
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (r *run) setPhase(name string, d time.Duration) {
	now := time.Now()
	r.mu.Lock()
	if n := len(r.phases); n > 0 && r.phases[n-1].End.IsZero() {
		r.phases[n-1].End = now
	}
	r.phases = append(r.phases, steadystate.Window{Name: name, Start: now})
	r.mu.Unlock()
	if r.opts.Tracker != nil {
		r.opts.Tracker.setPhase(name)
	}
	r.prog.phase(name, d)
}

func (r *run) endPhase() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.phases); n > 0 && r.phases[n-1].End.IsZero() {
		r.phases[n-1].End = time.Now()
	}
}

func (r *run) addError(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// kubeTarget is the effective Kubernetes target (with CLI overrides), for the journal.
func (r *run) kubeTarget() *kube.Target {
	if r.e.Spec.Target.Kubernetes == nil && r.opts.Kubeconfig == "" && r.opts.KubeContext == "" {
		return nil
	}
	t := kube.Target{}
	if r.e.Spec.Target.Kubernetes != nil {
		t = *r.e.Spec.Target.Kubernetes
	}
	if r.opts.Kubeconfig != "" {
		t.Kubeconfig = r.opts.Kubeconfig
	}
	if r.opts.KubeContext != "" {
		t.Context = r.opts.KubeContext
	}
	return &t
}

// closeProbes releases what probes hold (idle connections).
func (r *run) closeProbes() {
	for _, p := range r.probes {
		if c, ok := p.probe.(io.Closer); ok {
			_ = c.Close()
		}
	}
}
